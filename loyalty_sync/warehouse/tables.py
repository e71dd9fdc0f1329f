"""The warehouse tables (schema `capillary`): the one place their columns are declared.

Columns are snake_case forms of the Capillary field names. Every table carries `org_id`,
program-level tables `program_id`, and every row `synced_at` (when its values last
changed) and `run_id` (the Dagster run that wrote it). `raw` keeps the API object as
served, so a field Capillary adds tomorrow is stored before anyone maps it.

Every table and column carries its meaning as `comment=`: the field descriptions of the
reference pages for API fields, our own words for our columns. It is the one place they
are written: the assets' column schemas read them (`defs/metadata.column_schema`) and the
migrations write them to Postgres as `COMMENT ON`, so `psql \\d+` and BI tools show the
same text as the Dagster UI.

Clocks: each timestamp column holds one clock, named in its comment.
- The warehouse's clock, Postgres `now()` (the writing transaction's start): `synced_at`
  everywhere, `sync_runs.finished_at`, the checkpoints' `started_at` and `updated_at`,
  `sync_item_state.checked_at`, `api_rate_limits.tat` (`clock_timestamp()`).
- The local clock of the host that ran the sync: `sync_runs.started_at`,
  `tier_history.valid_from` (both the run scope's start), `sync_source.adopted_at`.
- Capillary's clock, its `Date` header as the client believes it (within minutes of the
  local clock, else the local clock stands in): `sync_item_state.fetched_at` and
  `api_events.occurred_at`.
- Timestamps that are API fields (`created_date`, `slab_expiry_date`, ...) are
  Capillary's data, stored as served.

Migrations (`warehouse/migrations`) create these tables; a test checks that the migrated
database and this module agree, comments included.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "capillary"

metadata = sa.MetaData(schema=SCHEMA)

TIMESTAMPTZ = sa.DateTime(timezone=True)

# Words shared by many tables' columns.
ORG = "Capillary organisation (brand) id; with program_id it names the partition."
PROGRAM = "Loyalty program id (programId)."
CUSTOMER = "Capillary customer id (the customer's `id`, entityId in v3)."
PROMOTION = "Loyalty promotion id (promotionId)."
LAST_ISSUED = "When this benefit was last issued (lastIssuedOn), as a UTC timestamp."
RAW = "The API object as served, so fields not mapped to columns are kept."
SYNCED_AT = (
    "When this row's values last changed (a re-sync with equal values keeps it); warehouse clock."
)
RUN_ID = "Id of the Dagster run that last wrote this row."


def _id(name: str, doc: str, **kwargs: object) -> sa.Column:
    return sa.Column(name, sa.BigInteger, comment=doc, **kwargs)  # type: ignore[arg-type]


def _key(name: str, doc: str, type_: sa.types.TypeEngine = sa.BigInteger) -> sa.Column:
    return sa.Column(name, type_, primary_key=True, nullable=False, comment=doc)


def _amount(name: str, doc: str) -> sa.Column:
    return sa.Column(name, sa.Numeric, comment=doc)


def _time(name: str, doc: str) -> sa.Column:
    return sa.Column(name, TIMESTAMPTZ, comment=doc)


def _text(name: str, doc: str) -> sa.Column:
    return sa.Column(name, sa.Text, comment=doc)


def _int(name: str, doc: str) -> sa.Column:
    return sa.Column(name, sa.Integer, comment=doc)


def _json(name: str, doc: str) -> sa.Column:
    return sa.Column(name, JSONB, comment=doc)


def _written() -> list[sa.Column]:
    """Columns the writer fills: when the row's values last changed and which run wrote them."""
    return [
        sa.Column("synced_at", TIMESTAMPTZ, nullable=False, comment=SYNCED_AT),
        sa.Column("run_id", sa.Text, nullable=False, comment=RUN_ID),
    ]


def _raw() -> sa.Column:
    return sa.Column(
        "raw", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"), comment=RAW
    )


