"""The dashboard's pages: the live model (Mesa SolaraViz) and a sweep browser.

Start it with ``solara run sim/app.py`` (see the README's Dashboard section).

- Live model: every policy lever as a control; Reset builds ``PolicyVsCounterfactual`` (the
  chosen policy and its same-seed no-policy counterfactual), Step/Play advance both a week at a
  time; charts of storefront shares, group shares (one membership for both lines) and the MSME
  revenue difference by origin, with numbered policy-event markers and the week shown.
- Sweep browser: a finished sweep folder (``python -m sim --multirun ...`` or ``run_sweep``),
  read through ``sim.experiments.aggregate.load_sweep``: GMV shares per variant with 90% bands across seeds
  and the policy-effect figure.
"""

from __future__ import annotations

import os
from pathlib import Path

import solara
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from sim.core.paired import DEFAULT_LINK_FOLLOW, DEFAULT_MSMES, DEFAULT_SHOPPERS, PolicyVsCounterfactual
from sim.views import charts
from sim.views.figures import event_markers

PLAY_INTERVAL_MS = 1
RENDER_INTERVAL_WEEKS = 13  # redraw once a quarter while playing (odd: the slider steps 1, 3, 5, ...)

MODEL_PARAMS = {
    "rng": {"type": "SliderInt", "value": 0, "min": 0, "max": 99, "step": 1, "label": "Seed"},
    "ban": {"type": "Checkbox", "value": True, "label": "Social-commerce ban"},
    "ban_date": {"type": "InputText", "value": "2023-10-04", "label": "Ban date (YYYY-MM-DD)"},
    "ban_compliance": {
        "type": "SliderFloat",
        "value": 1.0,
        "min": 0.0,
        "max": 1.0,
        "step": 0.05,
        "label": "Ban compliance",
    },
    # Starts at the estimated behaviour (conf/market/default.yaml).
    "link_follow_share": {
        "type": "SliderFloat",
        "value": DEFAULT_LINK_FOLLOW,
        "min": 0.0,
        "max": 1.0,
        "step": 0.05,
        "label": "Blocked discovery demand following links to marketplaces",
    },
    "floor": {"type": "Checkbox", "value": True, "label": "Cross-border price floor"},
    "floor_usd": {
        "type": "SliderFloat",
        "value": 100.0,
        "min": 0.0,
        "max": 300.0,
        "step": 10.0,
        "label": "Floor threshold (US$ per unit)",
    },
    "pilot": {"type": "Checkbox", "value": True, "label": "TikTok-Tokopedia pilot"},
    "local_priority": {
        "type": "SliderFloat",
        "value": 0.3,
        "min": 0.0,
        "max": 2.0,
        "step": 0.1,
        "label": "Pilot local priority",
    },
    "trial_weeks": {
        "type": "SliderInt",
        "value": 16,
        "min": 1,
        "max": 52,
        "step": 1,
        "label": "Pilot trial length (weeks)",
    },
    "migration_date": {
        "type": "InputText",
        "value": "2024-03-12",
        "label": "Checkout migration date (YYYY-MM-DD)",
    },
    "kppu_conditions": {"type": "Checkbox", "value": False, "label": "KPPU merger conditions"},
    "kppu_date": {"type": "InputText", "value": "2025-06-17", "label": "KPPU date (YYYY-MM-DD)"},
    "tiktok_commission_scale": {
        "type": "SliderFloat",
        "value": 1.0,
        "min": 0.0,
        "max": 3.0,
        "step": 0.1,
        "label": "TikTok Shop commission (x schedule 1%-3%-10%)",
    },
    "n_shoppers": {
        "type": "SliderInt",
        "value": DEFAULT_SHOPPERS,
        "min": 1000,
        "max": 40000,
        "step": 1000,
        "label": "Scale: shopper agents",
    },
    "n_msmes": {
        "type": "SliderInt",
        "value": DEFAULT_MSMES,
        "min": 250,
        "max": 10000,
        "step": 250,
        "label": "Scale: MSME agents",
    },
}
DPI = 80


def _show(model: PolicyVsCounterfactual, draw) -> None:
    """Show ``draw(model)``, redrawn only when the model steps or is rebuilt."""
    update_counter.get()
    figure = solara.use_memo(lambda: draw(model), [model, model.steps])
    solara.FigureMatplotlib(figure, dependencies=[model, model.steps], format="png", dpi=DPI)


