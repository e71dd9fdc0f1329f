"""`loyalty-sync`, the command line. The top layer: nothing else in the package imports it."""

from loyalty_sync.cli.main import main

__all__ = ["main"]
