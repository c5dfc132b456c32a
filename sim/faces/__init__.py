"""The faces people use: the ``sim`` command and its verbs (``commands``), ``sim run``'s Hydra main
(``cli``) and the dashboard's pages (``dashboard``); ``sim.api`` (notebooks) and ``sim/app.py``
(``solara run sim/app.py``) sit beside them."""