customer_roster = sa.Table(
    "customer_roster",
    metadata,
    _key("org_id", ORG),
    _key("source", "Source the identifier is registered on (INSTORE, MARTJACK, ...).", sa.Text),
    _key(
        "identifier_name", "Identifier type: mobile, email, externalId, cardnumber or id.", sa.Text
    ),
    _key("identifier_value", "Value of the identifier, as imported.", sa.Text),
    _text("account_id", "Account id for sources with several accounts; empty for INSTORE."),
    _id("customer_id", "Customer id the lookup found for this identifier; null until found."),
    _text("lookup_status", "Outcome of the last lookup: found, not_found (8015) or rejected."),
    _time("looked_up_at", "When the identifier was last looked up."),
    *_written(),
    comment="Customer identifiers to sync, imported from CSV; customer_id is filled by lookup.",
)

customers = sa.Table(
    "customers",
    metadata,
    _key("org_id", ORG),
    _key("customer_id", "Unique identifier for the customer (id)."),
    _text("first_name", "First name of the customer's profile."),
    _text("last_name", "Last name of the customer's profile."),
    _text("source", "Source of the profile (INSTORE, MARTJACK, WECHAT, ...)."),
    _text("account_id", "Account id of the profile's source, for sources with several accounts."),
    _text("mobile", "The profile's mobile identifier."),
    _text("email", "The profile's email identifier."),
    _text("external_id", "The profile's externalId identifier."),
    _text("card_number", "The profile's card number identifier."),
    _time("created_date", "Customer creation date and time (profile attribution createDate)."),
    _time("modified_date", "Customer modification date and time (attribution modifiedDate)."),
    _text("loyalty_type", "Type of loyalty program (loyaltyInfo.loyaltyType)."),
    _amount("lifetime_purchases", "Total lifetime purchases made by the customer."),
    _time("loyalty_create_date", "When the customer joined loyalty (attributionV2 createDate)."),
    _text("associated_with", "Identifier of the entity associated with the customer."),
    _json("extended_fields", "Additional fields associated with the customer (extendedFields)."),
    _raw(),
    *_written(),
    comment="Customer profiles from /v2/customers/lookup/customerDetails.",
)

loyalty_program_details = sa.Table(
    "loyalty_program_details",
    metadata,
    _key("org_id", ORG),
    _key("program_id", "Unique identifier for the loyalty program."),
    _key("customer_id", CUSTOMER),
    _id("loyalty_id", "The customer's id in the loyalty program; -1 when not enrolled."),
    _text("current_slab", "Current tier or slab in the loyalty program."),
    _text("current_slab_description", "Description of the current tier or slab."),
    _int("slab_sno", "Serial number of the current tier or slab."),
    _time("slab_expiry_date", "Expiry date and time of the current tier or slab."),
    _text("next_slab", "Next tier or slab in the loyalty program; empty at the top tier."),
    _int("next_slab_serial_number", "Serial number of the next tier or slab; -1 at the top."),
    _text("next_slab_description", "Description of the next tier or slab."),
    _amount("redeemed", "Total points redeemed by the customer."),
    _amount("expired", "Total points expired for the customer."),
    _amount("returned", "Total points returned (e.g. due to refunds)."),
    _amount("adjusted", "Total points adjusted (manually or system-corrected)."),
    _amount("lifetime_points", "Total points earned in the program over the customer's lifetime."),
    _amount("loyalty_points", "Current available points in the program."),
    _amount("cumulative_purchases", "Cumulative purchases made by the customer."),
    _amount("delayed_points", "Points pending to be credited (delayed points)."),
    _amount("delayed_returned_points", "Points pending to be debited (delayed returns)."),
    _amount("delayed_expired_points", "Expired points that are delayed for the customer."),
    _amount("total_available_points", "Sum of available points (loyaltyPoints + delayedPoints)."),
    _amount("total_returned_points", "Sum of returned points (returned + delayedReturnedPoints)."),
    _text("program_title", "Title of the loyalty program."),
    _text("program_description", "Description of the loyalty program."),
    _amount("program_points_to_currency_ratio", "Ratio of loyalty points to currency."),
    _raw(),
    *_written(),
    comment="Per-program points and tier of each customer (loyaltyProgramDetails).",
)

