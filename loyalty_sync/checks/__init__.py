"""Data-quality rules: plain SQL over the warehouse, one module per family of checks.

`defs/checks/` only declares the asset checks and turns a rule's finding into a check
result; the rules themselves run and are tested without Dagster.
"""
