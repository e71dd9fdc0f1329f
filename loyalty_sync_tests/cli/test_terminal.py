"""Capillary's text on the terminal: printed as it is, on one line, never read as markup."""

from __future__ import annotations

import io

import pytest

from loyalty_sync.cli.summary import print_summary
from loyalty_sync.cli.sync_results import RunOutcome, SyncSummary
from loyalty_sync.cli.terminal import console, terminal_text

HOSTILE = "Promo [bold]big[/bold] [/] :smile:\n# next line\x1b[2J\u2028end"
ONE_LINE = "Promo [bold]big[/bold] [/] :smile: # next line [2J end"


def test_terminal_text_escapes_markup_and_puts_text_on_one_line() -> None:
    buffer = io.StringIO()
    console(file=buffer).print(f"[red]x[/] {terminal_text(HOSTILE)}")
    assert buffer.getvalue() == f"x {ONE_LINE}\n"


def test_the_summary_prints_capillary_text_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    check = {
        "asset": "benefit_summaries",
        "check": "no_benefits_share",
        "partition": "100-1",
        "passed": False,
        "severity": "WARN",
        "description": HOSTILE,
    }
    summary = SyncSummary(
        runs=[RunOutcome("0123456789", ["100-1"], False, f"failed: {HOSTILE}", [check])],
        rows={"promotions": 3},
        endpoint={"capillary_endpoint": "https://eu.api.capillarytech.com", "warehouse": "x"},
    )
    buffer = io.StringIO()
    print_summary(console(file=buffer), summary)
    printed = buffer.getvalue()
    assert "\x1b" not in printed and "\U0001f604" not in printed
    lines = [line for line in printed.splitlines() if "Promo" in line]
    assert len(lines) == 2 and all(ONE_LINE in line for line in lines), printed
    assert "# next line" not in {line.strip() for line in printed.splitlines()}
