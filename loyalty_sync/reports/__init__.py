"""Figures computed from the synced tables with pandas; no Dagster, no API."""
