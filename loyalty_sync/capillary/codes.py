"""Capillary's documented status codes, as the client reads them.

Codes come from the reference pages in `capillary-api/` and the notes beside them. The
client decides from this table whether an answer can change on retry. The simulator
keeps its own transcription (`capillary_simulator.codes`), and a test compares the two,
so a code or message typed wrong in either shows instead of agreeing with itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CodeKind(StrEnum):
    NOT_FOUND = "not_found"
    BAD_REQUEST = "bad_request"
    AUTH = "auth"
    TOKEN_EXPIRED = "token_expired"
    CONNECTED_ORG = "connected_org"
    RETRYABLE = "retryable"
    WARNING = "warning"


@dataclass(frozen=True)
class Code:
    code: int
    kind: CodeKind
    message: str

    @property
    def retryable(self) -> bool:
        return self.kind is CodeKind.RETRYABLE


_CODES = [
    # Customer lookups (v2 lookup, loyaltyDetails, promotionData, v2 actionSummary).
    Code(8015, CodeKind.NOT_FOUND, "Customer not found for the given identifiers"),
    Code(8013, CodeKind.BAD_REQUEST, "Identifier name missing or incorrect"),
    Code(8003, CodeKind.BAD_REQUEST, "Source is missing or incorrect"),
    Code(1620, CodeKind.BAD_REQUEST, "user customerid does not belong to group"),
    Code(8089, CodeKind.NOT_FOUND, "Customer not registered for the Loyalty Program"),
    Code(310144, CodeKind.CONNECTED_ORG, "Connected Orgs not set properly in Headers"),
    # v2 actionSummary.
    Code(8116, CodeKind.WARNING, "No benefits earned by customer for the given promotion"),
    Code(8874, CodeKind.NOT_FOUND, "promotion id passed is invalid"),
    Code(
        8883,
        CodeKind.BAD_REQUEST,
        "Insufficient parameters passed, program id and one of promotion id/identifier "
        "are required.",
    ),
    Code(
        8105,
        CodeKind.BAD_REQUEST,
        "Error fetching promotion data. Verify programs/promotionIdentifier passed.",
    ),
    # v3 actionSummary.
    Code(400, CodeKind.BAD_REQUEST, "Required query parameter programId or promotionId is missing"),
    Code(9001, CodeKind.NOT_FOUND, "Program not found"),
    Code(9002, CodeKind.NOT_FOUND, "Customer not found"),
    Code(3013, CodeKind.NOT_FOUND, "Promotion not found"),
    Code(500, CodeKind.RETRYABLE, "Internal server error"),
    # Authentication.
    Code(401, CodeKind.AUTH, "Unauthorized"),
    Code(320001, CodeKind.AUTH, "Invalid client key or secret"),
    Code(498, CodeKind.TOKEN_EXPIRED, "Token expired"),
    # Older retryable codes.
    Code(461, CodeKind.RETRYABLE, "Search busy, retry"),
    Code(521, CodeKind.RETRYABLE, "Concurrent actions on one customer, retry"),
]

CODES: dict[int, Code] = {c.code: c for c in _CODES}

# `source` values named on the reference pages; ALL is a lookup wildcard.
SOURCES = frozenset(
    {
        "INSTORE",
        "MARTJACK",
        "WECHAT",
        "FACEBOOK",
        "WEB_ENGAGE",
        "TMALL",
        "TAOBAO",
        "JD",
        "ECOMMERCE",
        "WEBSITE",
        "LINE",
        "MOBILE_APP",
        "MAPP_SDK",
        "ALL",
    }
)

NO_BENEFITS_WARNING = 8116
CUSTOMER_NOT_FOUND_CODES = frozenset({8015, 9002})
RETRYABLE_HTTP_STATUSES = frozenset({429, 461, 500, 502, 503, 504, 521})


def lookup(code: int) -> Code | None:
    return CODES.get(code)