promotions = sa.Table(
    "promotions",
    metadata,
    _key("org_id", ORG),
    _key("program_id", "Loyalty program the promotion belongs to."),
    _key("promotion_id", "Unique identifier of the promotion."),
    _text("promotion_name", "Name of the promotion."),
    _text("identifier", "Universally unique identifier of the promotion (promoIdentifier)."),
    _text("description", "Description of the promotion."),
    _time("start_date", "Start date of the promotion."),
    _time("end_date", "End date of the promotion."),
    sa.Column("active", sa.Boolean, comment="Whether the promotion is active (promotionData)."),
    _text("event_name", "Event triggering the promotion."),
    _text("points_offer_type", "Type of promotion: GENERIC, LOYALTY or LOYALTY_EARNING."),
    _amount("max_points_per_event", "Maximum number of points offered per event (limits)."),
    _amount("points_per_customer", "Maximum points a customer can earn (limits)."),
    _amount(
        "number_of_times_per_customer",
        "Maximum number of activities per customer that can allocate points (limits).",
    ),
    _amount(
        "total_points_in_promotion",
        "Maximum points permitted across customers within the promotion duration (limits).",
    ),
    _json("promotion_metadata", "Metadata of the promotion: key, value, brandDefined entries."),
    _text("status", "Catalogue status of the promotion (/v3/promotions metadata.status)."),
    _time("created_on", "When the promotion was created (/v3/promotions metadata.createdOn)."),
    _time("last_modified_on", "When the promotion was last modified (metadata.lastModifiedOn)."),
    _raw(),
    *_written(),
    comment="Promotions: promotionData, with status and dates from /v3/promotions.",
)

customer_promotions = sa.Table(
    "customer_promotions",
    metadata,
    _key("org_id", ORG),
    _key("program_id", PROGRAM),
    _key("customer_id", CUSTOMER),
    _key("promotion_id", "Unique identifier of the promotion issued to the customer."),
    _amount("current_points_per_customer", "The current points accrued by the customer."),
    _amount(
        "current_number_of_times_per_customer",
        "The number of activities through which the customer has received the points.",
    ),
    _amount(
        "current_total_points_in_promotion",
        "The points received by all customers within the promotion duration.",
    ),
    _json("issual_restrictions", "Issual restrictions: kpi, maxLimit, currentCustomerUsage."),
    _json("earn_restrictions", "Earn restrictions: kpi, maxLimit, currentCustomerUsage, limitOn."),
    _json("redemption_restrictions", "Redemption restrictions: kpi, maxLimit, usage, type."),
    _raw(),
    *_written(),
    comment="A customer's usage of and restrictions in a promotion, from promotionData.",
)

_SUMMARY_KEY = {
    "org_id": ORG,
    "program_id": "Unique ID of the loyalty program.",
    "customer_id": "Unique ID of the customer.",
    "promotion_id": "Unique ID of the loyalty promotion.",
}


def _summary_key() -> list[sa.Column]:
    return [_key(name, doc) for name, doc in _SUMMARY_KEY.items()]


benefit_summaries = sa.Table(
    "benefit_summaries",
    metadata,
    *_summary_key(),
    _text("api_version", "actionSummary flavour that answered: v3 (by customer id) or v2."),
    _text("promotion_identifier", "External identifier of the loyalty promotion."),
    _int("warning_code", "First warning code of the answer; 8116 means no benefits earned."),
    _text("warning_message", "Message of that first warning."),
    sa.Column(
        "no_benefits",
        sa.Boolean,
        nullable=False,
        comment="True when the answer carried warning 8116: no benefits recorded.",
    ),
    _raw(),
    *_written(),
    comment="One actionSummary per customer and promotion; warning_code 8116 when no benefit.",
)

benefit_points = sa.Table(
    "benefit_points",
    metadata,
    *_summary_key(),
    _key(
        "points_category",
        "Category of the points issued (REGULAR_POINTS, BONUS_POINTS, PROMISED_POINTS, ...).",
        sa.Text,
    ),
    _amount("total_points_issued", "Total points issued across all events for this category."),
    _id("number_of_times_issued", "Number of events that contributed points in this category."),
    _time("last_issued_on", LAST_ISSUED),
    _raw(),
    *_written(),
    comment="Points issued by a promotion to a customer, by category (actionSummary points).",
)

benefit_alternate_currencies = sa.Table(
    "benefit_alternate_currencies",
    metadata,
    *_summary_key(),
    _key("currency_name", "Name of the alternate currency, for example STARS or COINS.", sa.Text),
    _key(
        "currency_type",
        "v2 alternateCurrencyType (REGULAR, PROMISED, EXTERNAL_TRIGGER_BASED); 'ALL' for v3.",
        sa.Text,
    ),
    _amount("total_issued", "Total alternate currency units issued for this promotion."),
    _id("number_of_times_issued", "Number of issuance events for this currency."),
    _time("last_issued_on", LAST_ISSUED),
    _raw(),
    *_written(),
    comment="Alternate currency issued; v3 gives totals per currency (currency_type 'ALL').",
)

