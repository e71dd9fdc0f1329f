"""`python -m loyalty_sync.capillary.simulator`: the `simulator` command on its own."""

from loyalty_sync.capillary.simulator.command import simulator_command

if __name__ == "__main__":
    simulator_command(prog_name="loyalty-sync simulator")
