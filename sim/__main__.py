"""``python -m sim``: the ``sim`` command (``sim.faces.commands``); without a verb it runs the model."""

from sim.faces.commands import cli

if __name__ == "__main__":
    cli()
