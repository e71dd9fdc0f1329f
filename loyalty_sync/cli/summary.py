"""What `loyalty-sync sync` prints at the end: what this sync did, failures first.

It fits an 80-column terminal in well under 60 lines: runs (a failed one with its
reason), failed checks with their severity and the partitions that failed (two at most,
each on one line; the rest are in the UI), the names of the checks that passed, then rows
this sync inserted, updated, deleted and left unchanged per table, API calls (the same
figures as the progress bars and the materialisation metadata), what the change signals
fetched, and the warning codes with what they mean. What the sync talked to was said
before the progress display, so it is not repeated.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from loyalty_sync.capillary.codes import lookup
from loyalty_sync.cli.sync_results import CHANGES, SyncSummary
from loyalty_sync.text import one_line

# What a code means for the sync, where the API's own message says less.
MEANINGS = {
    "8015": "customer not found: the roster row is skipped",
    "9002": "customer not found: the roster row is skipped",
    "8116": "no benefits earned in that promotion: a summary without benefits",
}
# Findings shown per failed check (partitions with the same finding share one).
SHOWN_FINDINGS = 3
PASSES = ("customers", "promotions", "benefits")


def code_meaning(code: str) -> str:
    if code in MEANINGS:
        return MEANINGS[code]
    known = lookup(int(code)) if code.isdigit() else None
    return known.message if known else ""


def _line(console: Console, text: str, indent: int = 0, style: str = "") -> None:
    """Text wrapped at the terminal's width, every line indented by `indent`.

    A `Text` is never read as markup; `one_line` keeps Capillary's line breaks and escape
    sequences (a promotion name, an API message) from drawing anything of their own.
    """
    console.print(
        Padding(Text(one_line(text), style=style), (0, 0, 0, indent), expand=False),
        soft_wrap=False,
        highlight=False,
    )


def print_summary(console: Console, summary: SyncSummary) -> None:
    for run in summary.runs:
        outcome = "success" if run.success else "failed"
        _line(console, f"run {run.run_id[:8]} {outcome}: {', '.join(run.partition_keys)}")
        if not run.success:
            _line(console, run.error or "run failed", 2, "red")
    for line in summary.held_back:
        _line(
            console,
            f"held back {line}: no row of that pass was deleted or overwritten; if this is "
            "genuine, sync again with accept_drops (exit code 1)",
            0,
            "red",
        )
    _print_checks(console, [c for run in summary.runs for c in run.checks])
    rows = Table(
        "rows this sync", *CHANGES, "rows now", box=None, pad_edge=False, header_style="bold"
    )
    for name, count in summary.rows.items():
        changed = summary.changes.get(name)
        cells = [f"{changed[k]:,}" if changed else "" for k in CHANGES]
        rows.add_row(name, *cells, f"{count:,}")
    for column in rows.columns[1:]:
        column.justify = "right"
    console.print(rows)
    _print_calls(console, summary)
    _print_signals(console, summary)
    if summary.warnings:
        console.print("warnings and errors by code:")
        for code, n in sorted(summary.warnings.items()):
            _line(console, f"{code}: {n:,}  {code_meaning(code)}", 2)
    else:
        console.print("warnings and errors by code: none")
    _print_simulator(console, summary.simulator)


def _print_calls(console: Console, summary: SyncSummary) -> None:
    """API calls in all, then where they were made: the numbers the bars showed."""
    where = [f"discovery {summary.discovery_calls:,}"] + [
        f"{name} {summary.calls_by_pass[name]:,}"
        for name in PASSES
        if name in summary.calls_by_pass
    ]
    tokens = f"; {summary.token_requests:,} token requests" if summary.token_requests else ""
    _line(
        console,
        f"API calls: {summary.calls:,} ({', '.join(where)}), {summary.retries:,} retries"
        f"{tokens}; {summary.elapsed_seconds:.0f} s",
    )


ENDPOINTS = {"promotions": "promotionData", "benefits": "actionSummary"}


def _print_signals(console: Console, summary: SyncSummary) -> None:
    """Calls against a full sync's, and what each change-driven pass fetched and why."""
    full = sum(int(s.get("full_calls", 0)) for s in summary.signals.values())
    if full:
        share = (summary.calls - summary.discovery_calls) / full
        console.print(
            f"a full sync would have made about {full:,} calls: this one made {share:.0%}",
            highlight=False,
        )
    for name, endpoint in ENDPOINTS.items():
        figures = summary.signals.get(name)
        if not figures or not figures.get("items"):
            continue
        fetched = figures.get("fetched", {})
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in sorted(fetched.items()) if n)
        line = (
            f"{endpoint}: fetched {sum(fetched.values()):,} of {figures['items']:,} items"
            f" ({reasons or 'none'}); skipped {figures.get('skipped', 0):,}"
        )
        why = figures.get("skipped_by_reason", {})
        if why:
            line += " (" + ", ".join(f"{r} {n:,}" for r, n in sorted(why.items()) if n) + ")"
        if figures.get("sampled"):
            line += (
                f"; drift sample: {figures.get('sampled_changed', 0):,} of "
                f"{figures['sampled']:,} had changed"
            )
        _line(console, line)


