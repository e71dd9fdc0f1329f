"""Text from outside the project on the terminal, and the consoles that print it.

rich reads `[bold]`-like tags in a string as markup (an unmatched `[/]` even raises) and
`:name:` codes as emoji; the terminal reads escape sequences and line breaks. A promotion
name, an API message or a roster value is printed with `terminal_text`: one line
(`text.one_line`) with rich's markup escaped. Every console comes from `console()`, with
emoji codes off, so nothing else in a string is read as anything but text.
"""

from __future__ import annotations

from typing import IO

from rich.console import Console
from rich.markup import escape

from loyalty_sync.text import one_line


def terminal_text(value: object) -> str:
    """`value` as text that rich prints as it is, on one line."""
    return escape(one_line(value))


def console(*, stderr: bool = False, file: IO[str] | None = None) -> Console:
    """A console for the commands' output: long lines wrap softly, no emoji codes."""
    return Console(stderr=stderr, file=file, soft_wrap=True, emoji=False)
