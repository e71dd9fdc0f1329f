"""The status codes and messages the simulator serves, transcribed from the reference pages.

The simulator keeps its own table rather than importing the client's: a test compares
the two (`test_codes`), so a code typed wrong in either shows up as a difference instead
of being served and then read back by the same mistake. Sources are the pages in
`capillary-api/` and the notes beside them.
"""

from __future__ import annotations

from types import MappingProxyType

MESSAGES = MappingProxyType(
    {
        # Customer lookup, loyaltyDetails, promotionData, v2 actionSummary.
        8015: "Customer not found for the given identifiers",
        8013: "Identifier name missing or incorrect",
        8003: "Source is missing or incorrect",
        1620: "user customerid does not belong to group",
        8089: "Customer not registered for the Loyalty Program",
        310144: "Connected Orgs not set properly in Headers",
        # v2 actionSummary.
        8116: "No benefits earned by customer for the given promotion",
        8874: "promotion id passed is invalid",
        8883: "Insufficient parameters passed, program id and one of promotion id/identifier "
        "are required.",
        8105: "Error fetching promotion data. Verify programs/promotionIdentifier passed.",
        # v3 actionSummary.
        400: "Required query parameter programId or promotionId is missing",
        9001: "Program not found",
        9002: "Customer not found",
        3013: "Promotion not found",
        500: "Internal server error",
        # Authentication.
        401: "Unauthorized",
        320001: "Invalid client key or secret",
        498: "Token expired",
    }
)

NO_BENEFITS_WARNING = 8116
CONNECTED_ORGS_ERROR = 310144

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
