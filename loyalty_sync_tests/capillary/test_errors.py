"""Every documented code maps to its typed error; HTTP status decides for unknown codes."""

from __future__ import annotations

import pickle

import pytest

from loyalty_sync.capillary.errors import (
    AuthenticationError,
    BadRequest,
    CapillaryError,
    ConnectedOrgNotSet,
    CustomerNotFound,
    NotFound,
    ProgramNotFound,
    PromotionNotFound,
    RateLimited,
    RetriesExhausted,
    TokenExpired,
    TransientError,
    build_error,
    error_class,
)

DOCUMENTED = [
    (8015, 400, CustomerNotFound),
    (9002, 404, CustomerNotFound),
    (9001, 404, ProgramNotFound),
    (8089, 400, ProgramNotFound),
    (3013, 404, PromotionNotFound),
    (8874, 400, PromotionNotFound),
    (8013, 400, BadRequest),
    (8003, 400, BadRequest),
    (1620, 400, BadRequest),
    (8883, 400, BadRequest),
    (8105, 400, BadRequest),
    (400, 400, BadRequest),
    (310144, 400, ConnectedOrgNotSet),
    (401, 401, AuthenticationError),
    (320001, 401, AuthenticationError),
    (498, 401, TokenExpired),
    (429, 429, RateLimited),
    (500, 500, TransientError),
    (461, 461, TransientError),
    (521, 521, TransientError),
]


@pytest.mark.parametrize(("code", "status", "cls"), DOCUMENTED)
def test_documented_codes(code: int, status: int, cls: type[CapillaryError]) -> None:
    assert error_class(code, status) is cls
    assert cls.retryable == (code in (429, 500, 461, 521))


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (403, AuthenticationError),
        (404, NotFound),
        (429, RateLimited),
        (502, TransientError),
        (503, TransientError),
        (400, BadRequest),
        (418, BadRequest),
    ],
)
def test_unknown_codes_fall_back_to_status(status: int, cls: type[CapillaryError]) -> None:
    assert error_class(None, status) is cls
    assert error_class(777777, status) is cls


def test_code_beats_status() -> None:
    # 8105 is documented as not worth retrying even when the server calls it a 500.
    assert error_class(8105, 500) is BadRequest


def test_text_and_repr_carry_the_context() -> None:
    error = build_error(8015, "Customer not found", "customer_lookup", 400)
    assert isinstance(error, CustomerNotFound)
    assert str(error) == "Customer not found (code 8015, HTTP 400, customer_lookup)"
    assert repr(error) == (
        "CustomerNotFound(code=8015, message='Customer not found', "
        "endpoint='customer_lookup', http_status=400)"
    )


def test_retry_after_and_exhaustion() -> None:
    limited = build_error(429, "slow down", "programs", 429, retry_after=2.0)
    assert isinstance(limited, RateLimited) and limited.retry_after == 2.0
    exhausted = RetriesExhausted.after(5, limited)
    assert exhausted.attempts == 5 and exhausted.last_error is limited
    assert exhausted.code == 429 and "gave up after 5 attempts" in str(exhausted)


def test_errors_survive_pickling() -> None:
    limited = build_error(429, "slow down", "programs", 429, retry_after=2.0)
    for error in (build_error(9002, "no", "x", 404), limited, RetriesExhausted.after(3, limited)):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and repr(copy) == repr(error)
        assert str(copy) == str(error)
