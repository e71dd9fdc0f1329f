"""The simulator as a Starlette ASGI app: Capillary's routes plus `/_admin/`.

Every API route runs the same gate (`_serve`): count the request, authenticate, apply
the rate limit, draw a fault, wait out the configured latency, then call the endpoint
function and serialise its body with the standard library's JSON encoder. Admin routes
need no auth and are neither counted, limited nor faulted. Every answer, admin ones
included, carries the simulated clock in its `Date` header (`SimulatedDate`), which is
how a sync learns Capillary's time.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from capillary_simulator import endpoints
from capillary_simulator.bodies import catalogue_entry, message
from capillary_simulator.bodies import programs as programs_body
from capillary_simulator.clock import SimulatedClock
from capillary_simulator.codes import MESSAGES
from capillary_simulator.config import SimulatorConfig
from capillary_simulator.data import SimulatorDataset
from capillary_simulator.endpoints import Answer
from capillary_simulator.traffic import Fault, Gateway

JSON = "application/json"
Handler = Callable[[SimulatorDataset, Request], Answer]
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

_GATEWAY_PAGES = {
    502: b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    503: b"<html><body><h1>503 Service Unavailable</h1></body></html>",
}


def encode(body: Any) -> bytes:
    """The exact bytes the server sends for a body."""
    return _encoder.encode(body).encode()


class SimulatorState:
    """The data and the runtime gate of one app."""

    def __init__(self, config: SimulatorConfig, dataset: SimulatorDataset) -> None:
        self.config = config
        self.dataset = dataset
        self.gateway = Gateway(config)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encode(body), status, headers, media_type=JSON)


def _server_error(status: int, v3: bool) -> tuple[Response, tuple[int, ...]]:
    if status in _GATEWAY_PAGES:
        return Response(_GATEWAY_PAGES[status], status, media_type="text/html"), ()
    if v3:
        body: dict[str, Any] = {"data": None, "errors": [message(500)], "warnings": None}
    else:
        body = {"errors": [message(500)], "warnings": []}
    return _json(body, status), (500,)


async def _serve(
    state: SimulatorState,
    request: Request,
    template: str,
    handler: Callable[[], Answer | Awaitable[Answer]],
    *,
    v3: bool,
    credential: str | None = None,
) -> Response:
    gateway = state.gateway
    now = time.monotonic()
    refusal = None
    if credential is None:
        identity = gateway.identify(request.headers, now)
        credential, refusal = identity.credential, identity.refusal_code
    gateway.counters.received(template, credential, now)
    early = _refused(gateway, refusal) or _throttled(gateway, credential, now)
    if early is not None:
        return early
    gateway.counters.accepted(credential, now)
    fault = await _delay_and_fault(state, request)
    if fault is Fault.SERVER_ERROR:
        status = gateway.next_server_error_status()
        response, codes = _server_error(status, v3)
        gateway.counters.answered(status, codes)
        return response
    return await _answered(gateway, handler, fault)


def _refused(gateway: Gateway, refusal: int | None) -> Response | None:
    """The 401 of a request whose credential was refused (a bad Basic or a stale token)."""
    if refusal is None:
        return None
    text = MESSAGES[401] if refusal == 401 else MESSAGES[498]
    gateway.counters.answered(401, (refusal,))
    return _json({"errors": [{"status": False, "code": refusal, "message": text}]}, 401)


def _throttled(gateway: Gateway, credential: str, now: float) -> Response | None:
    """The 429 of a request over its credential's rate limit, or drawn as throttled."""
    retry_after = gateway.limiter.admit(credential, now, gateway.settings.rate_limit_per_minute)
    if retry_after is None and gateway.draw_throttle():
        retry_after = 1
    if retry_after is None:
        return None
    gateway.counters.limited(credential)
    gateway.counters.answered(429, (429,))
    body = {"errors": [{"status": False, "code": 429, "message": "Too many requests"}]}
    return _json(body, 429, {"Retry-After": str(retry_after)})


