"""The Capillary HTTP client: one method per endpoint, safe to call from many threads.

Every request takes a slot from the rate limiter, carries fresh auth headers (and the
connected-org scope headers when it is for another org), and is retried with exponential
backoff and jitter while the answer may change: 429 (after its `Retry-After`), 5xx, 461,
521, timeouts, dropped connections and bodies that are not complete JSON. Answers that
cannot change raise their typed error at once. Latency is hidden by running calls on a
bounded thread pool (`map`), so throughput is set by the rate limit, not by round trips.

httpx's timeouts are per operation (connect, each read, each write): a server that sends
a byte every few seconds never trips them and can hold a call, and the pass waiting on
it, forever. Each attempt therefore also has an overall deadline, from sending the
request to the last byte of the answer, enforced at the socket: every network operation
of the attempt waits at most what is left of it. An attempt past its deadline fails as a
timeout and is retried like one.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import httpcore
import httpx
from pydantic import BaseModel, ValidationError
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from loyalty_sync import __version__
from loyalty_sync.capillary.auth import (
    Authenticator,
    BasicAuthenticator,
    Credentials,
    OAuthAuthenticator,
    Redactor,
)
from loyalty_sync.capillary.breaker import CircuitBreaker
from loyalty_sync.capillary.clock import SourceClock
from loyalty_sync.capillary.envelope import (
    catalogue_page,
    first_error,
    retry_after_seconds,
    single_object,
    warning_codes,
)
from loyalty_sync.capillary.errors import (
    AuthenticationError,
    CapillaryError,
    MalformedResponse,
    RateLimited,
    RetriesExhausted,
    TokenExpired,
    TransientError,
    Unreachable,
    UnusableAnswer,
    build_error,
)
from loyalty_sync.capillary.models import (
    BenefitSummaryV2,
    BenefitSummaryV3,
    CataloguePromotion,
    Customer,
    CustomerPromotion,
    CustomerPromotions,
    LoyaltyDetails,
    ProgramList,
    PromotionCatalogue,
    PromotionDataPage,
)
from loyalty_sync.capillary.ratelimit import RateLimiter
from loyalty_sync.capillary.stats import ClientStats
from loyalty_sync.capillary.vetting import problem

logger = logging.getLogger("loyalty_sync.capillary")

T = TypeVar("T")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)

PROMOTION_DATA_MAX_PAGE = 100
_MAX_RETRY_AFTER_SECONDS = 300.0


@dataclass(frozen=True)
class ClientSettings:
    """How the client talks to one Capillary host; credentials are passed separately."""

    base_url: str
    own_org_id: int | None = None
    timeout_seconds: float = 10.0
    # Longest one attempt may take, answer included; timeout_seconds is per read.
    request_deadline_seconds: float = 60.0
    # Retries of one call stop when its time budget is spent (or after max_attempts):
    # long enough to wait out an outage of minutes, so one does not fail a pass.
    retry_budget_seconds: float = 300.0
    max_attempts: int = 100
    max_concurrency: int = 16
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    # Transient failures in a row (across all threads) that open the circuit breaker.
    breaker_threshold: int = 8
    # promotionData pages one customer may take (100 promotions a page): an answer that
    # is still full after this many never ends, and its customer is quarantined.
    promotion_data_max_pages: int = 50

    def __post_init__(self) -> None:
        if not self.request_deadline_seconds > 0:
            raise ValueError("request_deadline_seconds must be above 0")


# Set when the map a call runs for was abandoned (the pass stopped, by a signal or an
# error): the call's next attempt or pause ends it instead of going on for minutes.
_STOPPED: ContextVar[threading.Event | None] = ContextVar("capillary_map_stopped", default=None)


class CallAbandoned(CapillaryError):  # noqa: N818
    """The map this call ran for was abandoned: nobody waits for its answer any more."""


def _pause(seconds: float) -> None:
    """A retry's pause, cut short when the call is abandoned."""
    stopped = _STOPPED.get()
    if stopped is None:
        time.sleep(seconds)
    else:
        stopped.wait(seconds)


# Monotonic time by which the current attempt must be done; None outside an attempt. A
# context variable because each attempt runs entirely in the thread that sent it.
_DEADLINE: ContextVar[float | None] = ContextVar("capillary_request_deadline", default=None)