benefit_incentives = sa.Table(
    "benefit_incentives",
    metadata,
    *_summary_key(),
    _key(
        "action",
        "Type of incentive: REWARD, COUPONS, BADGES, ENROL, OPTIN, UPGRADE_TIER (v2: REWARD, "
        "BADGES).",
        sa.Text,
    ),
    _key("action_id", "Id of the benefit issued: reward, badge, coupon series or issual.", sa.Text),
    _key("activity_id", "Promotion activity that triggered the incentive; '' when none.", sa.Text),
    _id("action_issued_count", "Number of times this incentive was issued for the promotion."),
    _time("last_issued_on", LAST_ISSUED),
    _raw(),
    *_written(),
    comment="v3 incentives; v2 rewards (REWARD) and badges (BADGES). activity_id '' when none.",
)

api_events = sa.Table(
    "api_events",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True, comment="Event number."),
    _time(
        "occurred_at",
        "When the API answered with this code (a guard's warning: when it judged); "
        "Capillary's clock as believed, else the local clock.",
    ),
    _text("endpoint", "The endpoint called (lookup, promotionData, actionSummary, ...)."),
    _int("http_status", "HTTP status of the answer; null for a warning in a successful one."),
    _int("code", "Capillary warning or error code (8015, 8116, ...); null when none."),
    _text("kind", "warning or error."),
    _text("message", "Message the API gave with the code."),
    _id("org_id", ORG),
    _id("program_id", "Program the call was about; null for org-level calls."),
    _id("customer_id", "Customer the call was about, when known."),
    _id("promotion_id", "Promotion the call was about, when any."),
    _text("partition_key", "ORG-PROGRAM partition the event belongs to; null when org-level."),
    *_written(),
    comment="Every warning and error code the API answered, with its context.",
)

tier_history = sa.Table(
    "tier_history",
    metadata,
    _key("org_id", ORG),
    _key("program_id", PROGRAM),
    _key("customer_id", CUSTOMER),
    _key(
        "valid_from",
        "When the sync that first saw this tier started; local clock of the host that ran it.",
        TIMESTAMPTZ,
    ),
    _int("slab_sno", "Serial number of the tier seen."),
    _text("current_slab", "Name of the tier seen."),
    _time("slab_expiry_date", "Expiry date of the tier seen."),
    _int("previous_slab_sno", "Serial number of the tier before; null for the first one seen."),
    _text("previous_slab", "Name of the tier before."),
    _time("previous_slab_expiry_date", "Expiry date the tier before had."),
    *_written(),
    comment="Each tier a customer was seen in, from the sync that first saw it.",
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    _key("run_id", "Id of the Dagster run that synced the partition.", sa.Text),
    _key("partition_key", "ORG-PROGRAM partition synced.", sa.Text),
    _id("org_id", ORG, nullable=False),
    _id("program_id", PROGRAM, nullable=False),
    _time(
        "started_at",
        "When the run started syncing the partition; local clock of the host that ran it.",
    ),
    _time(
        "finished_at",
        "When the run finished it (success, failure or abandoned); null while running; "
        "warehouse clock.",
    ),
    _text("status", "running, success, failed or abandoned."),
    _json("rows", "Rows written per table, with inserted, updated and deleted counts."),
    _int("api_calls", "API calls the run made for this partition's org."),
    _int("retries", "Retried calls among them."),
    _json("warnings", "Warning and error codes met, with counts."),
    _text("error", "Why the sync failed; null on success."),
    sa.Column(
        "synced_at",
        TIMESTAMPTZ,
        nullable=False,
        comment="When this row was last written (its progress mark); warehouse clock.",
    ),
    _json("passes", "The passes this sync means to make, each expected or done."),
    _json(
        "signals",
        "Per pass: items fetched by reason, skipped, sampled and found changed, and calls "
        "made against a full sync's.",
    ),
    comment="One row per partition per sync: what freshness is judged by.",
)

