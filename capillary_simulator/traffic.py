"""What happens to a request before an endpoint sees it: auth, rate limit, faults, counts.

Runtime state lives here, apart from the data: OAuth tokens, the per-credential sliding
window of the rate limiter, the injected faults and the counters that tests and
benchmarks read from `GET /_admin/counters`. Time is `time.monotonic()`; none of it leaks
into response bodies, which stay deterministic.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import random
from collections import Counter, deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from capillary_simulator.config import FaultSettings, SimulatorConfig
from capillary_simulator.hashing import Tag, mix

WINDOW_SECONDS = 60.0
ANONYMOUS = "(anonymous)"


class Fault(Enum):
    NONE = "none"
    SERVER_ERROR = "server_error"
    HANG = "hang"
    MALFORMED = "malformed"


SERVER_ERROR_STATUSES = (500, 502, 503)


class SlidingWindow:
    """Timestamps of the last `WINDOW_SECONDS`; O(1) amortised per event."""

    __slots__ = ("_times", "peak")

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self.peak = 0

    def _expire(self, now: float) -> None:
        horizon = now - WINDOW_SECONDS
        times = self._times
        while times and times[0] <= horizon:
            times.popleft()

    def count(self, now: float) -> int:
        self._expire(now)
        return len(self._times)

    def add(self, now: float) -> None:
        self._expire(now)
        self._times.append(now)
        self.peak = max(self.peak, len(self._times))

    def wait_for_room(self, now: float, limit: int) -> float:
        """Seconds until fewer than `limit` events remain in the window."""
        self._expire(now)
        excess = len(self._times) - limit
        if excess < 0:
            return 0.0
        return self._times[excess] + WINDOW_SECONDS - now


@dataclass
class CredentialStats:
    requests: int = 0
    accepted: int = 0
    rate_limited: int = 0
    received_window: SlidingWindow = field(default_factory=SlidingWindow)
    accepted_window: SlidingWindow = field(default_factory=SlidingWindow)

    def to_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "rate_limited": self.rate_limited,
            "max_requests_in_60s": self.received_window.peak,
            "max_accepted_in_60s": self.accepted_window.peak,
        }


TOKEN_ENDPOINT = "/v3/oauth/token/generate"


class Counters:
    """What the server saw and answered, for `GET /_admin/counters`.

    `api_requests` leaves out `token_requests` (OAuth token generation fetches no data), so
    it compares with a client's calls plus retries.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.by_endpoint: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.by_code: Counter[int] = Counter()
        self.rate_limited = 0
        self.faults: Counter[str] = Counter()
        self.credentials: dict[str, CredentialStats] = {}

    def received(self, endpoint: str, credential: str, now: float) -> None:
        self.total += 1
        self.by_endpoint[endpoint] += 1
        stats = self.credentials.get(credential)
        if stats is None:
            stats = self.credentials[credential] = CredentialStats()
        stats.requests += 1
        stats.received_window.add(now)

    def accepted(self, credential: str, now: float) -> None:
        stats = self.credentials[credential]
        stats.accepted += 1
        stats.accepted_window.add(now)

    def limited(self, credential: str) -> None:
        self.rate_limited += 1
        self.credentials[credential].rate_limited += 1

    def answered(self, status: int, codes: tuple[int, ...]) -> None:
        self.by_status[status] += 1
        for code in codes:
            self.by_code[code] += 1

    def to_dict(self) -> dict[str, Any]:
        tokens = self.by_endpoint.get(TOKEN_ENDPOINT, 0)
        return {
            "total_requests": self.total,
            "api_requests": self.total - tokens,
            "token_requests": tokens,
            "requests_by_endpoint": dict(sorted(self.by_endpoint.items())),
            "responses_by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "responses_by_code": {str(k): v for k, v in sorted(self.by_code.items())},
            "rate_limited": self.rate_limited,
            "faults": {f.value: self.faults[f.value] for f in Fault if f is not Fault.NONE},
            "credentials": {k: v.to_dict() for k, v in sorted(self.credentials.items())},
        }


