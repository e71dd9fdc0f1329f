"""Ids and identifier values that encode their record's position, and their inverses.

A lookup by mobile, email, external id, card number, WeChat id or customer id decodes the
value to (org index, customer index); the caller then derives that customer and compares
the full value. No table of identifiers is ever built, so a simulator of millions of
customers starts as fast as one of ten.
"""

from __future__ import annotations

import re
from typing import NamedTuple

ORG_ID_BASE = 51135
PROGRAM_ID_BASE = 2568
CUSTOMER_ID_BASE = 387_000_000
CUSTOMER_ID_STRIDE = 10_000_000  # customers per org the id space allows
PROMOTION_ID_BASE = 1_100_000_000
PROMOTION_ID_STRIDE = 1_000_000  # promotions per program the id space allows
CARD_ID_BASE = 900_000
ORG_MOBILE_BASE = 60  # mobile numbers: "91" + (60 + org index) + 8-digit customer index
UNKNOWN_INDEX_TOP = 99_999_999  # unknown roster rows count down from here


class Position(NamedTuple):
    org_index: int
    index: int


def org_id(org_index: int) -> int:
    return ORG_ID_BASE + org_index


def customer_id(org_index: int, index: int) -> int:
    return CUSTOMER_ID_BASE + org_index * CUSTOMER_ID_STRIDE + index


def customer_position(value: int) -> Position | None:
    offset = value - CUSTOMER_ID_BASE
    if offset < 0:
        return None
    return Position(*divmod(offset, CUSTOMER_ID_STRIDE))


def promotion_id(program_index: int, index: int) -> int:
    return PROMOTION_ID_BASE + program_index * PROMOTION_ID_STRIDE + index


def promotion_position(value: int) -> tuple[int, int] | None:
    """(global program index, promotion index within the program), or None."""
    offset = value - PROMOTION_ID_BASE
    if offset < 0:
        return None
    program_index, index = divmod(offset, PROMOTION_ID_STRIDE)
    return program_index, index


def loyalty_id(program_id: int, index: int) -> int:
    return program_id * CUSTOMER_ID_STRIDE + index


def card_id(org_index: int, index: int) -> int:
    return CARD_ID_BASE + customer_id(org_index, index) - CUSTOMER_ID_BASE


def mobile(org_index: int, index: int) -> str:
    return f"91{ORG_MOBILE_BASE + org_index:02d}{index:08d}"


def email(org_index: int, index: int, first_name: str, last_name: str) -> str:
    return f"{first_name.lower()}.{last_name.lower()}.{index}@org{org_id(org_index)}.example.com"


def external_id(org_index: int, index: int) -> str:
    return f"EXT-{org_id(org_index)}-{index:08d}"


def card_number(org_index: int, index: int) -> str:
    return f"mtest{org_id(org_index)}{index:010d}"


def wechat_id(org_index: int, index: int) -> str:
    return f"wx-{org_id(org_index)}-{index:08d}"


def wechat_account(org_index: int) -> str:
    return f"WX{org_id(org_index)}"


_MOBILE = re.compile(r"^91(\d{2})(\d{8})$")
_EMAIL = re.compile(r"^[a-z]+\.[a-z]+\.(\d+)@org(\d+)\.example\.com$")
_EXTERNAL = re.compile(r"^EXT-(\d+)-(\d{8})$")
_CARD = re.compile(r"^mtest(\d{5})(\d{10})$")
_WECHAT = re.compile(r"^wx-(\d+)-(\d{8})$")


def _by_org_id(org_text: str, index_text: str) -> Position:
    return Position(int(org_text) - ORG_ID_BASE, int(index_text))


def decode(kind: str, value: str) -> Position | None:
    """Where a customer with identifier `value` of `kind` would sit, if anywhere.

    `kind` is the lower-case identifier name (mobile, email, externalid, cardnumber,
    wechat, id). The caller must still compare the full value with the derived customer.
    """
    value = value.strip()
    if kind == "mobile":
        match = _MOBILE.match(value)
        return Position(int(match[1]) - ORG_MOBILE_BASE, int(match[2])) if match else None
    if kind == "email":
        match = _EMAIL.match(value.lower())
        return _by_org_id(match[2], match[1]) if match else None
    if kind == "externalid":
        match = _EXTERNAL.match(value)
        return _by_org_id(match[1], match[2]) if match else None
    if kind == "cardnumber":
        match = _CARD.match(value)
        return _by_org_id(match[1], match[2]) if match else None
    if kind == "wechat":
        match = _WECHAT.match(value)
        return _by_org_id(match[1], match[2]) if match else None
    if kind == "id":
        return customer_position(int(value)) if value.isdigit() else None
    return None


def unknown_identifier(kind: str, org_index: int, k: int) -> str:
    """A well-formed identifier of `kind` in org `org_index` that names no customer."""
    index = UNKNOWN_INDEX_TOP - k
    if kind == "mobile":
        return mobile(org_index, index)
    if kind == "email":
        return f"nobody.known.{index}@org{org_id(org_index)}.example.com"
    if kind == "externalid":
        return external_id(org_index, index)
    if kind == "cardnumber":
        return card_number(org_index, index)
    raise ValueError(f"no unknown identifiers of kind {kind!r}")
