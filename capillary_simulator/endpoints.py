"""The simulated endpoints without HTTP: query and headers in, status and body out.

Each function validates its parameters in the order Capillary documents its error codes,
resolves the connected-org scope from the `DATA-SCOPE` headers, and returns an `Answer`
whose body comes from the dataset's `*_body` methods on success. Keeping HTTP out of this
layer keeps the app thin and lets the validation be read in one place.

Connected orgs: every call targets the home org unless `DATA-SCOPE: OTHER` (or `ALL`)
and `DATA-SCOPE-ORG: <ids>` name connected orgs. A `DATA-SCOPE-ORG` naming an unknown
org, `DATA-SCOPE: OTHER` without `DATA-SCOPE-ORG`, or an unknown scope answer 310144.
`ALL` without `DATA-SCOPE-ORG` means every org.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from capillary_simulator.bodies import PROMOTION_STATUSES_FOR_CUSTOMER, message
from capillary_simulator.codes import CONNECTED_ORGS_ERROR, NO_BENEFITS_WARNING, SOURCES
from capillary_simulator.records import Customer, Promotion

if TYPE_CHECKING:
    from capillary_simulator.data import SimulatorDataset

Params = Mapping[str, str]

LOOKUP_IDENTIFIERS = frozenset({"cardnumber", "mobile", "email", "externalid", "wechat"})
PROMOTION_DATA_IDENTIFIERS = frozenset({"mobile", "id", "email", "externalid"})
ACTION_SUMMARY_IDENTIFIERS = frozenset({"mobile", "id", "externalid"})
PRIMARY_IDENTIFIER = "mobile"  # the org's primary key when several identifiers are sent
MAX_PROMOTION_DATA_LIMIT = 100
MAX_CATALOGUE_SIZE = 100


@dataclass(frozen=True)
class Answer:
    """An endpoint's reply: HTTP status, JSON body and the documented codes it carries."""

    status: int
    body: Any
    codes: tuple[int, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)


def v2_error(code: int, *, with_data: bool = False) -> Answer:
    body: dict[str, Any] = {"data": None} if with_data else {}
    body.update(errors=[message(code)], warnings=[])
    return Answer(400, body, (code,))


def v2_bad_request(text: str) -> Answer:
    body = {"errors": [{"status": False, "code": 400, "message": text}], "warnings": []}
    return Answer(400, body, (400,))


def v3_error(code: int, status: int, text: str | None = None) -> Answer:
    entry = message(code) if text is None else {"status": False, "code": code, "message": text}
    return Answer(status, {"data": None, "errors": [entry], "warnings": None}, (code,))


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    if text.startswith("-"):
        return -int(text[1:]) if text[1:].isdigit() else None
    return int(text) if text.isdigit() else None


def resolve_scope(dataset: SimulatorDataset, headers: Params) -> tuple[int, ...] | None:
    """The orgs a call may see, home org first when included; None means 310144."""
    scope = (headers.get("data-scope") or "").strip().upper()
    named: list[int] = []
    for part in (headers.get("data-scope-org") or "").split(","):
        if not part.strip():
            continue
        org_id = _int(part)
        if org_id is None or dataset.org(org_id) is None:
            return None
        if org_id not in named:
            named.append(org_id)
    home = dataset.home_org_id
    if scope in ("", "SELF"):
        return (home,)
    if scope == "OTHER":
        return tuple(named) if named else None
    if scope == "ALL":
        if not named:
            return tuple(dataset.org_ids)
        return (home, *[o for o in named if o != home])
    return None


def _identifier(params: Params, allowed: frozenset[str]) -> tuple[str, str] | Answer:
    """(lower-case identifier name, value) or the 8013 / 8015 answer."""
    name = (params.get("identifierName") or "").strip().lower()
    if name not in allowed:
        return v2_error(8013)
    value = (params.get("identifierValue") or "").strip()
    if not value:
        return v2_error(8015)
    return name, value


def _source(params: Params) -> str | None:
    source = (params.get("source") or "").strip().upper()
    return source if source in SOURCES else None


