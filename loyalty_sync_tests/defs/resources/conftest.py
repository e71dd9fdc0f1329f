"""The resource tests use the client tests' simulator fixtures."""

from loyalty_sync_tests.capillary.conftest import api_data, api_sim, api_sim_server

__all__ = ["api_data", "api_sim", "api_sim_server"]
