"""Reading Capillary's answers: the JSON body, or the typed error the answer (or its
absence) means.

Capillary reports errors in the body as often as in the status, and a 200 can carry an
error, a warning or a shape no model accepts. Each answer is sorted here once, so that
the retry machinery sees only `TransientError` for what may change, and callers see a
one-line `UnusableAnswer` rather than a traceback for what never will. Every text from
the server passes through the redactor first: an error message can echo a credential.
"""

from __future__ import annotations

import json
import time
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from loyalty_sync.capillary.auth import Redactor
from loyalty_sync.capillary.clock import SourceClock
from loyalty_sync.capillary.envelope import first_error, retry_after_seconds, warning_codes
from loyalty_sync.capillary.errors import (
    CapillaryError,
    MalformedResponse,
    RateLimited,
    TransientError,
    Unreachable,
    UnusableAnswer,
    build_error,
)
from loyalty_sync.capillary.settings import ClientSettings
from loyalty_sync.capillary.stats import ClientStats
from loyalty_sync.capillary.vetting import problem

M = TypeVar("M", bound=BaseModel)


class AnswerReader:
    """Turns responses into bodies or typed errors, counting each kind in the stats."""

    def __init__(
        self, settings: ClientSettings, stats: ClientStats, clock: SourceClock, redactor: Redactor
    ) -> None:
        self.settings = settings
        self.stats = stats
        self.clock = clock
        self.redactor = redactor
        # Until Capillary first answers, a failed connection is a wrong address, not an outage.
        self.answered = False

    def read(self, endpoint: str, response: httpx.Response) -> Any:
        """The decoded body of a good answer; raises the typed error of any other."""
        self.answered = True
        status = response.status_code
        self.clock.observe(response.headers.get("Date"))
        body, parsed = self._decoded(endpoint, response)
        code, message = first_error(body)
        if 200 <= status < 300:
            self._vet(endpoint, status, body, parsed)
            if code is None and message is None:
                self.stats.record_warnings(warning_codes(body))
                return body
        error = build_error(
            code,
            self.redactor.scrub(message or response.reason_phrase or "error"),
            endpoint,
            status,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
        self.stats.record_error(code if code is not None else status)
        if isinstance(error, RateLimited):
            self.stats.record_throttled()
        raise error

    def no_answer(
        self, exc: httpx.TransportError, endpoint: str, deadline: float
    ) -> CapillaryError:
        """The error for an exchange that got no answer: a wrong address or an outage."""
        if isinstance(exc, httpx.TimeoutException):
            self.stats.record_error("timeout")
            if isinstance(exc, httpx.ConnectTimeout) and not self.answered:
                reason = f"no connection within {self.settings.timeout_seconds:g} s"
                return Unreachable(None, reason, endpoint)
            reason = f"{self._timeout(deadline)} ({type(exc).__name__})"
            return TransientError(None, reason, endpoint)
        self.stats.record_error("connection")
        if isinstance(exc, httpx.ConnectError) and not self.answered:
            detail = str(exc).strip() or type(exc).__name__
            return Unreachable(None, f"no connection ({detail})", endpoint)
        return TransientError(None, f"connection failed ({type(exc).__name__})", endpoint)

    def _timeout(self, deadline: float) -> str:
        if time.monotonic() >= deadline - 0.05:  # a socket wait cut to the deadline
            seconds = self.settings.request_deadline_seconds
            return f"no complete answer within the {seconds:g} s request deadline"
        return f"no answer within {self.settings.timeout_seconds:g} s"

    def _decoded(self, endpoint: str, response: httpx.Response) -> tuple[Any, bool]:
        """(body, True) for JSON or no content; (None, False) for text that is not JSON."""
        status = response.status_code
        try:
            return (json.loads(response.content) if response.content else None), True
        except UnicodeDecodeError:
            raise self.unusable("the body is not valid UTF-8", endpoint, status) from None
        except RecursionError:
            raise self.unusable("JSON nested too deep to parse", endpoint, status) from None
        except ValueError:
            return None, False

    def _vet(self, endpoint: str, status: int, body: Any, parsed: bool) -> None:
        """A 2xx body that is cut short may be whole next time; one that is absurd never is."""
        if not parsed or body is None:
            self.stats.record_error("malformed")
            raise MalformedResponse(None, "the body is not complete JSON", endpoint, status)
        found = problem(body)
        if found:
            raise self.unusable(found, endpoint, status)

    def unusable(self, what: str, endpoint: str, status: int | None = None) -> UnusableAnswer:
        """The error for an answer that will not change on retry; counted, scrubbed."""
        self.stats.record_error("unusable")
        return UnusableAnswer(None, self.redactor.scrub(what), endpoint, status)

    def validated(self, model: type[M], body: Any, endpoint: str) -> M:
        """`body` as `model`; a field of the wrong type is one line naming it, not a traceback."""
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise self.unusable(_first_problem(exc), endpoint, 200) from None


def _first_problem(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0] if errors else {"loc": (), "msg": str(exc), "input": None}
    where = ".".join(str(part) for part in first["loc"]) or "the answer"
    got = repr(first.get("input"))
    got = got if len(got) <= 40 else got[:37] + "..."
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}, got {got}{more}"
