"""Run a command the environment installs (`dagster`, `dg`) as a deployment would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def run_script(
    name: str, *args: str, cwd: Path, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """`name` from this interpreter's environment, not whichever one PATH finds first."""
    script = Path(sys.executable).with_name(name)
    if not script.exists():
        pytest.fail(f"the {name} command is not installed beside {sys.executable}")
    return subprocess.run(
        [str(script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
