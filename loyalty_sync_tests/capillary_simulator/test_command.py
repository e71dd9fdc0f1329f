"""`loyalty-sync simulator`: options become a config, and it serves in the foreground."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest
from click.testing import CliRunner

from capillary_simulator import DEMO_USERNAME, basic_authorization
from capillary_simulator.command import simulator_command
from capillary_simulator.config import DEMO_PASSWORD


def test_invalid_options_are_usage_errors() -> None:
    result = CliRunner().invoke(simulator_command, ["--error-rate", "2", "--port", "0"])
    assert result.exit_code == 2
    assert "error_rate" in result.output
    result = CliRunner().invoke(simulator_command, ["--churn", "1.5", "--port", "0"])
    assert result.exit_code == 2
    assert "churn must be between 0 and 1" in result.output


@pytest.mark.slow  # a simulator process
def test_serves_in_the_foreground_and_prints_url_and_credentials() -> None:
    command = [
        sys.executable,
        "-m",
        "capillary_simulator",
        "--port",
        "0",
        "--customers",
        "7",
        "--orgs",
        "3",
        "--programs",
        "1",
        "--rate-limit",
        "50",
        "--no-anomalies",
        "--churn",
        "0.25",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Capillary simulator at http://127.0.0.1:")
        base_url = first.rsplit(" ", 1)[-1].strip()
        printed = "".join(process.stdout.readline() for _ in range(4))
        assert DEMO_USERNAME in printed and DEMO_PASSWORD in printed
        headers = {"Authorization": basic_authorization(DEMO_USERNAME, DEMO_PASSWORD)}
        config = httpx.get(base_url + "/_admin/config", timeout=10).json()["config"]
        assert config["customers_per_org"] == 7 and config["orgs"] == 3
        assert config["rate_limit_per_minute"] == 50 and config["anomalies"] is False
        assert config["churn"] == 0.25
        programs = httpx.get(base_url + "/v2/organization/programs", headers=headers).json()
        assert len(programs["data"]) == 1
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