sync_checkpoints = sa.Table(
    "sync_checkpoints",
    metadata,
    sa.Column(
        "id", sa.BigInteger, sa.Identity(always=False), primary_key=True, comment="Checkpoint id."
    ),
    sa.Column(
        "pass_name",
        sa.Text,
        nullable=False,
        comment="The pass: customers, promotions or benefits.",
    ),
    _id("org_id", ORG, nullable=False),
    sa.Column(
        "programs",
        sa.Text,
        nullable=False,
        comment="The org's programs the pass covers, comma-separated.",
    ),
    _text("status", "new, running, success (the pass completed) or failed."),
    _text("run_id", "Id of the Dagster run working on the pass, last."),
    _time(
        "started_at", "When the pass started, in the run that first worked on it; warehouse clock."
    ),
    _time(
        "updated_at",
        "When a chunk last committed (a running pass older than this is stale); warehouse clock.",
    ),
    _json(
        "cursor", "Sort key of the last item a committed chunk finished: a rerun resumes after it."
    ),
    _json("failed", "Items set aside after every retry failed: the next run takes them first."),
    _json("served", "Rows served so far per table and partition, across the runs of the pass."),
    _id("items_done", "Items the pass has finished."),
    sa.UniqueConstraint("pass_name", "org_id", "programs", name="uq_sync_checkpoints_pass"),
    comment="Where each pass over an org's programs stands: resumed after a kill or failure.",
)

sync_item_state = sa.Table(
    "sync_item_state",
    metadata,
    _key("org_id", ORG),
    _key("pass_name", "The pass that fetched the item: promotions or benefits.", sa.Text),
    _key("customer_id", CUSTOMER),
    _key("program_id", "Loyalty program id of a customer/promotion pair; 0 for a customer."),
    _key("promotion_id", "Promotion id of a customer/promotion pair; 0 for a customer."),
    sa.Column(
        "fetched_at",
        TIMESTAMPTZ,
        nullable=False,
        comment="When the item was last fetched, by Capillary's clock (its Date header).",
    ),
    sa.Column(
        "checked_at",
        TIMESTAMPTZ,
        nullable=False,
        comment="When its answer was written, by the warehouse's clock (compared with synced_at).",
    ),
    _text("signature", "MD5 of the rows the answer mapped to: a re-fetch compares it."),
    _text(
        "settings",
        "The settings that shaped the stored rows (e.g. actionSummary v3 or v2); an item "
        "fetched under other settings is due again.",
    ),
    comment="When each customer and pair was last fetched: what a change-driven sync skips.",
)

SETTINGS_CHANGED = (
    "The row's item was fetched under other settings: the row is replaced, not dropped, "
    "and the drop guard does not count it."
)

sync_pending_deletes = sa.Table(
    "sync_pending_deletes",
    metadata,
    _key("checkpoint_id", "The sync_checkpoints row of the pass that found the row gone."),
    _key("table_name", "Table the row is in.", sa.Text),
    _key("row_key", "The row's primary key, {column: value}.", JSONB),
    sa.Column(
        "settings_changed",
        sa.Boolean,
        nullable=False,
        server_default=sa.false(),
        comment=SETTINGS_CHANGED,
    ),
    comment="Rows a pass found no longer served, deleted only once the whole pass completed.",
)

api_rate_limits = sa.Table(
    "api_rate_limits",
    metadata,
    _key("api_key_hash", "SHA-256 of the API base URL and user or OAuth key (no secret).", sa.Text),
    sa.Column(
        "tat",
        TIMESTAMPTZ,
        nullable=False,
        comment="Theoretical arrival time: the next free request slot (GCRA); warehouse clock.",
    ),
    comment="Shared rate limiter state: the next free request slot per API key.",
)

