"""The peer: the same Capillary data synced into the same Postgres by a dlt pipeline.

Written the way dlt's documentation shows a REST API pipeline: plain `@dlt.resource` and
`@dlt.transformer` functions over dlt's `RESTClient` (its retrying session, which backs
off on 429 and 5xx and honours `Retry-After`), dlt's `OffsetPaginator` and
`PageNumberPaginator`, `parallelized=True` transformers on dlt's default extract pool,
the `merge` write disposition with primary keys, and the `postgres` destination in its
own dataset (schema `capillary_dlt`). Nested lists become dlt child tables.

It asks for the same data as loyalty_sync so the row counts can be compared table by
table: a customerDetails lookup (embed=mlp) per roster row, every promotionData page
(limit 100) per customer found, actionSummary v3 for the pairs loyalty_sync asks for
(enrolled customer, promotion not ended before the benefits cut-off, both facts the API
reference states), and the org's promotion catalogue. dlt has no client-side rate
limiter: its pace is set by its worker threads and the API's latency, and a 429 is
retried after the answer's `Retry-After`.

One org (no connected-org headers), as the benchmark's simulator serves.

    python -m benchmarks.dlt_peer --base-url URL --roster FILE --dsn postgresql://...
        --pipelines-dir DIR  (credentials in CAPILLARY_USERNAME / CAPILLARY_PASSWORD)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import HttpBasicAuth
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator, PageNumberPaginator

DATASET = "capillary_dlt"
PIPELINE = "capillary_peer"
# actionSummary reports benefits earned on or after this date only (API reference).
BENEFITS_CUTOFF = datetime(2025, 6, 12, tzinfo=UTC)
CUSTOMER_NOT_FOUND = 8015

# loyalty_sync table -> the dlt table holding the same rows.
COMPARABLE_TABLES = {
    "customers": "customers",
    "loyalty_program_details": "customers__loyalty_program_details",
    "promotions": "promotions",
    "customer_promotions": "customer_promotions",
    "benefit_summaries": "benefit_summaries",
    "benefit_points": "benefit_summaries__points",
    "benefit_alternate_currencies": "benefit_summaries__alternate_currencies",
    "benefit_incentives": "benefit_summaries__incentives",
}


def _error_code(body: Any) -> int | None:
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("code")
        return int(code) if isinstance(code, int) else None
    return None


def _ended_before_cutoff(promotion: dict[str, Any]) -> bool:
    end = promotion.get("endDate")
    if not end:
        return False
    return datetime.fromisoformat(str(end).replace("Z", "+00:00")) < BENEFITS_CUTOFF


def _lookup(
    client: RESTClient, enrolled: dict[tuple[int, int], bool], entry: dict[str, str]
) -> dict[str, Any] | None:
    """customerDetails of one roster entry, noting the enrolments it reveals."""
    response = client.get(
        "/v2/customers/lookup/customerDetails",
        params={
            "source": entry["source"],
            "identifierName": entry["identifier_name"],
            "identifierValue": entry["identifier_value"],
            "embed": "mlp",
            **({"accountId": entry["account_id"]} if entry.get("account_id") else {}),
        },
    )
    if response.status_code == 400 and _error_code(response.json()) == CUSTOMER_NOT_FOUND:
        return None  # an unknown roster identifier: nothing to load
    response.raise_for_status()
    customer: dict[str, Any] = response.json()
    for details in customer.get("loyaltyProgramDetails") or []:
        enrolled[(customer["id"], details["programId"])] = details.get("loyaltyId") != -1
    return customer


def _promotion_data(client: RESTClient, customer: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of promotionData of one customer."""
    rows: list[dict[str, Any]] = []
    for page in client.paginate(
        "/v2.1/customers/lookup/promotionData",
        params={"identifierName": "id", "identifierValue": customer["id"], "source": "INSTORE"},
        paginator=OffsetPaginator(limit=100, total_path="pageDetails.totalEntries"),
        data_selector="promotions",
    ):
        rows.extend({**promotion, "customerId": customer["id"]} for promotion in page)
    return rows


