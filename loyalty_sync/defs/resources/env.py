"""Reading resource fields and variables outside a Dagster run, in one place.

Inside a run Dagster resolves an `EnvVar` field to its value. The CLI, sensors' helpers and
tests use the same resource objects before any run, where the field still holds the
`EnvVar` itself; `resolved` reads it then, so no caller has to know the difference.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg


def resolved(value: Any) -> Any:
    """A field's value, reading an `EnvVar` that Dagster has not resolved yet."""
    return value.get_value() if isinstance(value, dg.EnvVar) else value


def env_text(name: str) -> str | None:
    """The variable's text without surrounding blanks; None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def env_var_or_none(name: str) -> dg.EnvVar | None:
    """An `EnvVar` for a set variable, else None: an `EnvVar` of an unset one fails at launch."""
    return dg.EnvVar(name) if env_text(name) else None
