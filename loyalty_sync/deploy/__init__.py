"""What a production Dagster instance loads from this package, beside the definitions.

`dagster.production.yaml` names `launcher.MonitoredRunLauncher`, and the deployment
runs `loyalty-sync instance check` (`preflight.py`) before it starts the webserver and
the daemon. Both run where the webserver and the daemon run, not in run workers.
"""
