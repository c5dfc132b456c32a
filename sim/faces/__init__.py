"""The faces people use: the command line (``cli``) and the dashboard's pages (``dashboard``);
``sim.api`` (notebooks) and ``sim/app.py`` (``solara run sim/app.py``) sit beside them."""
