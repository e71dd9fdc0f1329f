"""loyalty_sync: a Postgres copy of a brand's Capillary loyalty data, kept fresh by Dagster."""

__version__ = "0.1.0"