# ----------------------------------------------------------------------- v2 lookups
def customer_details(dataset: SimulatorDataset, params: Params, headers: Params) -> Answer:
    scope = resolve_scope(dataset, headers)
    if scope is None:
        return v2_error(CONNECTED_ORGS_ERROR)
    source = _source(params)
    if source is None:
        return v2_error(8003)
    identifier = _lookup_identifier(params)
    if isinstance(identifier, Answer):
        return identifier
    account_id = (params.get("accountId") or "").strip() or None
    if source not in ("INSTORE", "ALL") and account_id is None:
        return v2_error(8015)  # only INSTORE has no account id
    customer = dataset.find_customer(*identifier, source=source, account_id=account_id)
    if customer is None or customer.org_id not in scope:
        return v2_error(8015)
    embed = {e.strip().lower() for e in (params.get("embed") or "").split(",") if e.strip()}
    return Answer(200, dataset.customer_details_body(customer, embed))


def _lookup_identifier(params: Params) -> tuple[str, str] | Answer:
    """The (name, value) a lookup is by, or the error its identifiers earn."""
    names = [n.strip().lower() for n in (params.get("identifierName") or "").split(",")]
    values = [v.strip() for v in (params.get("identifierValue") or "").split(",")]
    if not names[0] or any(n not in LOOKUP_IDENTIFIERS for n in names):
        return v2_error(8013)
    if not values[0]:
        return v2_error(8015)
    if len(names) != len(values):
        return v2_error(8013)
    if len(names) == 1:
        return names[0], values[0]
    if PRIMARY_IDENTIFIER in names:
        # Several identifiers: the primary one decides, as with dual eligibility.
        position = names.index(PRIMARY_IDENTIFIER)
        return names[position], values[position]
    return v2_error(8015)


def loyalty_details(
    dataset: SimulatorDataset, customer_id_text: str, params: Params, headers: Params
) -> Answer:
    scope = resolve_scope(dataset, headers)
    if scope is None:
        return v2_error(CONNECTED_ORGS_ERROR, with_data=True)
    customer_id = _int(customer_id_text)
    customer = dataset.customer_by_id(customer_id) if customer_id else None
    if customer is None or customer.org_id not in scope:
        return v2_error(8015, with_data=True)
    program_id = None
    if (program_text := params.get("programId")) not in (None, ""):
        program_id = _int(program_text)
        membership = dataset.membership(customer, program_id) if program_id else None
        if membership is None or not membership.enrolled:
            return v2_error(8089, with_data=True)
    if (group_text := params.get("fleetGroupId")) not in (None, ""):
        group = _int(group_text)
        if group is None or group != customer.fleet_group_id:
            return v2_error(1620, with_data=True)
    return Answer(200, dataset.loyalty_details_body(customer, program_id))


def promotion_data(dataset: SimulatorDataset, params: Params, headers: Params) -> Answer:
    scope = resolve_scope(dataset, headers)
    if scope is None:
        return v2_error(CONNECTED_ORGS_ERROR)
    identifier = _identifier(params, PROMOTION_DATA_IDENTIFIERS)
    if isinstance(identifier, Answer):
        return identifier
    source = _source(params)
    if source is None:
        return v2_error(8003)
    limit = _int(params.get("limit") or "10")
    offset = _int(params.get("offset") or "0")
    if limit is None or not 0 <= limit <= MAX_PROMOTION_DATA_LIMIT:
        return v2_bad_request(f"limit must be an integer from 0 to {MAX_PROMOTION_DATA_LIMIT}")
    if offset is None or offset < 0:
        return v2_bad_request("offset must be a non-negative integer")
    status = (params.get("promotionStatusForCustomer") or "").strip().upper() or None
    if status is not None and status not in PROMOTION_STATUSES_FOR_CUSTOMER:
        allowed = ", ".join(PROMOTION_STATUSES_FOR_CUSTOMER)
        return v2_bad_request(f"promotionStatusForCustomer must be one of {allowed}")
    customer = dataset.find_customer(*identifier, source=source)
    if customer is None:
        return v2_error(8015)
    if customer.org_id not in scope:
        # The customer lives in a connected org that the headers did not name.
        return v2_error(CONNECTED_ORGS_ERROR)
    return Answer(200, dataset.promotion_data_body(customer, limit, offset, status))


