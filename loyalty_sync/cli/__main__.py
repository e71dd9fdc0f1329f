"""`python -m loyalty_sync.cli`: the same command as the `loyalty-sync` script."""

from loyalty_sync.cli.main import main

main()
