"""Everything that speaks to Capillary, and nothing that knows of Dagster.

The sync, the sensors and the CLI share one client from here; the bundled simulator
lives outside the package, with its own reading of the reference pages, so that it
checks this code instead of echoing it. Start with `client`.
"""