def _customer_by_identifier(
    dataset: SimulatorDataset, params: Params, scope: tuple[int, ...]
) -> Customer | Answer:
    identifier = _identifier(params, ACTION_SUMMARY_IDENTIFIERS)
    if isinstance(identifier, Answer):
        return identifier
    source = _source(params)
    if source is None:
        return v2_error(8003)
    customer = dataset.find_customer(*identifier, source=source)
    if customer is None or customer.org_id not in scope:
        return v2_error(8015)
    return customer


def action_summary_v2(dataset: SimulatorDataset, params: Params, headers: Params) -> Answer:
    scope = resolve_scope(dataset, headers)
    if scope is None:
        return v2_error(CONNECTED_ORGS_ERROR)
    program_text = (params.get("programId") or "").strip()
    promotion_text = (params.get("promotionId") or "").strip()
    identifier_text = (params.get("promotionIdentifier") or "").strip()
    if not program_text or not (promotion_text or identifier_text):
        return v2_error(8883)
    customer = _customer_by_identifier(dataset, params, scope)
    if isinstance(customer, Answer):
        return customer
    promotion: Promotion | None
    if promotion_text:
        promotion_id = _int(promotion_text)
        promotion = dataset.promotion(promotion_id) if promotion_id else None
    else:
        promotion = dataset.promotion_by_identifier(identifier_text)
    if promotion is None or promotion.org_id not in scope:
        return v2_error(8874)
    program_id = _int(program_text)
    if program_id != promotion.program_id or promotion.org_id != customer.org_id:
        return v2_error(8105)
    body = dataset.action_summary_v2_body(customer, promotion)
    codes = (NO_BENEFITS_WARNING,) if body["warnings"] else ()
    return Answer(200, body, codes)


# ----------------------------------------------------------------------- v3 and catalogue
def action_summary_v3(
    dataset: SimulatorDataset, customer_id_text: str, params: Params, headers: Params
) -> Answer:
    scope = resolve_scope(dataset, headers)
    if scope is None:
        return v3_error(CONNECTED_ORGS_ERROR, 400)
    program_id = _int(params.get("programId"))
    promotion_id = _int(params.get("promotionId"))
    if program_id is None or promotion_id is None:
        return v3_error(400, 400)
    program = dataset.program(program_id)
    if program is None or program.org_id not in scope:
        return v3_error(9001, 404)
    customer_id = _int(customer_id_text)
    customer = dataset.customer_by_id(customer_id) if customer_id else None
    if customer is None or customer.org_id != program.org_id:
        return v3_error(9002, 404)
    promotion = dataset.promotion(promotion_id)
    if promotion is None or promotion.program_id != program_id:
        return v3_error(3013, 404)
    activity_id = (params.get("activityId") or "").strip() or None
    body = dataset.action_summary_v3_body(customer, promotion, activity_id)
    codes = (NO_BENEFITS_WARNING,) if "data" in body else ()
    return Answer(200, body, codes)


def organization_programs(dataset: SimulatorDataset, params: Params, headers: Params) -> Answer:
    scope = resolve_scope(dataset, headers)
    if scope is None:
        return v2_error(CONNECTED_ORGS_ERROR)
    return Answer(200, dataset.programs_body(scope))


def promotion_catalogue(dataset: SimulatorDataset, params: Params, headers: Params) -> Answer:
    scope = resolve_scope(dataset, headers)
    if scope is None:
        return v3_error(CONNECTED_ORGS_ERROR, 400)
    page = _int(params.get("page") or "0")
    size = _int(params.get("size") or "10")
    if page is None or page < 0:
        return v3_error(400, 400, "page must be a non-negative integer")
    if size is None or not 1 <= size <= MAX_CATALOGUE_SIZE:
        return v3_error(400, 400, f"size must be an integer from 1 to {MAX_CATALOGUE_SIZE}")
    sort_by = (params.get("sortBy") or "").strip() or None
    if sort_by is not None and sort_by != "lastModifiedOn":
        return v3_error(400, 400, "sortBy supports lastModifiedOn only")
    status = [s.strip() for s in (params.get("status") or "").split(",") if s.strip()]
    body = dataset.promotion_catalogue_body(
        scope,
        page=page,
        size=size,
        status=status or None,
        search_text=(params.get("searchText") or "").strip() or None,
        sort_by=sort_by,
    )
    return Answer(200, body)