def _action_summaries(
    client: RESTClient, enrolled: dict[tuple[int, int], bool], held: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """actionSummary of each held promotion an enrolled customer may have benefits of."""
    summaries: list[dict[str, Any]] = []
    for promotion in held:
        customer_id = promotion["customerId"]
        program_id = promotion["programId"]
        if not enrolled.get((customer_id, program_id)) or _ended_before_cutoff(promotion):
            continue
        response = client.get(
            f"/v3/customers/{customer_id}/customerPromotionDetails/actionSummary",
            params={"programId": program_id, "promotionId": promotion["promotionId"]},
        )
        response.raise_for_status()
        body = response.json()
        # The "no benefits" (8116) answer is wrapped in `data`; the success answer is not.
        summaries.append(body["data"] if isinstance(body.get("data"), dict) else body)
    return summaries


def _catalogue(client: RESTClient) -> Iterator[list[dict[str, Any]]]:
    """The promotion catalogue, page by page."""
    for page in client.paginate(
        "/v3/promotions",
        params={"size": 100},
        paginator=PageNumberPaginator(base_page=0, page_param="page", total_path="page.totalPages"),
        data_selector="data",
    ):
        yield [{**p, "promotionId": p["metadata"]["promotionId"]} for p in page]


def _client(base_url: str, username: str, password: str) -> RESTClient:
    # Capillary's Basic auth takes the MD5 digest of the password.
    return RESTClient(
        base_url=base_url,
        auth=HttpBasicAuth(username, hashlib.md5(password.encode()).hexdigest()),
        headers={"Accept": "application/json"},
    )


@dlt.source(name="capillary")
def capillary(
    base_url: str, username: str, password: str, roster: list[dict[str, str]]
) -> list[DltResource]:
    """Customers, their promotions and benefit summaries, and the promotion catalogue."""
    client = _client(base_url, username, password)
    # Transformers see only their parent's item: the enrollment each lookup reveals is kept
    # here for the benefits step, keyed by (customer id, program id).
    enrolled: dict[tuple[int, int], bool] = {}
    merged = {"parallelized": True, "write_disposition": "merge"}

    @dlt.resource(selected=False)
    def roster_entries() -> Iterator[dict[str, str]]:
        yield from roster

    @dlt.transformer(data_from=roster_entries, primary_key="id", table_name="customers", **merged)
    def customers(entry: dict[str, str]) -> dict[str, Any] | None:
        return _lookup(client, enrolled, entry)

    @dlt.transformer(
        data_from=customers,
        primary_key=("customer_id", "promotion_id"),
        table_name="customer_promotions",
        **merged,
    )
    def customer_promotions(customer: dict[str, Any]) -> list[dict[str, Any]]:
        return _promotion_data(client, customer)

    @dlt.transformer(
        data_from=customer_promotions,
        primary_key=("entity_id", "promotion_id"),
        table_name="benefit_summaries",
        **merged,
    )
    def benefit_summaries(held: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _action_summaries(client, enrolled, held)

    @dlt.resource(write_disposition="merge", primary_key="promotion_id", table_name="promotions")
    def promotions() -> Iterator[list[dict[str, Any]]]:
        yield from _catalogue(client)

    return [customers, customer_promotions, benefit_summaries, promotions]


def read_roster(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--roster", type=Path, required=True)
    parser.add_argument("--dsn", required=True, help="postgresql:// connection string")
    parser.add_argument("--pipelines-dir", type=Path, required=True)
    args = parser.parse_args()
    pipeline = dlt.pipeline(
        pipeline_name=PIPELINE,
        destination=dlt.destinations.postgres(credentials=args.dsn),
        dataset_name=DATASET,
        pipelines_dir=str(args.pipelines_dir),
    )
    info = pipeline.run(
        capillary(
            args.base_url,
            os.environ["CAPILLARY_USERNAME"],
            os.environ["CAPILLARY_PASSWORD"],
            read_roster(args.roster),
        )
    )
    info.raise_on_failed_jobs()
    print(json.dumps({"loaded_packages": len(info.loads_ids)}))


if __name__ == "__main__":
    main()
