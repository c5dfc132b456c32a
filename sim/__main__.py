"""``python -m sim``: the ``sim`` command (``sim.faces.commands``); without a verb it runs the model."""

import sys

from sim.faces.commands import main

if __name__ == "__main__":
    sys.exit(main())