def _left(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    """The wait for one socket operation: httpx's own timeout, cut to the attempt's deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise expired("the request deadline has passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.start_tls(
                ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)
            )
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend with every connection wrapped in `_DeadlineStream`."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(
            path, _left(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _bound_by_deadline(http: httpx.Client) -> int:
    """Route the connections of `http` through `_DeadlineBackend`; the number of pools wrapped.

    httpx has no public setting for its network backend, so this reaches into the
    transports the client built: the default one and the proxy ones it mounted from the
    environment, each holding an httpcore pool. httpx is pinned below 0.29, and the
    deadline tests drive a real socket, so a change of these internals fails loudly.
    """
    wrapped = 0
    mounts: dict[Any, Any] = getattr(http, "_mounts", {})
    for transport in (getattr(http, "_transport", None), *mounts.values()):
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend) and not isinstance(
            backend, _DeadlineBackend
        ):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
            wrapped += 1
    return wrapped


class _Backoff:
    """Retry-After when the server gave one (plus a little jitter), else exponential + jitter."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._exponential = wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial)

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TransientError) and error.retry_after is not None:
            pause = min(error.retry_after, _MAX_RETRY_AFTER_SECONDS)
            return pause + random.uniform(0, min(1.0, 0.1 * pause + 0.05))
        return self._exponential(state)


