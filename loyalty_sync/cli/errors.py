"""How every command ends on a configuration, connection or usage error: one line, exit 2.

A missing variable, refused credentials, an unreachable host or database are the user's
to fix, and a traceback buries the one thing to fix. The group catches what
`sync/reasons.py` can explain and prints it; `--debug` prints the traceback too. Anything
else is a bug and keeps its traceback (exit 1).
"""

from __future__ import annotations

import traceback
from typing import Any

import click

from loyalty_sync.cli.terminal import console, terminal_text

EXIT_USAGE = 2
errors = console(stderr=True)


EXIT_FAILED = 1


def fail(reason: str, code: int = EXIT_USAGE) -> None:
    """Print `reason` as the command's error, a line per problem, and exit `code`."""
    for line in reason.splitlines() or [reason]:
        errors.print(f"[red]error:[/] {terminal_text(line)}")
    raise SystemExit(code)


def explain(exc: BaseException) -> str | None:
    from loyalty_sync.cli.sync_runner import SyncError, SyncStoppedError
    from loyalty_sync.instance import InstanceError
    from loyalty_sync.sync.reasons import plain_reason

    if isinstance(exc, SyncError | InstanceError | SyncStoppedError):
        return str(exc)
    return plain_reason(exc)


class ReportingGroup(click.Group):
    """A click group whose commands end in one line (exit 2) on errors a person can fix."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            reason = explain(exc)
            if reason is None:
                raise
            from loyalty_sync.cli.sync_runner import SyncStoppedError

            if ctx.params.get("debug"):
                traceback.print_exc()
            fail(reason, EXIT_FAILED if isinstance(exc, SyncStoppedError) else EXIT_USAGE)