class RateLimiter:
    """Per credential: refuse when the accepted requests of the last 60 s reach the limit."""

    def __init__(self) -> None:
        self._windows: dict[str, SlidingWindow] = {}

    def admit(self, credential: str, now: float, limit: int | None) -> int | None:
        """None when admitted (and counted); else whole seconds to put in `Retry-After`."""
        window = self._windows.get(credential)
        if window is None:
            window = self._windows[credential] = SlidingWindow()
        if limit:
            wait = window.wait_for_room(now, limit)
            if wait > 0:
                return max(1, math.ceil(wait))
        window.add(now)
        return None

    def reset(self) -> None:
        self._windows.clear()


class TokenStore:
    """OAuth tokens issued by `POST /v3/oauth/token/generate`, with their expiry."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._issued = 0
        self._tokens: dict[str, tuple[str, float]] = {}

    def issue(self, key: str, now: float, ttl_seconds: int) -> str:
        self._issued += 1
        raw = f"{mix(self._seed, Tag.TOKEN, self._issued)}:{key}:{self._issued}".encode()
        token = hashlib.sha256(raw).hexdigest()[:40]
        if len(self._tokens) > 10_000:
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
        self._tokens[token] = (key, now + ttl_seconds)
        return token

    def holder(self, token: str, now: float) -> str | None:
        """The key a live token was issued to, or None when unknown or expired."""
        entry = self._tokens.get(token)
        if entry is None or entry[1] <= now:
            return None
        return entry[0]


@dataclass(frozen=True)
class Identity:
    """Who a request claims to be (for counting) and whether the claim holds."""

    credential: str
    refusal_code: int | None = None  # 401 (bad Basic) or 498 (bad token)


class Gateway:
    """Auth, rate limiting, fault draws and counters for one running simulator."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.settings: FaultSettings = config.fault_settings()
        self.counters = Counters()
        self.limiter = RateLimiter()
        self.tokens = TokenStore(config.seed)
        self._fault_rng = random.Random(mix(config.seed, Tag.FAULTS))
        self._latency_rng = random.Random(mix(config.seed, Tag.LATENCY))
        self._server_errors = 0
        self._password_digest = hashlib.md5(config.password.encode()).hexdigest()

    def identify(self, headers: Any, now: float) -> Identity:
        token = headers.get("x-cap-api-oauth-token")
        if token:
            key = self.tokens.holder(token.strip(), now)
            if key is None:
                return Identity("(unknown token)", 498)
            return Identity(key)
        authorization = headers.get("authorization") or ""
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return Identity(ANONYMOUS, 401)
        try:
            username, _, digest = base64.b64decode(encoded.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return Identity(ANONYMOUS, 401)
        if username != self.config.username or digest.lower() != self._password_digest:
            return Identity(username or ANONYMOUS, 401)
        return Identity(username)

    def check_oauth_client(self, key: str, secret: str) -> bool:
        return key == self.config.oauth_key and secret == self.config.oauth_secret

    def draw_fault(self) -> Fault:
        settings = self.settings
        if not (settings.error_rate or settings.hang_rate or settings.malformed_rate):
            return Fault.NONE
        draw = self._fault_rng.random()
        if draw < settings.error_rate:
            fault = Fault.SERVER_ERROR
        elif draw < settings.error_rate + settings.hang_rate:
            fault = Fault.HANG
        elif draw < settings.error_rate + settings.hang_rate + settings.malformed_rate:
            fault = Fault.MALFORMED
        else:
            return Fault.NONE
        self.counters.faults[fault.value] += 1
        return fault

    def draw_throttle(self) -> bool:
        """True for the share of requests the `throttle_rate` fault answers 429."""
        rate = self.settings.throttle_rate
        return bool(rate) and self._fault_rng.random() < rate

    def next_server_error_status(self) -> int:
        """500, 502, 503 in turn."""
        status = SERVER_ERROR_STATUSES[self._server_errors % len(SERVER_ERROR_STATUSES)]
        self._server_errors += 1
        return status

    def delay_seconds(self) -> float:
        settings = self.settings
        if not settings.latency_ms and not settings.jitter_ms:
            return 0.0
        jitter = self._latency_rng.uniform(-settings.jitter_ms, settings.jitter_ms)
        return max(0.0, settings.latency_ms + jitter) / 1000.0

    def update_settings(self, changes: dict[str, Any]) -> FaultSettings:
        self.settings = self.settings.updated(changes)
        return self.settings
