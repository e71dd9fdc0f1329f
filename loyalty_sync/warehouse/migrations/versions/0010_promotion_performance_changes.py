"""Promotions whose report inputs changed, marked by the database as rows are written.

`promotion_performance` is recomputed only for the promotions marked here. Triggers mark
them in the transaction that writes, whichever code writes (a pass's merge, the deletes
at its end, a hand fix in psql), so a change cannot go unmarked; marks are taken in the
report's own transaction, so a report that fails leaves them for the next. Every
promotion already stored or synced is marked once here: a report computed before these
triggers existed is recomputed by the next sync.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SCHEMA = "capillary"
CHANGES = f"{SCHEMA}.promotion_performance_changes"
KEY = "org_id, program_id, promotion_id"
# Tables whose rows carry the promotion they count for.
KEYED = (
    "promotions",
    "customer_promotions",
    "benefit_summaries",
    "benefit_points",
    "benefit_alternate_currencies",
    "benefit_incentives",
)
ENROLMENT = "loyalty_program_details"
EVENTS = ("INSERT", "UPDATE", "DELETE")

MARK_KEYED = f"""
CREATE FUNCTION {SCHEMA}.mark_promotion_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO {CHANGES} ({KEY})
        SELECT DISTINCT {KEY} FROM new_rows ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO {CHANGES} ({KEY})
        SELECT DISTINCT {KEY} FROM old_rows ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$
"""

# An enrolment counts only through `enrolled_holders` (loyalty_id not -1): a points or
# tier change marks nothing, else every daily sync would mark every promotion.
MARK_ENROLMENT = f"""
CREATE FUNCTION {SCHEMA}.mark_enrolment_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {CHANGES} ({KEY})
        SELECT DISTINCT cp.org_id, cp.program_id, cp.promotion_id
        FROM {SCHEMA}.customer_promotions cp
        JOIN new_rows n USING (org_id, program_id, customer_id)
        WHERE coalesce(n.loyalty_id, -1) <> -1
        ON CONFLICT DO NOTHING;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {CHANGES} ({KEY})
        SELECT DISTINCT cp.org_id, cp.program_id, cp.promotion_id
        FROM {SCHEMA}.customer_promotions cp
        JOIN old_rows o USING (org_id, program_id, customer_id)
        WHERE coalesce(o.loyalty_id, -1) <> -1
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO {CHANGES} ({KEY})
        SELECT DISTINCT cp.org_id, cp.program_id, cp.promotion_id
        FROM {SCHEMA}.customer_promotions cp
        JOIN (
            SELECT org_id, program_id, customer_id
            FROM old_rows o FULL JOIN new_rows n USING (org_id, program_id, customer_id)
            WHERE (coalesce(o.loyalty_id, -1) <> -1)
                IS DISTINCT FROM (coalesce(n.loyalty_id, -1) <> -1)
        ) c USING (org_id, program_id, customer_id)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$
"""

# TRUNCATE has no rows to read: every promotion the report holds is marked.
MARK_ALL = f"""
CREATE FUNCTION {SCHEMA}.mark_all_promotions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {CHANGES} ({KEY})
    SELECT {KEY} FROM {SCHEMA}.promotion_performance ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$
"""


def _referencing(event: str) -> str:
    if event == "INSERT":
        return "REFERENCING NEW TABLE AS new_rows"
    if event == "DELETE":
        return "REFERENCING OLD TABLE AS old_rows"
    return "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"


def _triggers(table: str, function: str) -> list[str]:
    statements = [
        f"CREATE TRIGGER mark_{event.lower()} AFTER {event} ON {SCHEMA}.{table} "
        f"{_referencing(event)} FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.{function}()"
        for event in EVENTS
    ]
    statements.append(
        f"CREATE TRIGGER mark_truncate AFTER TRUNCATE ON {SCHEMA}.{table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.mark_all_promotions()"
    )
    return statements


def upgrade() -> None:
    op.create_table(
        "promotion_performance_changes",
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
        sa.PrimaryKeyConstraint("org_id", "program_id", "promotion_id"),
        schema=SCHEMA,
        comment="Promotions whose promotion_performance inputs changed since the report last "
        "computed them; marked by triggers on its input tables, taken by the report.",
    )
    for function in (MARK_KEYED, MARK_ENROLMENT, MARK_ALL):
        op.execute(function)
    for table in KEYED:
        for statement in _triggers(table, "mark_promotion_changes"):
            op.execute(statement)
    for statement in _triggers(ENROLMENT, "mark_enrolment_changes"):
        op.execute(statement)
    for source in ("promotions", "promotion_performance"):
        op.execute(
            f"INSERT INTO {CHANGES} ({KEY}) SELECT {KEY} FROM {SCHEMA}.{source} "
            "ON CONFLICT DO NOTHING"
        )


def downgrade() -> None:
    for table in (*KEYED, ENROLMENT):
        for event in (*EVENTS, "TRUNCATE"):
            op.execute(f"DROP TRIGGER mark_{event.lower()} ON {SCHEMA}.{table}")
    for function in ("mark_promotion_changes", "mark_enrolment_changes", "mark_all_promotions"):
        op.execute(f"DROP FUNCTION {SCHEMA}.{function}()")
    op.drop_table("promotion_performance_changes", schema=SCHEMA)
