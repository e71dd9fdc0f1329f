"""The package's shape: layers that point one way, and dependencies that earn their place.

Both read the source as text (every `import`, function-level ones included), so a cycle
or an undeclared import that only some code path reaches still fails here, not in front
of a user.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("loyalty_sync", "capillary_simulator")
# Layers that hold no Dagster code and must never reach up into the Dagster layer or the CLI.
CORE = (
    "loyalty_sync.capillary",
    "loyalty_sync.sync",
    "loyalty_sync.warehouse",
    "loyalty_sync.checks",
    "loyalty_sync.reports",
)
# Declared, but loaded by name rather than imported: Dagster reads them from configuration.
LOADED_BY_NAME = {
    "dagster-webserver": "the UI that `dagster dev` and `loyalty-sync ui` start",
    "dagster-postgres": "the run storage dagster.production.yaml names",
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, module: str, known: frozenset[str] = frozenset()) -> Iterator[str]:
    """Every module `path` imports, at any depth of the file, as absolute names.

    `from package import submodule` names the submodule only: the package's `__init__`
    runs first, but importing a submodule of a half-initialised package is no cycle.
    """
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:  # never imported at run time
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - node.level + 1]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            names = [f"{prefix}.{alias.name}" for alias in node.names]
            submodules = [name for name in names if name in known]
            yield from submodules
            if len(submodules) < len(names):
                yield prefix


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = frozenset(modules)
    return {
        name: {t for t in _imports(path, name, known) if t in modules and t != name}
        for name, path in modules.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_in_the_package() -> None:
    graph = _graph()
    assert len(graph) > 50, "the walk found too few modules to mean anything"
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_nothing_below_the_cli_imports_it() -> None:
    offenders = [
        f"{name} imports {target}"
        for name, targets in _graph().items()
        if not name.startswith("loyalty_sync.cli")
        for target in targets
        if target.startswith("loyalty_sync.cli")
    ]
    assert not offenders


@pytest.mark.parametrize("layer", CORE)
def test_core_layers_hold_no_dagster_code(layer: str) -> None:
    offenders = [
        f"{name} imports {target}"
        for name, path in _modules().items()
        if name == layer or name.startswith(layer + ".")
        for target in _imports(path, name)
        if target.split(".")[0] == "dagster"
        or target.startswith(("loyalty_sync.defs", "loyalty_sync.cli", "loyalty_sync.definitions"))
    ]
    assert not offenders


def test_the_product_does_not_import_the_simulator_but_where_it_is_the_default() -> None:
    # The definitions choose the simulator when no host is set, and it has a command.
    allowed = {"loyalty_sync.defs.resources.simulator", "loyalty_sync.cli.simulator"}
    offenders = [
        f"{name} imports {target}"
        for name, path in _modules().items()
        if name.startswith("loyalty_sync") and name not in allowed
        for target in _imports(path, name)
        if target.split(".")[0] == "capillary_simulator"
    ]
    assert not offenders
    # The stand-in shares nothing with the product, not even the code table: each has its
    # own, compared by a test, so a mistake in one cannot hide behind the other.
    simulator_reaches_product = [
        f"{name} imports {target}"
        for name, path in _modules().items()
        if name.startswith("capillary_simulator")
        for target in _imports(path, name)
        if target.split(".")[0] == "loyalty_sync"
    ]
    assert not simulator_reaches_product


def _distribution_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _third_party_imports() -> set[str]:
    stdlib = set(sys.stdlib_module_names)
    return {
        target.split(".")[0]
        for name, path in _modules().items()
        for target in _imports(path, name)
        if target and target.split(".")[0] not in stdlib and target.split(".")[0] not in PACKAGES
    }


def test_runtime_dependencies_are_imported_and_imports_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_distribution_name(r) for r in project["dependencies"]}
    providers = importlib.metadata.packages_distributions()
    imported = _third_party_imports()
    imported_distributions = {
        dist.lower().replace("_", "-") for top in imported for dist in providers.get(top, [top])
    }
    undeclared = sorted(imported_distributions - declared)
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    unused = sorted(declared - imported_distributions - set(LOADED_BY_NAME))
    assert not unused, f"declared but never imported by the package: {unused}"


def test_constraints_pin_every_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {
        _distribution_name(line)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    wanted = {_distribution_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_distribution_name(r) for r in extra}
    assert sorted(wanted - pinned) == []
