"""The Capillary API as the sync reads it: a client split by job, settings, typed answers."""