@solara.component
def StorefrontChart(model: PolicyVsCounterfactual):
    _show(model, charts.storefront_shares)


@solara.component
def GroupChart(model: PolicyVsCounterfactual):
    _show(model, charts.group_shares)


@solara.component
def RevenueChart(model: PolicyVsCounterfactual):
    _show(model, charts.revenue_difference)


@solara.component
def WeekStatus(model: PolicyVsCounterfactual):
    """The week shown, the rules in force that week, and the key of the event markers."""
    update_counter.get()
    with solara.Column(style={"padding": "8px"}):
        if model.error:
            solara.Error(f"Cannot build the model: {model.error}. Fix the control and press Reset.")
            return
        date = model.current_date
        total = len(model.dates)
        if date is None:
            solara.Text(f"Week shown: none yet (0 of {total}); press Step or ▶", classes=["week-shown"])
        else:
            solara.Text(
                f"Week shown: {date:%d %b %Y} (week {model.week + 1} of {total})", classes=["week-shown"]
            )
            solara.Text("That week: " + "; ".join(model.policy_state()), classes=["week-rules"])
        solara.Text("Solid: chosen policy (the levers); dashed: no policy, same seed.")
        for i, group in enumerate(event_markers(model.events), start=1):
            solara.Text(f"{i}: " + "; ".join(f"{label} ({day:%d %b %Y})" for day, label in group))


@solara.component
def LivePage():
    model = solara.use_memo(PolicyVsCounterfactual, [])
    SolaraViz(
        model,
        components=[(WeekStatus, 0), (StorefrontChart, 0), (GroupChart, 0), (RevenueChart, 0)],
        model_params=MODEL_PARAMS,
        name="Indonesian e-commerce: chosen policy vs no policy",
        play_interval=PLAY_INTERVAL_MS,
        render_interval=RENDER_INTERVAL_WEEKS,
        use_threads=True,  # the model steps on while the charts redraw
    )


# --- sweep browser ------------------------------------------------------------------------------


def find_sweeps(root: Path) -> list[Path]:
    """Finished sweep folders (with the aggregate's ``runs.csv``) under ``root``, newest first."""
    if not root.is_dir():
        return []
    found = [p.parent for p in root.glob("**/runs.csv")]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def default_sweep_dir() -> str:
    """``SIM_SWEEP_DIR`` if set, else the newest finished sweep under ``results/``."""
    if os.environ.get("SIM_SWEEP_DIR"):
        return os.environ["SIM_SWEEP_DIR"]
    found = find_sweeps(Path("results"))
    return str(found[0]) if found else ""


def load_sweep_figures(folder: str) -> tuple[str, dict]:
    """(summary text, {file name: Figure}) of a finished sweep folder, or (error, {})."""
    from sim.experiments.aggregate import SweepError, load_sweep

    if not folder:
        return "No sweep folder given: type the path of a finished sweep.", {}
    path = Path(folder).expanduser()
    if not (path / "runs.csv").is_file():
        return f"{path} is not a finished sweep folder (no runs.csv).", {}
    try:
        result = load_sweep(path)
        figures = result.figures()
    except (SweepError, OSError, ValueError, KeyError) as err:
        return f"Cannot read the sweep in {path}: {err}", {}
    runs = result.runs
    ok = runs[runs["status"] == "ok"]
    variants = ", ".join(f"{v} ({n} seeds)" for v, n in ok.groupby("variant")["seed"].nunique().items())
    text = f"{len(ok)} of {len(runs)} runs ok in {path}. Variants: {variants}." + (
        "" if figures else " More variants than the figures can show: none drawn."
    )
    return text, figures


@solara.component
def SweepPage():
    folder = solara.use_reactive(default_sweep_dir())
    text, figures = solara.use_memo(lambda: load_sweep_figures(folder.value), [folder.value])
    with solara.AppBar():
        solara.AppBarTitle("Sweep browser")
    with solara.Sidebar(), solara.Card("Sweep folder"):
        solara.InputText("Folder of a finished sweep", value=folder, continuous_update=False)
        for path in find_sweeps(Path("results"))[:10]:
            solara.Button(str(path), text=True, on_click=lambda p=path: folder.set(str(p)))
    with solara.Column(style={"padding": "12px"}):
        solara.Text(text, classes=["sweep-summary"])
        for name in ("market_share.png", "policy_effect.png"):
            if name in figures:
                solara.FigureMatplotlib(
                    figures[name], dependencies=[folder.value, name], format="png", dpi=70
                )
