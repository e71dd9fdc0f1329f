"""What `loyalty-sync sync` prints at the end: what this sync did, in a few tables.

Rows this sync inserted, updated, deleted and left unchanged per table (so a re-run shows
that nothing changed), the time it took, the warning codes with what they mean, and the
checks by partition. On the simulator, one line says its anomalies are planted, so the
failed checks of a first demo sync surprise no one.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loyalty_sync.capillary.codes import lookup
from loyalty_sync.cli.sync_runner import CHANGES, SyncSummary

# What a code means for the sync, where the API's own message says less.
MEANINGS = {
    "8015": "customer not found: the roster row is skipped",
    "9002": "customer not found: the roster row is skipped",
    "8116": "no benefits earned in that promotion: stored as a summary without benefits",
}
SIMULATOR_NOTICE = (
    "Capillary: the bundled simulator at {url} (CAPILLARY_BASE_URL unset): demo data, "
    "with tier anomalies and an all-8116 promotion planted on purpose, so some checks fail."
)


def code_meaning(code: str) -> str:
    if code in MEANINGS:
        return MEANINGS[code]
    known = lookup(int(code)) if code.isdigit() else None
    return known.message if known else ""


def print_header(console: Console, summary: SyncSummary) -> None:
    endpoint = summary.endpoint
    if endpoint.get("capillary_simulator"):
        url = endpoint.get("capillary_endpoint", "").removeprefix("bundled simulator at ")
        console.print(escape(SIMULATOR_NOTICE.format(url=url)))
    else:
        console.print(f"Capillary: {escape(str(endpoint.get('capillary_endpoint', '')))}")
    console.print(f"warehouse: {escape(str(endpoint.get('warehouse', '')))}", highlight=False)


def print_summary(console: Console, summary: SyncSummary) -> None:
    print_header(console, summary)
    if summary.endpoint.get("roster_loaded"):
        console.print(f"roster was empty: loaded {summary.endpoint['roster_loaded']} identifiers")
    if summary.new_partitions:
        console.print(f"new partitions: {', '.join(summary.new_partitions)}", highlight=False)
    for key in summary.invalid_partitions:
        console.print(
            f"[yellow]skipped partition {escape(repr(key))}[/]: not ORG-PROGRAM; remove it "
            f"with `loyalty-sync partitions remove {escape(key)}`"
        )
    runs = Table("run", "partitions", "outcome", title="runs")
    for run in summary.runs:
        outcome = (
            "[green]success[/]" if run.success else f"[red]failed[/] {escape(run.error or '')}"
        )
        runs.add_row(run.run_id[:8], ", ".join(run.partition_keys), outcome)
    console.print(runs)
    for line in summary.held_back:
        console.print(
            f"[red]held back[/] {escape(line)}: no row of that pass was deleted or overwritten; "
            "if this is genuine, sync again with accept_drops (exit code 1)"
        )
    rows = Table("table", *CHANGES, "rows now", title="rows this sync")
    for name, count in summary.rows.items():
        changed = summary.changes.get(name)
        cells = [f"{changed[k]:,}" if changed else "" for k in CHANGES]
        rows.add_row(name, *cells, f"{count:,}")
    console.print(rows)
    console.print(
        f"API calls: {summary.calls:,} ({summary.retries:,} retries) in "
        f"{summary.elapsed_seconds:.0f} s",
        highlight=False,
    )
    _print_signals(console, summary)
    if summary.warnings:
        console.print("warnings and errors by code:")
        for code, n in sorted(summary.warnings.items()):
            console.print(f"  {code}: {n:,}  {escape(code_meaning(code))}", highlight=False)
    else:
        console.print("warnings and errors by code: none")
    _print_checks(console, [c for run in summary.runs for c in run.checks])
    _print_simulator(console, summary.simulator)


ENDPOINTS = {"promotions": "promotionData", "benefits": "actionSummary"}


def _print_signals(console: Console, summary: SyncSummary) -> None:
    """Calls against a full sync's, and what each change-driven pass fetched and why."""
    full = sum(int(s.get("full_calls", 0)) for s in summary.signals.values())
    if full:
        share = summary.calls / full
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
        console.print(line, highlight=False)


def _print_checks(console: Console, checks: list[dict[str, Any]]) -> None:
    """One line per check: how many partitions passed, and why the others did not."""
    if not checks:
        return
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for check in checks:
        grouped[(check["asset"], check["check"])].append(check)
    table = Table("asset", "check", "result", "severity", "detail", title="checks")
    for (asset, name), results in grouped.items():
        failed = [c for c in results if not c["passed"]]
        judged = len(results) if results[0]["partition"] is not None else None
        of = f" in {len(failed)} of {judged} partitions" if judged else ""
        result = f"[red]failed[/]{of}" if failed else "[green]passed[/]"
        severity = (failed or results)[0]["severity"]
        detail = "; ".join(c["description"] for c in failed)
        table.add_row(asset, name, result, severity, escape(detail))
    console.print(table)


def _print_simulator(console: Console, simulator: dict[str, Any] | None) -> None:
    if not simulator or not simulator.get("pid"):
        return
    how = "was started for this sync and keeps" if simulator.get("started") else "keeps"
    console.print(
        f"The bundled simulator (pid {simulator['pid']}, {simulator.get('base_url', '')}) {how} "
        "running for the next sync and the UI; stop it with `loyalty-sync simulator stop`.",
        highlight=False,
    )
