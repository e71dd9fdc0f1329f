"""Every column documented in Postgres, and the promotion_performance table.

Revision ID: 0002
Revises: 0004
Create Date: 2026-12-01 10:40:00.000000

Writes `COMMENT ON COLUMN` for every column of the tables 0001 and 0004 created (their
tables already carry comments) and creates `promotion_performance`, the table the
promotion_performance asset computes from the synced ones.

The comments are a literal copy of `warehouse/tables.py` as it was at this revision, not
read from it at migration time. An Alembic revision is a snapshot: it must do the same
thing on a fresh database next year as today. Read from the live tables.py, 0002 would
fail once a later revision renames or drops a column (it would comment on a column that
does not exist at 0002, or miss one that does), and a comment edited later would rewrite
what 0002 did without a revision saying so. tables.py stays the one place a comment is
written: a changed comment there fails the schema test (the migrated database against
tables.py, comments included) until a new revision writes it.
"""

# ruff: noqa: E501  (a snapshot of comment texts, kept one per line as tables.py has them)

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "capillary"

COLUMN_COMMENTS: dict[str, dict[str, str]] = {
    "api_events": {
        "id": "Event number.",
        "occurred_at": "When the API answered with this code.",
        "endpoint": "The endpoint called (lookup, promotionData, actionSummary, ...).",
        "http_status": "HTTP status of the answer; null for a warning in a successful one.",
        "code": "Capillary warning or error code (8015, 8116, ...); null when none.",
        "kind": "warning or error.",
        "message": "Message the API gave with the code.",
        "org_id": "Capillary organisation (brand) id; with program_id it names the partition.",
        "program_id": "Program the call was about; null for org-level calls.",
        "customer_id": "Customer the call was about, when known.",
        "promotion_id": "Promotion the call was about, when any.",
        "partition_key": "ORG-PROGRAM partition the event belongs to; null when org-level.",
        "synced_at": "When this row's values last changed (a re-sync with equal values keeps it).",
        "run_id": "Id of the Dagster run that last wrote this row.",
    },
    "api_rate_limits": {
        "api_key_hash": "SHA-256 of the API base URL and user or OAuth key (no secret).",
        "tat": "Theoretical arrival time: the next free request slot (GCRA).",
    },
    "benefit_alternate_currencies": {
        "org_id": "Capillary organisation (brand) id; with program_id it names the partition.",
        "program_id": "Unique ID of the loyalty program.",
        "customer_id": "Unique ID of the customer.",
        "promotion_id": "Unique ID of the loyalty promotion.",
        "currency_name": "Name of the alternate currency, for example STARS or COINS.",
        "currency_type": "v2 alternateCurrencyType (REGULAR, PROMISED, EXTERNAL_TRIGGER_BASED); 'ALL' for v3.",
        "total_issued": "Total alternate currency units issued for this promotion.",
        "number_of_times_issued": "Number of issuance events for this currency.",
        "last_issued_on": "When this benefit was last issued (lastIssuedOn), as a UTC timestamp.",
        "raw": "The API object as served, so fields not mapped to columns are kept.",
        "synced_at": "When this row's values last changed (a re-sync with equal values keeps it).",
        "run_id": "Id of the Dagster run that last wrote this row.",
    },
    "benefit_incentives": {
        "org_id": "Capillary organisation (brand) id; with program_id it names the partition.",
        "program_id": "Unique ID of the loyalty program.",
        "customer_id": "Unique ID of the customer.",
        "promotion_id": "Unique ID of the loyalty promotion.",
        "action": "Type of incentive: REWARD, COUPONS, BADGES, ENROL, OPTIN, UPGRADE_TIER (v2: REWARD, BADGES).",
        "action_id": "Id of the benefit issued: reward, badge, coupon series or issual.",
        "activity_id": "Promotion activity that triggered the incentive; '' when none.",
        "action_issued_count": "Number of times this incentive was issued for the promotion.",
        "last_issued_on": "When this benefit was last issued (lastIssuedOn), as a UTC timestamp.",
        "raw": "The API object as served, so fields not mapped to columns are kept.",
        "synced_at": "When this row's values last changed (a re-sync with equal values keeps it).",
        "run_id": "Id of the Dagster run that last wrote this row.",
    },
    "benefit_points": {
        "org_id": "Capillary organisation (brand) id; with program_id it names the partition.",
        "program_id": "Unique ID of the loyalty program.",
        "customer_id": "Unique ID of the customer.",
        "promotion_id": "Unique ID of the loyalty promotion.",
        "points_category": "Category of the points issued (REGULAR_POINTS, BONUS_POINTS, PROMISED_POINTS, ...).",
        "total_points_issued": "Total points issued across all events for this category.",
        "number_of_times_issued": "Number of events that contributed points in this category.",
        "last_issued_on": "When this benefit was last issued (lastIssuedOn), as a UTC timestamp.",
        "raw": "The API object as served, so fields not mapped to columns are kept.",
        "synced_at": "When this row's values last changed (a re-sync with equal values keeps it).",
        "run_id": "Id of the Dagster run that last wrote this row.",
    },
    "benefit_summaries": {
        "org_id": "Capillary organisation (brand) id; with program_id it names the partition.",
        "program_id": "Unique ID of the loyalty program.",
        "customer_id": "Unique ID of the customer.",
        "promotion_id": "Unique ID of the loyalty promotion.",
        "api_version": "actionSummary flavour that answered: v3 (by customer id) or v2.",
        "promotion_identifier": "External identifier of the loyalty promotion.",
        "warning_code": "First warning code of the answer; 8116 means no benefits earned.",
        "warning_message": "Message of that first warning.",
        "no_benefits": "True when the answer carried warning 8116: no benefits recorded.",
        "raw": "The API object as served, so fields not mapped to columns are kept.",
        "synced_at": "When this row's values last changed (a re-sync with equal values keeps it).",
        "run_id": "Id of the Dagster run that last wrote this row.",
    },
    "customer_promotions": {
        "org_id": "Capillary organisation (brand) id; with program_id it names the partition.",
        "program_id": "Loyalty program id (programId).",
        "customer_id": "Capillary customer id (the customer's `id`, entityId in v3).",
        "promotion_id": "Unique identifier of the promotion issued to the customer.",
        "current_points_per_customer": "The current points accrued by the customer.",
        "current_number_of_times_per_customer": "The number of activities through which the customer has received the points.",
        "current_total_points_in_promotion": "The points received by all customers within the promotion duration.",
        "issual_restrictions": "Issual restrictions: kpi, maxLimit, currentCustomerUsage.",
        "earn_restrictions": "Earn restrictions: kpi, maxLimit, currentCustomerUsage, limitOn.",
        "redemption_restrictions": "Redemption restrictions: kpi, maxLimit, usage, type.",
        "raw": "The API object as served, so fields not mapped to columns are kept.",
        "synced_at": "When this row's values last changed (a re-sync with equal values keeps it).",
        "run_id": "Id of the Dagster run that last wrote this row.",
    },
    "customer_roster": {
        "org_id": "Capillary organisation (brand) id; with program_id it names the partition.",
        "source": "Source the identifier is registered on (INSTORE, MARTJACK, ...).",
        "identifier_name": "Identifier type: mobile, email, externalId, cardnumber or id.",
        "identifier_value": "Value of the identifier, as imported.",
        "account_id": "Account id for sources with several accounts; empty for INSTORE.",
        "customer_id": "Customer id the lookup found for this identifier; null until found.",
        "lookup_status": "Outcome of the last lookup: found, not_found (8015) or rejected.",
        "looked_up_at": "When the identifier was last looked up.",
        "synced_at": "When this row's values last changed (a re-sync with equal values keeps it).",
        "run_id": "Id of the Dagster run that last wrote this row.",
    },
    "customers": {
        "org_id": "Capillary organisation (brand) id; with program_id it names the partition.",
        "customer_id": "Unique identifier for the customer (id).",
        "first_name": "First name of the customer's profile.",
        "last_name": "Last name of the customer's profile.",
        "source": "Source of the profile (INSTORE, MARTJACK, WECHAT, ...).",
        "account_id": "Account id of the profile's source, for sources with several accounts.",
        "mobile": "The profile's mobile identifier.",
        "email": "The profile's email identifier.",
        "external_id": "The profile's externalId identifier.",
        "card_number": "The profile's card number identifier.",
        "created_date": "Customer creation date and time (profile attribution createDate).",
        "modified_date": "Customer modification date and time (attribution modifiedDate).",
        "loyalty_type": "Type of loyalty program (loyaltyInfo.loyaltyType).",
        "lifetime_purchases": "Total lifetime purchases made by the customer.",
        "loyalty_create_date": "When the customer joined loyalty (attributionV2 createDate).",
        "associated_with": "Identifier of the entity associated with the customer.",
        "extended_fields": "Additional fields associated with the customer (extendedFields).",
        "raw": "The API object as served, so fields not mapped to columns are kept.",
        "synced_at": "When this row's values last changed (a re-sync with equal values keeps it).",
        "run_id": "Id of the Dagster run that last wrote this row.",
    },
    "loyalty_program_details": {
        "org_id": "Capillary organisation (brand) id; with program_id it names the partition.",
        "program_id": "Unique identifier for the loyalty program.",
        "customer_id": "Capillary customer id (the customer's `id`, entityId in v3).",
        "loyalty_id": "The customer's id in the loyalty program; -1 when not enrolled.",
        "current_slab": "Current tier or slab in the loyalty program.",
        "current_slab_description": "Description of the current tier or slab.",
        "slab_sno": "Serial number of the current tier or slab.",
        "slab_expiry_date": "Expiry date and time of the current tier or slab.",
        "next_slab": "Next tier or slab in the loyalty program; empty at the top tier.",
        "next_slab_serial_number": "Serial number of the next tier or slab; -1 at the top.",
        "next_slab_description": "Description of the next tier or slab.",
        "redeemed": "Total points redeemed by the customer.",
        "expired": "Total points expired for the customer.",
        "returned": "Total points returned (e.g. due to refunds).",
        "adjusted": "Total points adjusted (manually or system-corrected).",
        "lifetime_points": "Total points earned in the program over the customer's lifetime.",
        "loyalty_points": "Current available points in the program.",
        "cumulative_purchases": "Cumulative purchases made by the customer.",
        "delayed_points": "Points pending to be credited (delayed points).",
        "delayed_returned_points": "Points pending to be debited (delayed returns).",
        "delayed_expired_points": "Expired points that are delayed for the customer.",
        "total_available_points": "Sum of available points (loyaltyPoints + delayedPoints).",
        "total_returned_points": "Sum of returned points (returned + delayedReturnedPoints).",
        "program_title": "Title of the loyalty program.",
        "program_description": "Description of the loyalty program.",
        "program_points_to_currency_ratio": "Ratio of loyalty points to currency.",
        "raw": "The API object as served, so fields not mapped to columns are kept.",
        "synced_at": "When this row's values last changed (a re-sync with equal values keeps it).",
        "run_id": "Id of the Dagster run that last wrote this row.",
    },
    "promotions": {
        "org_id": "Capillary organisation (brand) id; with program_id it names the partition.",
        "program_id": "Loyalty program the promotion belongs to.",
        "promotion_id": "Unique identifier of the promotion.",
        "promotion_name": "Name of the promotion.",
        "identifier": "Universally unique identifier of the promotion (promoIdentifier).",
        "description": "Description of the promotion.",
        "start_date": "Start date of the promotion.",
        "end_date": "End date of the promotion.",
        "active": "Whether the promotion is active (promotionData).",
        "event_name": "Event triggering the promotion.",
        "points_offer_type": "Type of promotion: GENERIC, LOYALTY or LOYALTY_EARNING.",
        "max_points_per_event": "Maximum number of points offered per event (limits).",
        "points_per_customer": "Maximum points a customer can earn (limits).",
        "number_of_times_per_customer": "Maximum number of activities per customer that can allocate points (limits).",
        "total_points_in_promotion": "Maximum points permitted across customers within the promotion duration (limits).",
        "promotion_metadata": "Metadata of the promotion: key, value, brandDefined entries.",
        "status": "Catalogue status of the promotion (/v3/promotions metadata.status).",
        "created_on": "When the promotion was created (/v3/promotions metadata.createdOn).",
        "last_modified_on": "When the promotion was last modified (metadata.lastModifiedOn).",
        "raw": "The API object as served, so fields not mapped to columns are kept.",
        "synced_at": "When this row's values last changed (a re-sync with equal values keeps it).",
        "run_id": "Id of the Dagster run that last wrote this row.",
    },
    "sync_checkpoints": {
        "id": "Checkpoint id.",
        "pass_name": "The pass: customers, promotions or benefits.",
        "org_id": "Capillary organisation (brand) id; with program_id it names the partition.",
        "programs": "The org's programs the pass covers, comma-separated.",
        "status": "new, running, success (the pass completed) or failed.",
        "run_id": "Id of the Dagster run working on the pass, last.",
        "started_at": "When the pass started, in the run that first worked on it.",
        "updated_at": "When a chunk last committed (a running pass older than this is stale).",
        "cursor": "Sort key of the last item a committed chunk finished: a rerun resumes after it.",
        "failed": "Items set aside after every retry failed: the next run takes them first.",
        "served": "Rows served so far per table and partition, across the runs of the pass.",
        "items_done": "Items the pass has finished.",
    },
    "sync_pending_deletes": {
        "checkpoint_id": "The sync_checkpoints row of the pass that found the row gone.",
        "table_name": "Table the row is in.",
        "row_key": "The row's primary key, {column: value}.",
    },
    "sync_runs": {
        "run_id": "Id of the Dagster run that synced the partition.",
        "partition_key": "ORG-PROGRAM partition synced.",
        "org_id": "Capillary organisation (brand) id; with program_id it names the partition.",
        "program_id": "Loyalty program id (programId).",
        "started_at": "When the run started syncing the partition.",
        "finished_at": "When the run finished it (success or failure); null while running.",
        "status": "running, success or failed.",
        "rows": "Rows written per table, with inserted, updated and deleted counts.",
        "api_calls": "API calls the run made for this partition's org.",
        "retries": "Retried calls among them.",
        "warnings": "Warning and error codes met, with counts.",
        "error": "Why the sync failed; null on success.",
        "synced_at": "When this row was last written.",
        "passes": "The passes this sync means to make, each expected or done.",
    },
    "tier_history": {
        "org_id": "Capillary organisation (brand) id; with program_id it names the partition.",
        "program_id": "Loyalty program id (programId).",
        "customer_id": "Capillary customer id (the customer's `id`, entityId in v3).",
        "valid_from": "When the sync that first saw this tier ran.",
        "slab_sno": "Serial number of the tier seen.",
        "current_slab": "Name of the tier seen.",
        "slab_expiry_date": "Expiry date of the tier seen.",
        "previous_slab_sno": "Serial number of the tier before; null for the first one seen.",
        "previous_slab": "Name of the tier before.",
        "previous_slab_expiry_date": "Expiry date the tier before had.",
        "synced_at": "When this row's values last changed (a re-sync with equal values keeps it).",
        "run_id": "Id of the Dagster run that last wrote this row.",
    },
}


