"""`python -m capillary_simulator`: the `simulator` command on its own."""

from capillary_simulator.command import simulator_command

if __name__ == "__main__":
    simulator_command(prog_name="loyalty-sync simulator")
