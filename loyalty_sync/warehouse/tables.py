"""The warehouse tables (schema `capillary`): the one place their columns are declared.

Columns are snake_case forms of the Capillary field names. Every table carries `org_id`,
program-level tables `program_id`, and every row `synced_at` (when its values last
changed) and `run_id` (the Dagster run that wrote it). `raw` keeps the API object as
served, so a field Capillary adds tomorrow is stored before anyone maps it.

Migrations (`warehouse/migrations`) create these tables; a test checks that the migrated
database and this module agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "capillary"

metadata = sa.MetaData(schema=SCHEMA)

TIMESTAMPTZ = sa.DateTime(timezone=True)


def _id(name: str, **kwargs: object) -> sa.Column:
    return sa.Column(name, sa.BigInteger, **kwargs)  # type: ignore[arg-type]


def _key(name: str, type_: sa.types.TypeEngine = sa.BigInteger) -> sa.Column:
    return sa.Column(name, type_, primary_key=True, nullable=False)


def _amount(name: str) -> sa.Column:
    return sa.Column(name, sa.Numeric)


def _time(name: str) -> sa.Column:
    return sa.Column(name, TIMESTAMPTZ)


def _text(name: str) -> sa.Column:
    return sa.Column(name, sa.Text)


def _written() -> list[sa.Column]:
    """Columns the writer fills: when the row's values last changed and which run wrote them."""
    return [
        sa.Column("synced_at", TIMESTAMPTZ, nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
    ]


def _raw() -> sa.Column:
    return sa.Column("raw", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))


customer_roster = sa.Table(
    "customer_roster",
    metadata,
    _key("org_id"),
    _key("source", sa.Text),
    _key("identifier_name", sa.Text),
    _key("identifier_value", sa.Text),
    _text("account_id"),
    _id("customer_id"),
    _text("lookup_status"),
    _time("looked_up_at"),
    *_written(),
    comment="Customer identifiers to sync, imported from CSV; customer_id is filled by lookup.",
)

customers = sa.Table(
    "customers",
    metadata,
    _key("org_id"),
    _key("customer_id"),
    _text("first_name"),
    _text("last_name"),
    _text("source"),
    _text("account_id"),
    _text("mobile"),
    _text("email"),
    _text("external_id"),
    _text("card_number"),
    _time("created_date"),
    _time("modified_date"),
    _text("loyalty_type"),
    _amount("lifetime_purchases"),
    _time("loyalty_create_date"),
    _text("associated_with"),
    sa.Column("extended_fields", JSONB),
    _raw(),
    *_written(),
    comment="Customer profiles from /v2/customers/lookup/customerDetails.",
)

loyalty_program_details = sa.Table(
    "loyalty_program_details",
    metadata,
    _key("org_id"),
    _key("program_id"),
    _key("customer_id"),
    _id("loyalty_id"),
    _text("current_slab"),
    _text("current_slab_description"),
    sa.Column("slab_sno", sa.Integer),
    _time("slab_expiry_date"),
    _text("next_slab"),
    sa.Column("next_slab_serial_number", sa.Integer),
    _text("next_slab_description"),
    _amount("redeemed"),
    _amount("expired"),
    _amount("returned"),
    _amount("adjusted"),
    _amount("lifetime_points"),
    _amount("loyalty_points"),
    _amount("cumulative_purchases"),
    _amount("delayed_points"),
    _amount("delayed_returned_points"),
    _amount("delayed_expired_points"),
    _amount("total_available_points"),
    _amount("total_returned_points"),
    _text("program_title"),
    _text("program_description"),
    _amount("program_points_to_currency_ratio"),
    _raw(),
    *_written(),
    comment="Per-program points and tier of each customer (loyaltyProgramDetails).",
)

promotions = sa.Table(
    "promotions",
    metadata,
    _key("org_id"),
    _key("program_id"),
    _key("promotion_id"),
    _text("promotion_name"),
    _text("identifier"),
    _text("description"),
    _time("start_date"),
    _time("end_date"),
    sa.Column("active", sa.Boolean),
    _text("event_name"),
    _text("points_offer_type"),
    _amount("max_points_per_event"),
    _amount("points_per_customer"),
    _amount("number_of_times_per_customer"),
    _amount("total_points_in_promotion"),
    sa.Column("promotion_metadata", JSONB),
    _text("status"),
    _time("created_on"),
    _time("last_modified_on"),
    _raw(),
    *_written(),
    comment="Promotions: promotionData, with status and dates from /v3/promotions.",
)

customer_promotions = sa.Table(
    "customer_promotions",
    metadata,
    _key("org_id"),
    _key("program_id"),
    _key("customer_id"),
    _key("promotion_id"),
    _amount("current_points_per_customer"),
    _amount("current_number_of_times_per_customer"),
    _amount("current_total_points_in_promotion"),
    sa.Column("issual_restrictions", JSONB),
    sa.Column("earn_restrictions", JSONB),
    sa.Column("redemption_restrictions", JSONB),
    _raw(),
    *_written(),
    comment="A customer's usage of and restrictions in a promotion, from promotionData.",
)

