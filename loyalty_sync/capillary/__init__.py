"""Capillary API: the client resource, response models, and a simulator of the API."""
