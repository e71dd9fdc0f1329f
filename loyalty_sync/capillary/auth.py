"""Capillary credentials and the headers that carry them, kept out of every printed form.

Basic auth sends `base64(username:md5hex(password))`; OAuth trades key and secret for a
token that expires. The token is shared by all threads of a client and refreshed by one of
them, a little before it expires and again when Capillary answers 498. Every secret value
(and each form derived from it) is registered with a `Redactor`, so that text from the
server can be scrubbed before it reaches an exception or a log line.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

OAUTH_TOKEN_HEADER = "X-CAP-API-OAUTH-TOKEN"
_REDACTED = "***"


class Redactor:
    """Replaces each registered secret in a text with `***`; grows as tokens arrive."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            # Very short values would mangle ordinary words; no real credential is that short.
            self._secrets.update(s for s in secrets if s and len(s) >= 4)

    def scrub(self, text: str) -> str:
        with self._lock:
            ordered = sorted(self._secrets, key=len, reverse=True)
        for secret in ordered:
            text = text.replace(secret, _REDACTED)
        return text


@dataclass(frozen=True, repr=False)
class Credentials:
    """One Capillary API user: Basic (username, password) and/or OAuth (key, secret)."""

    username: str | None = None
    password: str | None = field(default=None)
    oauth_key: str | None = None
    oauth_secret: str | None = field(default=None)

    @property
    def has_oauth(self) -> bool:
        return bool(self.oauth_key and self.oauth_secret)

    @property
    def has_basic(self) -> bool:
        return bool(self.username and self.password)

    @property
    def kind(self) -> str:
        """`oauth` when both kinds are configured (OAuth is preferred), else `basic`."""
        if self.has_oauth:
            return "oauth"
        if self.has_basic:
            return "basic"
        return "none"

    @property
    def principal(self) -> str:
        """Who the requests count against: the OAuth key or the user name (never a secret)."""
        return (self.oauth_key if self.has_oauth else self.username) or ""

    def __repr__(self) -> str:
        return f"Credentials(kind={self.kind!r})"

    __str__ = __repr__


def password_digest(password: str) -> str:
    return hashlib.md5(password.encode("utf-8")).hexdigest()


def basic_header_value(username: str, password: str) -> str:
    pair = f"{username}:{password_digest(password)}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


class Authenticator(Protocol):
    kind: str

    def headers(self) -> dict[str, str]:
        """Headers to authenticate one request (may fetch a token)."""
        ...

    def invalidate(self, used: dict[str, str]) -> None:
        """Forget the credential that `used` carried, after Capillary rejected it as expired."""
        ...


class BasicAuthenticator:
    kind = "basic"

    def __init__(self, username: str, password: str, redactor: Redactor) -> None:
        value = basic_header_value(username, password)
        redactor.add(password, password_digest(password), value, value.removeprefix("Basic "))
        self._headers = {"Authorization": value}

    def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def invalidate(self, used: dict[str, str]) -> None:
        """A Basic credential does not expire; nothing to refresh."""

    def __repr__(self) -> str:
        return "BasicAuthenticator()"


@dataclass(frozen=True, repr=False)
class OAuthToken:
    value: str
    expires_at: float  # on the monotonic clock
    ttl_seconds: float

    def __repr__(self) -> str:
        return f"OAuthToken(ttl_seconds={self.ttl_seconds})"


TokenFetcher = Callable[[str, str], tuple[str, float]]


class OAuthAuthenticator:
    """Holds one token for all threads; refreshes it before expiry or after a 498."""

    kind = "oauth"

    def __init__(
        self,
        key: str,
        secret: str,
        fetch_token: TokenFetcher,
        redactor: Redactor,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_refresh: Callable[[], None] | None = None,
    ) -> None:
        redactor.add(secret)
        self._key = key
        self._secret = secret
        self._fetch = fetch_token
        self._redactor = redactor
        self._clock = clock
        self._on_refresh = on_refresh
        self._lock = threading.Lock()
        self._token: OAuthToken | None = None

    @staticmethod
    def refresh_margin(ttl_seconds: float) -> float:
        """How long before expiry to renew: a tenth of the lifetime, at most a minute."""
        return min(60.0, 0.1 * ttl_seconds)

    def _current(self) -> OAuthToken:
        with self._lock:
            token = self._token
            now = self._clock()
            if token is None or now >= token.expires_at - self.refresh_margin(token.ttl_seconds):
                value, ttl = self._fetch(self._key, self._secret)
                self._redactor.add(value)
                token = OAuthToken(value=value, expires_at=now + ttl, ttl_seconds=ttl)
                self._token = token
                if self._on_refresh is not None:
                    self._on_refresh()
            return token

    def headers(self) -> dict[str, str]:
        return {OAUTH_TOKEN_HEADER: self._current().value}

    def invalidate(self, used: dict[str, str]) -> None:
        # Only the thread holding the stale token clears it; a token another thread already
        # refreshed stays.
        with self._lock:
            if self._token is not None and used.get(OAUTH_TOKEN_HEADER) == self._token.value:
                self._token = None

    def __repr__(self) -> str:
        return "OAuthAuthenticator()"