class CapillaryClient:
    """Thread-safe Capillary client over one pooled `httpx.Client`."""

    def __init__(
        self,
        settings: ClientSettings,
        credentials: Credentials,
        limiter: RateLimiter,
        stats: ClientStats | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        if credentials.kind == "none":
            raise AuthenticationError(
                None,
                "no Capillary credentials: set a username and password, or an OAuth key and secret",
            )
        self.settings = settings
        self.limiter = limiter
        self.stats = stats or ClientStats()
        self.clock = SourceClock()
        self.breaker = CircuitBreaker(
            settings.breaker_threshold,
            probe_initial_seconds=min(1.0, settings.backoff_max_seconds),
            probe_max_seconds=settings.backoff_max_seconds,
        )
        self._redactor = Redactor()
        # Until Capillary first answers, a failed connection is a wrong address, not an outage.
        self._answered = False
        self._http = http or httpx.Client(
            base_url=settings.base_url,
            timeout=httpx.Timeout(settings.timeout_seconds),
            limits=httpx.Limits(
                max_connections=None, max_keepalive_connections=settings.max_concurrency
            ),
            headers={"Accept": "application/json", "User-Agent": f"loyalty_sync/{__version__}"},
            verify=True,
        )
        # A client passed in keeps its own transport when it has no httpcore pool to wrap.
        if not _bound_by_deadline(self._http) and http is None:
            raise RuntimeError("this httpx version gives no way to bound a request by a deadline")
        self._auth: Authenticator
        if credentials.has_oauth:
            assert credentials.oauth_key and credentials.oauth_secret
            self._auth = OAuthAuthenticator(
                credentials.oauth_key,
                credentials.oauth_secret,
                self._generate_token,
                self._redactor,
                on_refresh=self.stats.record_token_refresh,
            )
        else:
            assert credentials.username and credentials.password
            self._auth = BasicAuthenticator(
                credentials.username, credentials.password, self._redactor
            )

    @property
    def auth_kind(self) -> str:
        return self._auth.kind

    def close(self) -> None:
        self._http.close()
        self.limiter.close()

    def __enter__(self) -> CapillaryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CapillaryClient(base_url={self.settings.base_url!r}, auth={self.auth_kind!r})"

    # --- request machinery ---------------------------------------------------------------

    def _scope_headers(self, org_id: int | None) -> dict[str, str]:
        """Connected-org headers for any org other than the credential's own."""
        own = self.settings.own_org_id
        if org_id is None or own is None or int(org_id) == own:
            return {}
        return {"DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": str(int(org_id))}

    def _send(
        self,
        endpoint: str,
        method: str,
        path: str,
        headers: dict[str, str],
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
    ) -> Any:
        """One HTTP exchange after a limiter slot; returns the JSON body or raises typed.

        The exchange, from the first byte sent to the last byte of the body, must end
        within `request_deadline_seconds` of the slot.
        """
        stopped = _STOPPED.get()
        if stopped is not None and stopped.is_set():
            raise CallAbandoned(None, "the pass stopped", endpoint)
        attempt = self.breaker.before_attempt()
        self.stats.record_limiter_wait(self.limiter.acquire())
        try:
            body = self._exchange(endpoint, method, path, headers, params, json_body)
        except TransientError as exc:
            self.breaker.failed(attempt, str(exc), exc.retry_after)
            if isinstance(exc, RateLimited):
                self.limiter.throttled()
            raise
        except Unreachable:
            raise
        except CapillaryError:
            self.breaker.succeeded(attempt)  # an answer about this request: the API is up
            raise
        self.breaker.succeeded(attempt)
        self.limiter.answered()
        return body

    def _exchange(
        self,
        endpoint: str,
        method: str,
        path: str,
        headers: dict[str, str],
        params: dict[str, Any] | None,
        json_body: Any,
    ) -> Any:
        started = time.perf_counter()
        deadline = time.monotonic() + self.settings.request_deadline_seconds
        token = _DEADLINE.set(deadline)
        try:
            response = self._http.request(
                method, path, params=params, headers=headers, json=json_body
            )
        except httpx.TimeoutException as exc:
            self.stats.record_error("timeout")
            if isinstance(exc, httpx.ConnectTimeout) and not self._answered:
                reason = f"no connection within {self.settings.timeout_seconds:g} s"
                raise Unreachable(None, reason, endpoint) from None
            if time.monotonic() >= deadline - 0.05:  # a socket wait cut to the deadline
                reason = (
                    f"no complete answer within the {self.settings.request_deadline_seconds:g} s "
                    "request deadline"
                )
            else:
                reason = f"no answer within {self.settings.timeout_seconds:g} s"
            raise TransientError(None, f"{reason} ({type(exc).__name__})", endpoint) from None
        except httpx.ConnectError as exc:
            self.stats.record_error("connection")
            if not self._answered:
                raise Unreachable(None, _connect_failure(exc), endpoint) from None
            raise TransientError(
                None, f"connection failed ({type(exc).__name__})", endpoint
            ) from None
        except httpx.TransportError as exc:
            self.stats.record_error("connection")
            raise TransientError(
                None, f"connection failed ({type(exc).__name__})", endpoint
            ) from None
        finally:
            _DEADLINE.reset(token)
            self.stats.record_attempt(time.perf_counter() - started)
        return self._interpret(endpoint, response)

    def _interpret(self, endpoint: str, response: httpx.Response) -> Any:
        self._answered = True
        status = response.status_code
        self.clock.observe(response.headers.get("Date"))
        try:
            body = json.loads(response.content) if response.content else None
            parsed = True
        except UnicodeDecodeError:
            raise self._unusable("the body is not valid UTF-8", endpoint, status) from None
        except RecursionError:
            raise self._unusable("JSON nested too deep to parse", endpoint, status) from None
        except ValueError:
            body, parsed = None, False
        code, message = first_error(body)
        if 200 <= status < 300:
            if not parsed or body is None:
                self.stats.record_error("malformed")
                raise MalformedResponse(None, "the body is not complete JSON", endpoint, status)
            found = problem(body)
            if found:
                raise self._unusable(found, endpoint, status)
            if code is None and message is None:
                self.stats.record_warnings(warning_codes(body))
                return body
        error = build_error(
            code,
            self._redactor.scrub(message or response.reason_phrase or "error"),
            endpoint,
            status,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
        self.stats.record_error(code if code is not None else status)
        if isinstance(error, RateLimited):
            self.stats.record_throttled()
        raise error

    def _unusable(self, what: str, endpoint: str, status: int | None = None) -> UnusableAnswer:
        self.stats.record_error("unusable")
        return UnusableAnswer(None, self._redactor.scrub(what), endpoint, status)

    def _validated(self, model: type[M], body: Any, endpoint: str) -> M:
        """`body` as `model`; a field of the wrong type is one line naming it, not a traceback."""
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            first = errors[0] if errors else {"loc": (), "msg": str(exc), "input": None}
            where = ".".join(str(part) for part in first["loc"]) or "the answer"
            got = repr(first.get("input"))
            got = got if len(got) <= 40 else got[:37] + "..."
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise self._unusable(
                f"{where}: {first['msg']}, got {got}{more}", endpoint, 200
            ) from None

    def _authenticated(
        self, endpoint: str, path: str, org_id: int | None, params: dict[str, Any] | None
    ) -> Any:
        """One attempt; a 498 (token expired) gets one fresh token and one resend."""
        for refreshed in (False, True):
            auth_headers = self._auth.headers()
            headers = {**auth_headers, **self._scope_headers(org_id)}
            try:
                return self._send(endpoint, "GET", path, headers, params=params)
            except TokenExpired:
                if refreshed or self._auth.kind != "oauth":
                    raise
                logger.info("Capillary token expired on %s; fetching a new one", endpoint)
                self._auth.invalidate(auth_headers)
        raise AssertionError("unreachable")

    def _retrying(self, endpoint: str) -> Retrying:
        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            self.stats.record_retry(_cause(error))
            # Summed by cause in the stats; an outage is announced once by the breaker.
            logger.debug(
                "Capillary %s: %s; retry %d in %.2f s",
                endpoint,
                error,
                state.attempt_number,
                state.upcoming_sleep,
            )

        return Retrying(
            stop=stop_after_delay(self.settings.retry_budget_seconds)
            | stop_after_attempt(self.settings.max_attempts),
            wait=_Backoff(self.settings.backoff_initial_seconds, self.settings.backoff_max_seconds),
            retry=retry_if_exception_type(TransientError),
            before_sleep=before_sleep,
            sleep=_pause,
        )

    def _call(self, fn: Callable[[], T], endpoint: str) -> T:
        try:
            return self._retrying(endpoint)(fn)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            assert isinstance(last, TransientError)
            raise RetriesExhausted.after(exc.last_attempt.attempt_number, last) from None

    def get(
        self,
        endpoint: str,
        path: str,
        org_id: int | None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """GET `path` with auth, scope headers, limiter and retries; the decoded JSON body."""
        self.stats.record_call(endpoint)
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return self._call(lambda: self._authenticated(endpoint, path, org_id, clean), endpoint)

    def _generate_token(self, key: str, secret: str) -> tuple[str, float]:
        """POST /v3/oauth/token/generate; called by the authenticator under its lock."""
        endpoint = "oauth_token"
        self.stats.record_token_request()
        body = self._send(
            endpoint,
            "POST",
            "/v3/oauth/token/generate",
            {},
            json_body={"key": key, "secret": secret},
        )
        data = body.get("data") if isinstance(body, dict) else None
        token = data.get("accessToken") if isinstance(data, dict) else None
        if not token:
            raise MalformedResponse(None, "token answer without data.accessToken", endpoint, 200)
        ttl = data.get("ttlSeconds")
        return str(token), float(ttl) if isinstance(ttl, int | float) and ttl > 0 else 3600.0

    # --- endpoints -----------------------------------------------------------------------

    def lookup_customer(
        self,
        org_id: int | None,
        identifier_name: str,
        identifier_value: str | int,
        *,
        source: str = "INSTORE",
        account_id: str | None = None,
        embed: Sequence[str] = ("mlp",),
    ) -> Customer:
        """GET /v2/customers/lookup/customerDetails (embed=mlp brings per-program details)."""
        body = self.get(
            "customer_lookup",
            "/v2/customers/lookup/customerDetails",
            org_id,
            {
                "source": source,
                "identifierName": identifier_name,
                "identifierValue": str(identifier_value),
                "accountId": account_id,
                "embed": ",".join(embed) if embed else None,
            },
        )
        return self._validated(Customer, single_object(body), "customer_lookup")

    def loyalty_details(
        self, org_id: int | None, customer_id: int, program_id: int | None = None
    ) -> LoyaltyDetails:
        """GET /v2/customers/{customerId}/loyaltyDetails."""
        body = self.get(
            "loyalty_details",
            f"/v2/customers/{int(customer_id)}/loyaltyDetails",
            org_id,
            {"programId": program_id},
        )
        details = self._validated(
            LoyaltyDetails, body if isinstance(body, dict) else {"data": body}, "loyalty_details"
        )
        if details.customer_id is None:
            details.customer_id = int(customer_id)
        return details

    def promotion_data_pages(
        self,
        org_id: int | None,
        identifier_name: str,
        identifier_value: str | int,
        source: str = "INSTORE",
        page_size: int = PROMOTION_DATA_MAX_PAGE,
    ) -> Iterator[PromotionDataPage]:
        """Pages of GET /v2.1/customers/lookup/promotionData (limit/offset), lazily."""
        if not 1 <= page_size <= PROMOTION_DATA_MAX_PAGE:
            raise ValueError(f"promotionData page_size must be 1..{PROMOTION_DATA_MAX_PAGE}")
        offset = 0
        pages = 0
        while True:
            body = self.get(
                "promotion_data",
                "/v2.1/customers/lookup/promotionData",
                org_id,
                {
                    "identifierName": identifier_name,
                    "identifierValue": str(identifier_value),
                    "source": source,
                    "limit": page_size,
                    "offset": offset,
                },
            )
            page = self._validated(PromotionDataPage, body, "promotion_data")
            pages += 1
            yield page
            count = len(page.promotions)
            offset += count
            details = page.page_details
            if count < page_size:
                return
            if details is None:
                continue
            if details.total_entries is not None:
                if offset >= details.total_entries:
                    return
            elif details.page_count is not None and pages >= details.page_count:
                return

    def promotion_data(
        self,
        org_id: int | None,
        identifier_name: str,
        identifier_value: str | int,
        source: str = "INSTORE",
        page_size: int = PROMOTION_DATA_MAX_PAGE,
    ) -> CustomerPromotions:
        """Every promotion the customer holds, across all pages, each once."""
        result = CustomerPromotions()
        seen: dict[tuple[Any, ...], CustomerPromotion] = {}
        cap = self.settings.promotion_data_max_pages
        for page in self.promotion_data_pages(
            org_id, identifier_name, identifier_value, source, page_size
        ):
            if result.pages >= cap:  # a page beyond the cap: this answer never ends
                raise self._unusable(
                    f"more than {cap} pages ({len(seen):,} promotions so far): paging stopped "
                    "at the page cap (promotion_data_max_pages)",
                    "promotion_data",
                )
            result.pages += 1
            result.warnings.extend(page.warnings)
            if result.customer_id is None:
                result.customer_id = page.customer_id
            on_page: dict[tuple[Any, ...], CustomerPromotion] = {}
            for promotion in page.promotions:
                key = (promotion.org_id, promotion.program_id, promotion.promotion_id)
                if key in seen:
                    raise self._unusable(
                        f"page {result.pages} repeats promotion {key[2]} of an earlier "
                        f"page: paging that may never end was stopped",
                        "promotion_data",
                    )
                on_page.setdefault(key, promotion)
            seen.update(on_page)
        result.promotions = list(seen.values())
        return result

    def action_summary_v3(
        self,
        org_id: int | None,
        customer_id: int,
        program_id: int,
        promotion_id: int,
        activity_id: str | None = None,
    ) -> BenefitSummaryV3:
        """GET /v3/customers/{customerId}/customerPromotionDetails/actionSummary."""
        body = self.get(
            "action_summary_v3",
            f"/v3/customers/{int(customer_id)}/customerPromotionDetails/actionSummary",
            org_id,
            {"programId": program_id, "promotionId": promotion_id, "activityId": activity_id},
        )
        summary = self._validated(BenefitSummaryV3, body, "action_summary_v3")
        if summary.entity_id is None:
            summary.entity_id = int(customer_id)
        return summary

    def action_summary_v2(
        self,
        org_id: int | None,
        identifier_name: str,
        identifier_value: str | int,
        program_id: int | None,
        *,
        promotion_id: int | str | None = None,
        promotion_identifier: str | None = None,
        source: str = "INSTORE",
    ) -> BenefitSummaryV2:
        """GET /v2/customers/lookup/customerPromotionDetails/actionSummary (by identifier)."""
        body = self.get(
            "action_summary_v2",
            "/v2/customers/lookup/customerPromotionDetails/actionSummary",
            org_id,
            {
                "source": source,
                "identifierName": identifier_name,
                "identifierValue": str(identifier_value),
                "programId": program_id,
                "promotionId": promotion_id,
                "promotionIdentifier": promotion_identifier,
            },
        )
        return self._validated(BenefitSummaryV2, body, "action_summary_v2")

    def programs(self, org_id: int | None) -> ProgramList:
        """GET /v2/organization/programs (v2 envelope or a bare list)."""
        body = self.get("programs", "/v2/organization/programs", org_id)
        return self._validated(ProgramList, body, "programs")

    def promotion_catalogue_pages(
        self, org_id: int | None, status: str | None = None, page_size: int = 100
    ) -> Iterator[list[CataloguePromotion]]:
        """Pages of GET /v3/promotions sorted by last modification, lazily (for sensors)."""
        page = 0
        while True:
            body = self.get(
                "promotion_catalogue",
                "/v3/promotions",
                org_id,
                {"page": page, "size": page_size, "status": status, "sortBy": "lastModifiedOn"},
            )
            items, total_pages, total_items = catalogue_page(body)
            yield [
                self._validated(CataloguePromotion, item, "promotion_catalogue") for item in items
            ]
            page += 1
            if len(items) < page_size:
                return
            if total_pages is not None and page >= total_pages:
                return
            if total_items is not None and page * page_size >= total_items:
                return

    def promotion_catalogue(
        self,
        org_id: int | None,
        status: str | None = None,
        page_size: int = 100,
        max_pages: int | None = None,
    ) -> PromotionCatalogue:
        """The promotion catalogue, each promotion once; `max_pages` reads only the newest."""
        result = PromotionCatalogue()
        seen: dict[Any, CataloguePromotion] = {}
        for items in self.promotion_catalogue_pages(org_id, status, page_size):
            result.pages += 1
            for item in items:
                seen.setdefault(
                    item.promotion_id if item.promotion_id is not None else id(item), item
                )
            if max_pages is not None and result.pages >= max_pages and len(items) == page_size:
                result.complete = False
                break
        result.promotions = list(seen.values())
        return result

    # --- concurrency ---------------------------------------------------------------------

    def imap(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        return_exceptions: bool = False,
        prefetch: int = 0,
    ) -> Iterator[R | Exception]:
        """`fn` over `items` on `max_concurrency` threads, results in input order.

        At most twice the pool size plus `prefetch` items are submitted ahead of the
        consumer, so a roster of any length streams in constant memory. A consumer that
        stops to write every N results should pass `prefetch=N`: the pool then keeps
        taking rate-limit slots while it writes, instead of idling once its two-per-thread
        window is done, and a slot missed is time lost for good. With
        `return_exceptions`, an item's exception is yielded in its place instead of
        stopping the whole map.
        """
        window = max(1, self.settings.max_concurrency) * 2 + max(0, prefetch)
        pending: list[Future[R]] = []
        stopped = threading.Event()

        def run(item: T) -> R:
            token = _STOPPED.set(stopped)
            try:
                return fn(item)
            finally:
                _STOPPED.reset(token)

        pool = ThreadPoolExecutor(
            max_workers=max(1, self.settings.max_concurrency), thread_name_prefix="capillary"
        )
        done = False
        try:
            for item in items:
                pending.append(pool.submit(run, item))
                if len(pending) >= window:
                    yield _result(pending.pop(0), return_exceptions)
            while pending:
                yield _result(pending.pop(0), return_exceptions)
            done = True
        finally:
            # Abandoned (a signal, an error): calls in flight end at their next attempt
            # or pause, and nobody waits for them; a stop takes seconds, not minutes.
            if not done:
                stopped.set()
            pool.shutdown(wait=done, cancel_futures=not done)

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], *, return_exceptions: bool = False
    ) -> list[R | Exception]:
        """`imap` collected into a list."""
        return list(self.imap(fn, items, return_exceptions=return_exceptions))


def _cause(error: BaseException | None) -> str:
    """What a retry was for, as counted in `retries_by_cause`."""
    if isinstance(error, RateLimited):
        return "429"
    if isinstance(error, MalformedResponse):
        return "malformed"
    if isinstance(error, TransientError) and error.http_status:
        return str(error.http_status)
    if isinstance(error, TransientError) and "connection" in error.message:
        return "connection"
    return "timeout" if isinstance(error, TransientError) else "other"


def _connect_failure(exc: httpx.ConnectError) -> str:
    """Why no connection was made, in the operating system's words (refused, unknown name)."""
    detail = str(exc).strip() or type(exc).__name__
    return f"no connection ({detail})"


def _result(future: Future[R], return_exceptions: bool) -> R | Exception:
    if not return_exceptions:
        return future.result()
    try:
        return future.result()
    except Exception as exc:
        return exc


__all__ = ["CapillaryClient", "CapillaryError", "ClientSettings"]
