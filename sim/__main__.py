"""``python -m sim``: the command line (``sim.faces.cli``)."""

from sim.faces.cli import cli

if __name__ == "__main__":
    cli()