def _print_checks(console: Console, checks: list[dict[str, Any]]) -> None:
    """Failed checks first, ERROR before WARN, each with its severity and its failing
    partitions (those with the same finding on one line); then the checks that passed,
    by name, without a severity: it is how a failure would have counted."""
    if not checks:
        return
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for check in checks:
        grouped[(check["asset"], check["check"])].append(check)
    failed = {key: [c for c in results if not c["passed"]] for key, results in grouped.items()}
    failing = sorted(
        (key for key in grouped if failed[key]),
        key=lambda key: (failed[key][0]["severity"] != "ERROR", key),
    )
    errors = sum(failed[key][0]["severity"] == "ERROR" for key in failing)
    severities = f" ({errors} of severity ERROR, {len(failing) - errors} WARN)" if failing else ""
    passed: dict[str, list[str]] = defaultdict(list)
    for asset, name in grouped:
        if not failed[(asset, name)]:
            passed[name].append(asset)
    _line(
        console,
        f"checks: {len(failing)} failed{severities}, {sum(map(len, passed.values()))} passed",
    )
    for key in failing:
        _print_failed_check(console, key, grouped[key], failed[key])
    if passed:
        names = "; ".join(f"{name} ({', '.join(assets)})" for name, assets in passed.items())
        _line(console, f"passed: {names}", 2)


def _print_failed_check(
    console: Console,
    key: tuple[str, str],
    results: list[dict[str, Any]],
    bad: list[dict[str, Any]],
) -> None:
    """A failed check's line, then its findings, partitions with the same one together."""
    severity = bad[0]["severity"]
    judged = len(results) if results[0]["partition"] is not None else None
    where = f", {len(bad)} of {judged} partitions" if judged else ""
    _line(console, f"{severity} {key[1]} on {key[0]}{where}:", 2, "bold")
    findings: dict[str, list[str]] = defaultdict(list)
    for check in bad:
        finding = check["description"]
        if check["partition"] and finding.startswith(f"{check['partition']}: "):
            finding = finding.removeprefix(f"{check['partition']}: ")
        findings[finding].append(check["partition"] or "")
    for finding, keys in list(findings.items())[:SHOWN_FINDINGS]:
        _line(console, f"{', '.join(k for k in keys if k)}: {finding}".lstrip(": "), 4)
    if len(findings) > SHOWN_FINDINGS:
        _line(console, f"and {len(findings) - SHOWN_FINDINGS} more (the UI lists them)", 4)


def _print_simulator(console: Console, simulator: dict[str, Any] | None) -> None:
    if not simulator or not simulator.get("pid"):
        return
    how = "was started for this sync and keeps" if simulator.get("started") else "keeps"
    _line(
        console,
        f"The bundled simulator (pid {simulator['pid']}, {simulator.get('base_url', '')}) {how} "
        "running for the next sync and the UI: `loyalty-sync simulator stop` stops it.",
    )