def _literal(text: str | None) -> str:
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def _comment_columns(restore: bool) -> None:
    quote = op.get_bind().dialect.identifier_preparer.quote
    for table, columns in COLUMN_COMMENTS.items():
        for column, text in columns.items():
            op.execute(
                f"COMMENT ON COLUMN {SCHEMA}.{quote(table)}.{quote(column)} IS "
                f"{_literal(None if restore else text)}"
            )


def upgrade() -> None:
    _comment_columns(restore=False)
    op.create_table(
        "promotion_performance",
        sa.Column(
            "org_id",
            sa.BigInteger(),
            nullable=False,
            comment="Capillary organisation (brand) id; with program_id it names the partition.",
        ),
        sa.Column(
            "program_id", sa.BigInteger(), nullable=False, comment="Loyalty program id (programId)."
        ),
        sa.Column(
            "promotion_id",
            sa.BigInteger(),
            nullable=False,
            comment="Loyalty promotion id (promotionId).",
        ),
        sa.Column("promotion_name", sa.Text(), nullable=True, comment="Name of the promotion."),
        sa.Column("status", sa.Text(), nullable=True, comment="Catalogue status of the promotion."),
        sa.Column(
            "active",
            sa.Boolean(),
            nullable=True,
            comment="Whether promotionData says the promotion is active.",
        ),
        sa.Column(
            "start_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Start date of the promotion.",
        ),
        sa.Column(
            "end_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="End date of the promotion.",
        ),
        sa.Column(
            "holders",
            sa.BigInteger(),
            nullable=True,
            comment="Customers holding the promotion (customer_promotions rows).",
        ),
        sa.Column(
            "enrolled_holders",
            sa.BigInteger(),
            nullable=True,
            comment="Holders enrolled in the program (loyalty_id not -1).",
        ),
        sa.Column(
            "summaries_fetched",
            sa.BigInteger(),
            nullable=True,
            comment="actionSummary answers stored (benefit_summaries rows).",
        ),
        sa.Column(
            "no_benefits_summaries",
            sa.BigInteger(),
            nullable=True,
            comment="Of those, answers with warning 8116 (no benefits earned).",
        ),
        sa.Column(
            "no_benefits_share",
            sa.Float(),
            nullable=True,
            comment="no_benefits_summaries / summaries_fetched; null when none were fetched.",
        ),
        sa.Column(
            "customers_benefited",
            sa.BigInteger(),
            nullable=True,
            comment="Customers with any points, currency or incentive issued.",
        ),
        sa.Column(
            "points_issued",
            sa.Numeric(),
            nullable=True,
            comment="Points issued by the promotion, all categories together.",
        ),
        sa.Column(
            "points_by_category",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="Points issued by category, {category: total}.",
        ),
        sa.Column(
            "currencies_issued",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="Alternate currency issued, {currency name: total}.",
        ),
        sa.Column(
            "incentives_issued",
            sa.BigInteger(),
            nullable=True,
            comment="Incentives issued (sum of action_issued_count), all actions.",
        ),
        sa.Column(
            "incentives_by_action",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="Incentives issued by action, {action: count}.",
        ),
        sa.Column(
            "first_benefit_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Earliest last-issue time among its benefits (actionSummary gives no first-issue time, so the first benefit came at or before it).",
        ),
        sa.Column(
            "last_benefit_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Latest time any benefit of the promotion was issued.",
        ),
        sa.Column(
            "synced_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When this row's values last changed (a re-sync with equal values keeps it).",
        ),
        sa.Column(
            "run_id",
            sa.Text(),
            nullable=False,
            comment="Id of the Dagster run that last wrote this row.",
        ),
        sa.PrimaryKeyConstraint("org_id", "program_id", "promotion_id"),
        schema=SCHEMA,
        comment="Per promotion: holders, 8116 share and benefits issued, computed from the synced tables by the promotion_performance asset.",
    )


def downgrade() -> None:
    op.drop_table("promotion_performance", schema=SCHEMA)
    _comment_columns(restore=True)
