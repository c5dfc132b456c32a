"""The dashboard: ``solara run sim/app.py`` (needs the ``viz`` extra).

Two pages: the live model (every policy lever; the chosen policy and its same-seed no-policy
counterfactual stepped together) and a browser of finished sweep folders. The pages live in
``sim.faces.dashboard``; the model core never imports them.
"""

import solara

from sim.faces.dashboard import LivePage, SweepPage

routes = [
    solara.Route(path="/", component=LivePage, label="Live model"),
    solara.Route(path="sweep", component=SweepPage, label="Sweep browser"),
]
