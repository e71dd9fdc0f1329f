"""Text from outside the project, on one line, before a medium escapes it for itself.

Promotion names, API messages and roster values are Capillary's or a file's, not ours:
a name with a line break would start a new markdown block or a new terminal line, a
terminal escape sequence would recolour or clear the screen, and a bidirectional override
would show the text reversed. Every medium that renders such text (the markdown of
Dagster metadata, the terminal) first puts it on one line here, then applies its own
escaping: `defs.metadata.markdown_text` and `cli.terminal.terminal_text`.
"""

from __future__ import annotations

import re

# C0 and C1 controls (line feeds, tabs, ESC), Unicode line and paragraph separators, and
# the bidirectional embeddings, overrides and isolates; with the spaces around them.
_UNPRINTABLE = re.compile(r"(?: *[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069] *)+")


def one_line(value: object) -> str:
    """`value` as text on one line: each run of control characters (and the spaces beside
    them) becomes one space."""
    text = "" if value is None else str(value)
    return _UNPRINTABLE.sub(" ", text).strip()
