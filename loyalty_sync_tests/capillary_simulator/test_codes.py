"""The client's code table and the simulator's, kept apart on purpose, must agree.

Each was transcribed from the reference pages on its own. Were they one table, a wrong
code or message would be served by the simulator and read back by the client as right;
apart, it shows here as a difference to check against the pages.
"""

from __future__ import annotations

from capillary_simulator import codes as served
from loyalty_sync.capillary import codes as product

# Codes the client knows that the simulator never puts in a body: it fails with plain
# 5xx statuses, and the older retryable codes belong to endpoints it does not serve.
KNOWN_ONLY_TO_THE_CLIENT = {461, 521}


def test_every_served_code_is_known_to_the_client_with_the_same_message() -> None:
    different = {
        code: (message, product.CODES[code].message if code in product.CODES else None)
        for code, message in served.MESSAGES.items()
        if code not in product.CODES or product.CODES[code].message != message
    }
    assert different == {}


def test_the_client_knows_no_code_the_simulator_should_serve_but_does_not() -> None:
    assert set(product.CODES) - set(served.MESSAGES) == KNOWN_ONLY_TO_THE_CLIENT


def test_the_special_codes_and_sources_agree() -> None:
    assert served.NO_BENEFITS_WARNING == product.NO_BENEFITS_WARNING
    assert served.SOURCES == product.SOURCES
    assert product.lookup(served.CONNECTED_ORGS_ERROR) is not None
    assert product.CODES[served.CONNECTED_ORGS_ERROR].kind is product.CodeKind.CONNECTED_ORG