_SUMMARY_KEY = ("org_id", "program_id", "customer_id", "promotion_id")

benefit_summaries = sa.Table(
    "benefit_summaries",
    metadata,
    *(_key(name) for name in _SUMMARY_KEY),
    _text("api_version"),
    _text("promotion_identifier"),
    sa.Column("warning_code", sa.Integer),
    _text("warning_message"),
    sa.Column("no_benefits", sa.Boolean, nullable=False),
    _raw(),
    *_written(),
    comment="One actionSummary per customer and promotion; warning_code 8116 when no benefit.",
)

benefit_points = sa.Table(
    "benefit_points",
    metadata,
    *(_key(name) for name in _SUMMARY_KEY),
    _key("points_category", sa.Text),
    _amount("total_points_issued"),
    _id("number_of_times_issued"),
    _time("last_issued_on"),
    _raw(),
    *_written(),
    comment="Points issued by a promotion to a customer, by category (actionSummary points).",
)

benefit_alternate_currencies = sa.Table(
    "benefit_alternate_currencies",
    metadata,
    *(_key(name) for name in _SUMMARY_KEY),
    _key("currency_name", sa.Text),
    _key("currency_type", sa.Text),
    _amount("total_issued"),
    _id("number_of_times_issued"),
    _time("last_issued_on"),
    _raw(),
    *_written(),
    comment="Alternate currency issued; v3 gives totals per currency (currency_type 'ALL').",
)

benefit_incentives = sa.Table(
    "benefit_incentives",
    metadata,
    *(_key(name) for name in _SUMMARY_KEY),
    _key("action", sa.Text),
    _key("action_id", sa.Text),
    _key("activity_id", sa.Text),
    _id("action_issued_count"),
    _time("last_issued_on"),
    _raw(),
    *_written(),
    comment="v3 incentives; v2 rewards (REWARD) and badges (BADGES). activity_id '' when none.",
)

api_events = sa.Table(
    "api_events",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _time("occurred_at"),
    _text("endpoint"),
    sa.Column("http_status", sa.Integer),
    sa.Column("code", sa.Integer),
    _text("kind"),
    _text("message"),
    _id("org_id"),
    _id("program_id"),
    _id("customer_id"),
    _id("promotion_id"),
    _text("partition_key"),
    *_written(),
    comment="Every warning and error code the API answered, with its context.",
)

tier_history = sa.Table(
    "tier_history",
    metadata,
    _key("org_id"),
    _key("program_id"),
    _key("customer_id"),
    _key("valid_from", TIMESTAMPTZ),
    sa.Column("slab_sno", sa.Integer),
    _text("current_slab"),
    _time("slab_expiry_date"),
    sa.Column("previous_slab_sno", sa.Integer),
    _text("previous_slab"),
    _time("previous_slab_expiry_date"),
    *_written(),
    comment="Each tier a customer was seen in, from the sync that first saw it.",
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    _key("run_id", sa.Text),
    _key("partition_key", sa.Text),
    _id("org_id", nullable=False),
    _id("program_id", nullable=False),
    _time("started_at"),
    _time("finished_at"),
    _text("status"),
    sa.Column("rows", JSONB),
    sa.Column("api_calls", sa.Integer),
    sa.Column("retries", sa.Integer),
    sa.Column("warnings", JSONB),
    _text("error"),
    sa.Column("synced_at", TIMESTAMPTZ, nullable=False),
    sa.Column("passes", JSONB),
    comment="One row per partition per sync: what freshness is judged by.",
)

sync_checkpoints = sa.Table(
    "sync_checkpoints",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
    sa.Column("pass_name", sa.Text, nullable=False),
    _id("org_id", nullable=False),
    sa.Column("programs", sa.Text, nullable=False),
    _text("status"),
    _text("run_id"),
    _time("started_at"),
    _time("updated_at"),
    sa.Column("cursor", JSONB),
    sa.Column("failed", JSONB),
    sa.Column("served", JSONB),
    sa.Column("items_done", sa.BigInteger),
    sa.UniqueConstraint("pass_name", "org_id", "programs", name="uq_sync_checkpoints_pass"),
    comment="Where each pass over an org's programs stands: resumed after a kill or failure.",
)

sync_pending_deletes = sa.Table(
    "sync_pending_deletes",
    metadata,
    _key("checkpoint_id"),
    _key("table_name", sa.Text),
    _key("row_key", JSONB),
    comment="Rows a pass found no longer served, deleted only once the whole pass completed.",
)

api_rate_limits = sa.Table(
    "api_rate_limits",
    metadata,
    _key("api_key_hash", sa.Text),
    sa.Column("tat", TIMESTAMPTZ, nullable=False),
    comment="Shared rate limiter state: the next free request slot per API key.",
)

sa.Index("ix_api_events_run", api_events.c.run_id)
sa.Index("ix_api_events_code", api_events.c.code, api_events.c.org_id)
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