async def _delay_and_fault(state: SimulatorState, request: Request) -> Fault:
    """The fault drawn for this request, after the configured latency (and any hang)."""
    gateway = state.gateway
    fault = gateway.draw_fault()
    if gateway.settings.failing_customers and (
        _customer_of(state.dataset, request) in gateway.settings.failing_customers
    ):
        fault = Fault.SERVER_ERROR
    delay = gateway.delay_seconds()
    if fault is Fault.HANG:
        delay += gateway.settings.hang_seconds
    if delay:
        await asyncio.sleep(delay)
    return fault


async def _answered(
    gateway: Gateway, handler: Callable[[], Answer | Awaitable[Answer]], fault: Fault
) -> Response:
    """The endpoint's answer, cut in half when the fault drawn is a malformed body."""
    answer = handler()
    if not isinstance(answer, Answer):
        answer = await answer
    payload = encode(answer.body)
    if fault is Fault.MALFORMED:
        gateway.counters.answered(200, ())
        return Response(payload[: max(1, len(payload) // 2)], 200, media_type=JSON)
    gateway.counters.answered(answer.status, answer.codes)
    return Response(payload, answer.status, dict(answer.headers), media_type=JSON)


def _customer_of(dataset: SimulatorDataset, request: Request) -> int | None:
    """The id of the customer a request is about, however it names them; None if none."""
    path_id = request.path_params.get("customerId")
    if path_id:
        return int(path_id) if str(path_id).isdigit() else None
    params = request.query_params
    name = (params.get("identifierName") or "").split(",")[0].strip()
    value = (params.get("identifierValue") or "").split(",")[0].strip()
    if not name or not value:
        return None
    source = (params.get("source") or "INSTORE").strip().upper()
    customer = dataset.find_customer(
        name.lower(), value, source=source, account_id=params.get("accountId")
    )
    return customer.customer_id if customer else None


def _api(template: str, endpoint: Handler, *, v3: bool = False) -> Route:
    async def handle(request: Request) -> Response:
        state: SimulatorState = request.app.state.simulator
        return await _serve(
            state, request, template, lambda: endpoint(state.dataset, request), v3=v3
        )

    return Route(template, handle, methods=["GET"])


async def _token_generate(request: Request) -> Response:
    """`POST /v3/oauth/token/generate`: counted and limited under the key it names."""
    state: SimulatorState = request.app.state.simulator
    gateway = state.gateway
    try:
        payload = json.loads(await request.body() or b"null")
    except ValueError:
        payload = None
    fields = payload if isinstance(payload, dict) else {}
    key, secret = str(fields.get("key") or ""), str(fields.get("secret") or "")

    def answer() -> Answer:
        if not key or not secret:
            text = "Request body must be JSON with key and secret"
            return Answer(400, {"data": None, "errors": [message(320001) | {"message": text}]})
        if not gateway.check_oauth_client(key, secret):
            return Answer(401, {"data": None, "errors": [message(320001)]}, (320001,))
        ttl = gateway.settings.token_ttl_seconds
        token = gateway.tokens.issue(key, time.monotonic(), ttl)
        return Answer(200, {"data": {"accessToken": token, "ttlSeconds": ttl}, "errors": None})

    return await _serve(
        state, request, "/v3/oauth/token/generate", answer, v3=True, credential=key or "(no key)"
    )


# ----------------------------------------------------------------------- admin
async def _health(request: Request) -> Response:
    state: SimulatorState = request.app.state.simulator
    return _json({"ok": True, "pid": os.getpid(), "orgIds": state.dataset.org_ids})


async def _config(request: Request) -> Response:
    state: SimulatorState = request.app.state.simulator
    dataset = state.dataset
    orgs = [
        {
            "orgId": org_id,
            "home": org_id == dataset.home_org_id,
            "programIds": [p.program_id for p in dataset.programs(org_id)],
            "customers": dataset.config.customers_per_org,
        }
        for org_id in dataset.org_ids
    ]
    body = {
        "config": state.config.to_dict(),
        "faults": state.gateway.settings.to_dict(),
        "orgs": orgs,
    }
    return _json(body)


async def _counters(request: Request) -> Response:
    state: SimulatorState = request.app.state.simulator
    return _json({**state.gateway.counters.to_dict(), "day": state.dataset.day})


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise ValueError("expected a JSON object")
    return payload


def _admin_error(text: str) -> Response:
    return _json({"error": text}, 400)


async def _reset_counters(request: Request) -> Response:
    state: SimulatorState = request.app.state.simulator
    try:
        options = await _json_body(request)
    except ValueError as exc:
        return _admin_error(str(exc))
    state.gateway.counters.reset()
    if options.get("limiter"):
        state.gateway.limiter.reset()
    return _json({"ok": True})


async def _faults(request: Request) -> Response:
    state: SimulatorState = request.app.state.simulator
    try:
        settings = state.gateway.update_settings(await _json_body(request))
    except (ValueError, TypeError) as exc:
        return _admin_error(str(exc))
    return _json(settings.to_dict())


async def _add_promotion(request: Request) -> Response:
    state: SimulatorState = request.app.state.simulator
    dataset = state.dataset
    try:
        fields = await _json_body(request)
        promotion = dataset.add_promotion(
            int(fields["org_id"]),
            int(fields["program_id"]),
            name=fields.get("name"),
            description=fields.get("description"),
            points_offer_type=fields.get("points_offer_type") or fields.get("type"),
            start_date=fields.get("start_date"),
            end_date=fields.get("end_date"),
            holders_share=fields.get("holders_share"),
            no_benefit_share=fields.get("no_benefit_share"),
        )
    except KeyError as exc:
        return _admin_error(f"missing field {exc.args[0]}")
    except (ValueError, TypeError) as exc:
        return _admin_error(str(exc))
    holders = []
    customers = dataset.customers(promotion.org_id)
    for index in range(len(customers)):
        if dataset.holds(customers[index], promotion):
            holders.append(customers[index].customer_id)
            if len(holders) == 20:
                break
    body = {
        "promotionId": promotion.promotion_id,
        "promoIdentifier": promotion.identifier,
        "orgId": promotion.org_id,
        "programId": promotion.program_id,
        "status": promotion.status,
        "lastModifiedOn": promotion.last_modified_on_ms,
        "sampleHolderIds": holders,
        "promotion": catalogue_entry(promotion),
    }
    return _json(body, 201)


async def _add_program(request: Request) -> Response:
    state: SimulatorState = request.app.state.simulator
    try:
        fields = await _json_body(request)
        program = state.dataset.add_program(int(fields["org_id"]), name=fields.get("name"))
    except KeyError as exc:
        return _admin_error(f"missing field {exc.args[0]}")
    except (ValueError, TypeError) as exc:
        return _admin_error(str(exc))
    return _json(programs_body([program])["data"][0], 201)


async def _set_tier(request: Request) -> Response:
    state: SimulatorState = request.app.state.simulator
    dataset = state.dataset
    try:
        fields = await _json_body(request)
        customer_id = int(fields["customer_id"])
        program_id = int(fields["program_id"])
        dataset.set_tier(
            int(fields["org_id"]),
            customer_id,
            program_id,
            int(fields["slab_sno"]),
            slab_name=fields.get("slab_name"),
            slab_expiry_date=fields.get("slab_expiry_date"),
        )
    except KeyError as exc:
        return _admin_error(f"missing field {exc.args[0]}")
    except (ValueError, TypeError) as exc:
        return _admin_error(str(exc))
    customer = dataset.customer_by_id(customer_id)
    assert customer is not None
    return _json(dataset.loyalty_details_body(customer, program_id)["data"][0])


async def _advance(request: Request) -> Response:
    """`POST /_admin/advance`: simulate days of churn (`days.py`); what changed."""
    state: SimulatorState = request.app.state.simulator
    try:
        fields = await _json_body(request)
        unknown = sorted(set(fields) - {"days", "churn", "new_promotions", "new_promotion_holders"})
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(unknown)}")
        body = state.dataset.advance(
            fields["days"],
            churn=fields.get("churn"),
            new_promotions=fields.get("new_promotions", 0),
            new_promotion_holders=fields.get("new_promotion_holders", 0.2),
        )
    except KeyError as exc:
        return _admin_error(f"missing field {exc.args[0]}")
    except (ValueError, TypeError) as exc:
        return _admin_error(str(exc))
    return _json(body)


async def _changes(request: Request) -> Response:
    state: SimulatorState = request.app.state.simulator
    return _json(state.dataset.changes())


async def _roster_csv(request: Request) -> StreamingResponse:
    state: SimulatorState = request.app.state.simulator
    return StreamingResponse(
        state.dataset.roster_csv_chunks(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="roster.csv"'},
    )


# ----------------------------------------------------------------------- app
class SimulatedDate:
    """ASGI middleware: the simulated clock as the one `Date` header of every answer."""

    def __init__(self, app: ASGIApp, clock: SimulatedClock) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                headers.append((b"date", self.clock.http_date().encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_dated)


def _query(request: Request) -> dict[str, str]:
    return dict(request.query_params)


def _api_routes() -> list[Route]:
    """Capillary's routes, each through the gate of `_serve`."""
    return [
        *_customer_routes(),
        *_promotion_routes(),
        Route("/v3/oauth/token/generate", _token_generate, methods=["POST"]),
    ]


def _customer_routes() -> list[Route]:
    return [
        _api(
            "/v2/customers/lookup/customerDetails",
            lambda ds, r: endpoints.customer_details(ds, _query(r), r.headers),
        ),
        _api(
            "/v2/customers/lookup/customerPromotionDetails/actionSummary",
            lambda ds, r: endpoints.action_summary_v2(ds, _query(r), r.headers),
        ),
        _api(
            "/v2/customers/{customerId}/loyaltyDetails",
            lambda ds, r: endpoints.loyalty_details(
                ds, r.path_params["customerId"], _query(r), r.headers
            ),
        ),
        _api(
            # The reference page prints the path with the id missing; answer it as Capillary
            # would answer an unknown customer.
            "/v2/customers//loyaltyDetails",
            lambda ds, r: endpoints.loyalty_details(ds, "", _query(r), r.headers),
        ),
    ]


def _promotion_routes() -> list[Route]:
    return [
        _api(
            "/v2.1/customers/lookup/promotionData",
            lambda ds, r: endpoints.promotion_data(ds, _query(r), r.headers),
        ),
        _api(
            "/v2/organization/programs",
            lambda ds, r: endpoints.organization_programs(ds, _query(r), r.headers),
        ),
        _api(
            "/v3/customers/{customerId}/customerPromotionDetails/actionSummary",
            lambda ds, r: endpoints.action_summary_v3(
                ds, r.path_params["customerId"], _query(r), r.headers
            ),
            v3=True,
        ),
        _api(
            "/v3/promotions",
            lambda ds, r: endpoints.promotion_catalogue(ds, _query(r), r.headers),
            v3=True,
        ),
    ]


def _admin_routes() -> list[Route]:
    """`/_admin/`: no auth, and neither counted, limited nor faulted."""
    return [
        Route("/_admin/health", _health, methods=["GET"]),
        Route("/_admin/config", _config, methods=["GET"]),
        Route("/_admin/counters", _counters, methods=["GET"]),
        Route("/_admin/counters/reset", _reset_counters, methods=["POST"]),
        Route("/_admin/faults", _faults, methods=["POST"]),
        Route("/_admin/programs", _add_program, methods=["POST"]),
        Route("/_admin/promotions", _add_promotion, methods=["POST"]),
        Route("/_admin/tier", _set_tier, methods=["POST"]),
        Route("/_admin/advance", _advance, methods=["POST"]),
        Route("/_admin/changes", _changes, methods=["GET"]),
        Route("/_admin/roster.csv", _roster_csv, methods=["GET"]),
    ]


def create_app(
    config: SimulatorConfig | None = None, dataset: SimulatorDataset | None = None
) -> Starlette:
    """The ASGI app serving `dataset` (derived from `config` when not given)."""
    config = config or (dataset.config if dataset else SimulatorConfig())
    state = SimulatorState(config, dataset or SimulatorDataset(config))
    app = Starlette(
        routes=[*_api_routes(), *_admin_routes()],
        middleware=[Middleware(SimulatedDate, clock=state.dataset.clock)],
    )
    app.state.simulator = state
    return app
