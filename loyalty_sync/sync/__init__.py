"""The sync engine: API passes that turn Capillary answers into warehouse rows.

It knows nothing of Dagster: the assets in `defs/` call it with a client, an engine and a
run scope, so the CLI, the assets and the tests all run the same code.
"""
