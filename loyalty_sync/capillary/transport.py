"""One authenticated GET to Capillary, with everything that keeps it safe to repeat.

Every attempt waits for the circuit breaker and a rate-limiter slot, carries fresh auth
headers (and the connected-org scope headers when it is for another org), and must end
within its deadline. The breaker hears of every outcome: a transient failure counts
towards an outage, any answer about the request itself shows the API is up. A 498 gets
one fresh token and one resend; other transient failures go to the retry machinery.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from loyalty_sync import __version__
from loyalty_sync.capillary.answers import AnswerReader
from loyalty_sync.capillary.auth import (
    Authenticator,
    BasicAuthenticator,
    Credentials,
    OAuthAuthenticator,
    Redactor,
)
from loyalty_sync.capillary.breaker import CircuitBreaker
from loyalty_sync.capillary.clock import SourceClock
from loyalty_sync.capillary.deadline import attempt_deadline, bound_by_deadline
from loyalty_sync.capillary.errors import (
    AuthenticationError,
    CapillaryError,
    MalformedResponse,
    RateLimited,
    TokenExpired,
    TransientError,
    Unreachable,
)
from loyalty_sync.capillary.pool import CallAbandoned, abandoned
from loyalty_sync.capillary.ratelimit import RateLimiter
from loyalty_sync.capillary.requeue import call_history
from loyalty_sync.capillary.retrying import with_retries
from loyalty_sync.capillary.settings import ClientSettings
from loyalty_sync.capillary.stats import ClientStats

logger = logging.getLogger("loyalty_sync.capillary")


def _http_client(settings: ClientSettings) -> httpx.Client:
    http = httpx.Client(
        base_url=settings.base_url,
        timeout=httpx.Timeout(settings.timeout_seconds),
        limits=httpx.Limits(
            max_connections=None, max_keepalive_connections=settings.max_concurrency
        ),
        headers={"Accept": "application/json", "User-Agent": f"loyalty_sync/{__version__}"},
        verify=True,
    )
    if not bound_by_deadline(http):
        raise RuntimeError("this httpx version gives no way to bound a request by a deadline")
    return http


class Transport:
    """Thread-safe exchanges with one Capillary host over one pooled `httpx.Client`."""

    def __init__(
        self,
        settings: ClientSettings,
        credentials: Credentials,
        limiter: RateLimiter,
        stats: ClientStats,
        http: httpx.Client | None = None,
    ) -> None:
        if credentials.kind == "none":
            raise AuthenticationError(
                None,
                "no Capillary credentials: set a username and password, or an OAuth key and secret",
            )
        self.settings = settings
        self.limiter = limiter
        self.stats = stats
        self.clock = SourceClock()
        self.breaker = CircuitBreaker(
            settings.breaker_threshold,
            probe_initial_seconds=min(1.0, settings.backoff_max_seconds),
            probe_max_seconds=settings.backoff_max_seconds,
        )
        redactor = Redactor()
        self.answers = AnswerReader(settings, stats, self.clock, redactor)
        self._http = _http_client(settings) if http is None else http
        # A client passed in keeps its own transport when it has no httpcore pool to wrap.
        bound_by_deadline(self._http)
        self.auth = self._authenticator(credentials, redactor)

    def _authenticator(self, credentials: Credentials, redactor: Redactor) -> Authenticator:
        if credentials.has_oauth:
            assert credentials.oauth_key and credentials.oauth_secret
            return OAuthAuthenticator(
                credentials.oauth_key,
                credentials.oauth_secret,
                self._generate_token,
                redactor,
                on_refresh=self.stats.record_token_refresh,
            )
        assert credentials.username and credentials.password
        return BasicAuthenticator(credentials.username, credentials.password, redactor)

    def close(self) -> None:
        self._http.close()
        self.limiter.close()

    def get(
        self, endpoint: str, path: str, org_id: int | None, params: dict[str, Any] | None = None
    ) -> Any:
        """GET `path` with auth, scope headers, limiter and retries; the decoded JSON body."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        history = call_history((endpoint, path, org_id, repr(sorted(clean.items()))))
        if history is None or history.started is None:
            self.stats.record_call(endpoint)  # once, however many runs its retries take
        return with_retries(
            lambda: self._authenticated(endpoint, path, org_id, clean),
            self.settings,
            self.stats,
            endpoint,
            history,
            lambda: self.breaker.failures_in_a_row,
        )

    def _scope_headers(self, org_id: int | None) -> dict[str, str]:
        """Connected-org headers for any org other than the credential's own."""
        own = self.settings.own_org_id
        if org_id is None or own is None or int(org_id) == own:
            return {}
        return {"DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": str(int(org_id))}

    def _authenticated(
        self, endpoint: str, path: str, org_id: int | None, params: dict[str, Any]
    ) -> Any:
        """One attempt; a 498 (token expired) gets one fresh token and one resend."""
        for refreshed in (False, True):
            auth_headers = self.auth.headers()
            headers = {**auth_headers, **self._scope_headers(org_id)}
            try:
                return self._send(endpoint, "GET", path, headers, params=params)
            except TokenExpired:
                if refreshed or self.auth.kind != "oauth":
                    raise
                logger.info("Capillary token expired on %s; fetching a new one", endpoint)
                self.auth.invalidate(auth_headers)
        raise AssertionError("unreachable")

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
        """One HTTP exchange after a limiter slot; returns the JSON body or raises typed."""
        if abandoned():
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
        """The request and its whole answer, within `request_deadline_seconds` of sending."""
        started = time.perf_counter()
        try:
            with attempt_deadline(self.settings.request_deadline_seconds) as deadline:
                try:
                    response = self._http.request(
                        method, path, params=params, headers=headers, json=json_body
                    )
                except httpx.TransportError as exc:
                    raise self.answers.no_answer(exc, endpoint, deadline) from None
        finally:
            self.stats.record_attempt(time.perf_counter() - started)
        return self.answers.read(endpoint, response)

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
