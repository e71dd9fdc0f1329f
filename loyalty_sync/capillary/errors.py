"""Typed errors for Capillary answers, chosen by Capillary code first and HTTP status second.

Callers branch on the class (a missing customer is data, a bad credential stops the run, a
429 is retried), so the mapping lives in one place. Only the client raises these; warnings
such as 8116 are never raised, they travel on the response models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loyalty_sync.capillary.codes import CodeKind, lookup


class CapillaryError(Exception):
    """An answer from Capillary that is not the data asked for.

    The text carries the code, the server's message and the endpoint, never request headers
    or credentials: the client scrubs secrets from server messages before building one.
    """

    retryable: bool = False

    def __init__(
        self,
        code: int | None,
        message: str,
        endpoint: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.endpoint = endpoint
        self.http_status = http_status
        super().__init__(self._text())

    def _text(self) -> str:
        parts = [f"code {self.code}" if self.code is not None else None]
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.endpoint:
            parts.append(self.endpoint)
        context = ", ".join(p for p in parts if p)
        return f"{self.message} ({context})" if context else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"endpoint={self.endpoint!r}, http_status={self.http_status!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle through `args` by default, which these constructors don't take.
        return (_rebuild, (type(self), dict(self.__dict__)))


class NotFound(CapillaryError):  # noqa: N818 (named after the answer, like the others)
    """The customer, program or promotion asked for does not exist; asking again cannot help."""


class CustomerNotFound(NotFound):
    """8015 (v2 lookups) or 9002 (v3): no customer for these identifiers or id."""


class ProgramNotFound(NotFound):
    """9001 (v3), or 8089: the customer is not registered in the program asked for."""


class PromotionNotFound(NotFound):
    """3013 (v3) or 8874 (v2): the promotion id or identifier is unknown."""


class BadRequest(CapillaryError):  # noqa: N818
    """The request itself is wrong (400, 8013, 8003, 8883, 1620, 8105): resending cannot help."""


class ConnectedOrgNotSet(CapillaryError):  # noqa: N818
    """310144: the org is not connected to the credential's org, or the scope headers are wrong."""


class AuthenticationError(CapillaryError):
    """Bad Basic credentials (401), bad OAuth key or secret (320001), or no permission (403)."""


class TokenExpired(AuthenticationError):  # noqa: N818
    """498: the OAuth token expired or is unknown; the client refreshes it once and resends."""


class Unreachable(CapillaryError):  # noqa: N818
    """No connection to Capillary before it has ever answered: a wrong host, port or name.

    Retrying for minutes would only delay the one line that says to fix the base URL. Once
    Capillary has answered in a process, the same failure is an outage and stays transient.
    """


class TransientError(CapillaryError):
    """An answer that may differ next time: 429, 5xx, 461, 521, timeouts, broken bodies."""

    retryable = True

    def __init__(
        self,
        code: int | None,
        message: str,
        endpoint: str | None = None,
        http_status: int | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(code, message, endpoint, http_status)


class RateLimited(TransientError):  # noqa: N818
    """429: over Capillary's per-minute limit; `retry_after` holds the server's hint in seconds."""


class MalformedResponse(TransientError):  # noqa: N818
    """A success status with a body that is not complete JSON (a cut connection, a proxy page)."""


class RetriesExhausted(CapillaryError):  # noqa: N818
    """Every attempt met a transient error; `last_error` is the final one."""

    def __init__(
        self,
        code: int | None,
        message: str,
        endpoint: str | None = None,
        http_status: int | None = None,
        *,
        attempts: int = 0,
        last_error: TransientError | None = None,
    ) -> None:
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(code, message, endpoint, http_status)

    @classmethod
    def after(cls, attempts: int, last_error: TransientError) -> RetriesExhausted:
        return cls(
            last_error.code,
            f"gave up after {attempts} attempts: {last_error.message}",
            last_error.endpoint,
            last_error.http_status,
            attempts=attempts,
            last_error=last_error,
        )


class UnusableAnswer(CapillaryError):  # noqa: N818
    """A success answer that cannot be parsed, validated or stored: JSON nested too deep,
    a field of the wrong type, a number that is not finite or out of range, a NUL byte or
    invalid UTF-8 in text, an oversized field, paging that never ends.

    Asking again at once will not help, and one bad record must not fail its org: the
    item is quarantined (recorded, its stored rows kept, fetched again next sync).
    """


def _rebuild(cls: type[CapillaryError], fields: dict[str, Any]) -> CapillaryError:
    error = cls.__new__(cls)
    error.__dict__.update(fields)
    Exception.__init__(error, error._text())
    return error


_BY_CODE: Mapping[int, type[CapillaryError]] = {
    8015: CustomerNotFound,
    9002: CustomerNotFound,
    9001: ProgramNotFound,
    8089: ProgramNotFound,
    3013: PromotionNotFound,
    8874: PromotionNotFound,
    310144: ConnectedOrgNotSet,
    498: TokenExpired,
    429: RateLimited,
}

_BY_KIND: Mapping[CodeKind, type[CapillaryError]] = {
    CodeKind.NOT_FOUND: NotFound,
    CodeKind.BAD_REQUEST: BadRequest,
    CodeKind.AUTH: AuthenticationError,
    CodeKind.TOKEN_EXPIRED: TokenExpired,
    CodeKind.CONNECTED_ORG: ConnectedOrgNotSet,
    CodeKind.RETRYABLE: TransientError,
}


def _class_for_status(http_status: int) -> type[CapillaryError]:
    if http_status == 429:
        return RateLimited
    if http_status == 498:
        return TokenExpired
    if http_status in (401, 403):
        return AuthenticationError
    if http_status == 404:
        return NotFound
    if http_status in (461, 521) or http_status >= 500:
        return TransientError
    if 400 <= http_status < 500:
        return BadRequest
    return CapillaryError


def error_class(code: int | None, http_status: int) -> type[CapillaryError]:
    """The error class for an answer: the Capillary code decides when it is known."""
    if code is not None:
        if code in _BY_CODE:
            return _BY_CODE[code]
        known = lookup(code)
        if known is not None and known.kind in _BY_KIND:
            return _BY_KIND[known.kind]
    return _class_for_status(http_status)


def build_error(
    code: int | None,
    message: str,
    endpoint: str,
    http_status: int,
    retry_after: float | None = None,
) -> CapillaryError:
    cls = error_class(code, http_status)
    if issubclass(cls, TransientError):
        return cls(code, message, endpoint, http_status, retry_after=retry_after)
    return cls(code, message, endpoint, http_status)