promotion_performance = sa.Table(
    "promotion_performance",
    metadata,
    _key("org_id", ORG),
    _key("program_id", PROGRAM),
    _key("promotion_id", PROMOTION),
    _text("promotion_name", "Name of the promotion."),
    _text("status", "Catalogue status of the promotion."),
    sa.Column("active", sa.Boolean, comment="Whether promotionData says the promotion is active."),
    _time("start_date", "Start date of the promotion."),
    _time("end_date", "End date of the promotion."),
    _id("holders", "Customers holding the promotion (customer_promotions rows)."),
    _id("enrolled_holders", "Holders enrolled in the program (loyalty_id not -1)."),
    _id("summaries_fetched", "actionSummary answers stored (benefit_summaries rows)."),
    _id("no_benefits_summaries", "Of those, answers with warning 8116 (no benefits earned)."),
    sa.Column(
        "no_benefits_share",
        sa.Float,
        comment="no_benefits_summaries / summaries_fetched; null when none were fetched.",
    ),
    _id("customers_benefited", "Customers with any points, currency or incentive issued."),
    _amount("points_issued", "Points issued by the promotion, all categories together."),
    _json("points_by_category", "Points issued by category, {category: total}."),
    _json("currencies_issued", "Alternate currency issued, {currency name: total}."),
    _id("incentives_issued", "Incentives issued (sum of action_issued_count), all actions."),
    _json("incentives_by_action", "Incentives issued by action, {action: count}."),
    _time(
        "first_benefit_at",
        "Earliest last-issue time among its benefits (actionSummary gives no first-issue "
        "time, so the first benefit came at or before it).",
    ),
    _time("last_benefit_at", "Latest time any benefit of the promotion was issued."),
    *_written(),
    comment="Per promotion: holders, 8116 share and benefits issued, computed from the synced "
    "tables by the promotion_performance asset.",
)

# Marked by triggers (migration 0010) on the report's input tables as rows are written.
promotion_performance_changes = sa.Table(
    "promotion_performance_changes",
    metadata,
    _key("org_id", ORG),
    _key("program_id", PROGRAM),
    _key("promotion_id", PROMOTION),
    comment="Promotions whose promotion_performance inputs changed since the report last "
    "computed them; marked by triggers on its input tables, taken by the report.",
)

api_event_days = sa.Table(
    "api_event_days",
    metadata,
    _key("day", "UTC day the events occurred on.", sa.Date),
    _key("org_id", ORG),
    _key("partition_key", "ORG-PROGRAM partition of the events; '' when org-level.", sa.Text),
    _key("endpoint", "The endpoint called.", sa.Text),
    _key("kind", "warning or error.", sa.Text),
    _key("code", "Capillary warning or error code; 0 when the events carried none.", sa.Integer),
    sa.Column("events", sa.BigInteger, nullable=False, comment="How many events of the kind."),
    comment="Daily counts of the api_events rows pruned past their retention, by kind.",
)

sync_source = sa.Table(
    "sync_source",
    metadata,
    _key("id", "Always 1: the table holds one row.", sa.SmallInteger),
    sa.Column("api_host", sa.Text, nullable=False, comment="Capillary API base URL synced from."),
    sa.Column(
        "simulator",
        sa.Boolean,
        nullable=False,
        comment="True when the data came from the bundled simulator (its port is not kept).",
    ),
    sa.Column("own_org_id", sa.BigInteger, nullable=False, comment="The credential's own org."),
    sa.Column("org_ids", JSONB, nullable=False, comment="Every org id synced, own org first."),
    sa.Column(
        "adopted_at",
        TIMESTAMPTZ,
        nullable=False,
        comment="When this source was taken on; local clock.",
    ),
    sa.Column("adopted_by", sa.Text, comment="What took it on: first sync, or `source adopt`."),
    sa.CheckConstraint("id = 1", name="ck_sync_source_one_row"),
    comment="Where this warehouse's data comes from (one row; never a secret).",
)

sa.Index("ix_api_events_run", api_events.c.run_id)
sa.Index("ix_api_events_code", api_events.c.code, api_events.c.org_id)
sa.Index("ix_api_events_occurred", api_events.c.occurred_at)
sa.Index("ix_sync_runs_partition", sync_runs.c.partition_key, sync_runs.c.finished_at)
sa.Index("ix_customer_roster_customer", customer_roster.c.org_id, customer_roster.c.customer_id)

CONTRACT_TABLES: tuple[sa.Table, ...] = (
    customer_roster,
    customers,
    loyalty_program_details,
    promotions,
    customer_promotions,
    benefit_summaries,
    benefit_points,
    benefit_alternate_currencies,
    benefit_incentives,
    api_events,
    tier_history,
    sync_runs,
)

# Tables computed from the synced ones, inside the warehouse.
REPORT_TABLES: tuple[sa.Table, ...] = (promotion_performance,)
