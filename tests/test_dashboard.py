"""The dashboard without a browser: its paired model, its charts, and its pages rendered with
Solara's test helpers (clicking Mesa's Step and Reset, moving a lever)."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import ipyvuetify as v
import ipywidgets as widgets
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
import solara

from sim.core.model import EcommerceModel
from sim.core.paired import PolicyVsCounterfactual
from sim.experiments.aggregate import load_sweep
from sim.faces.dashboard import (
    MODEL_PARAMS,
    LivePage,
    SweepPage,
    default_sweep_dir,
    find_sweeps,
    load_sweep_figures,
)
from sim.schema.tables import SWEEP_FIGURE_METRICS
from sim.views import charts
from sim.views.figures import sweep_figures

SMALL = {"n_shoppers": 1500, "n_msmes": 400}


@pytest.fixture(scope="module")
def paired() -> PolicyVsCounterfactual:
    model = PolicyVsCounterfactual(rng=3, **SMALL)
    while model.week + 1 < 170:  # to 2024-04-01, past the close and the migration
        model.step()
    return model


def test_counterfactual_is_no_policy_on_the_same_seed(paired):
    alone = EcommerceModel(rng=3, policy="no_policy", **SMALL)
    for _ in range(170):
        alone.step()
    df = paired.datacollector.get_model_vars_dataframe()
    np.testing.assert_array_equal(
        df["counterfactual:gmv_share[TikTok Shop]"],
        alone.datacollector.get_model_vars_dataframe()["gmv_share[TikTok Shop]"],
    )
    assert paired.policy_model.cfg.scenario.name == "history"  # default levers are history's
    assert (df["policy:gmv_share[TikTok Shop]"] != df["counterfactual:gmv_share[TikTok Shop]"]).any()


def test_both_group_lines_use_the_policy_runs_membership(paired):
    df = paired.datacollector.get_model_vars_dataframe().set_index("date")
    after = df.index >= "2024-02-05"  # the first week after the legal close
    cf_group = df["counterfactual:group_gmv_share[Tokopedia group]"]
    cf_sum = df["counterfactual:gmv_share[Tokopedia]"] + df["counterfactual:gmv_share[TikTok Shop]"]
    np.testing.assert_allclose(cf_group[after], cf_sum[after])
    np.testing.assert_allclose(cf_group[~after], df["counterfactual:gmv_share[Tokopedia]"][~after])
    own = paired.policy_model.datacollector.get_model_vars_dataframe()
    np.testing.assert_allclose(
        df["policy:group_gmv_share[Tokopedia group]"], own["group_gmv_share[Tokopedia group]"]
    )


def test_a_bad_lever_is_reported_not_raised():
    model = PolicyVsCounterfactual(ban_date="2023-13-01", **SMALL)
    assert not model.running and "scenario.social_commerce_ban.date" in model.error
    model.step()  # SolaraViz may still call step: nothing happens
    assert model.runs == {} and model.current_date is None and model.policy_state() == []
    assert charts.model_frame(model).empty
    assert charts.storefront_shares(model).axes[0].get_lines() == []  # an empty chart, no error


def test_charts_draw_the_collected_weeks_with_event_markers(paired):
    df = charts.model_frame(paired)
    fig = charts.revenue_difference(paired)
    ax = fig.axes[0]
    local = next(line for line in ax.get_lines() if line.get_color() == charts.ORIGIN_COLOURS["local"])
    mine = df["policy:msme_revenue_idr[local]"].rolling(4, min_periods=1).mean()
    base = df["counterfactual:msme_revenue_idr[local]"].rolling(4, min_periods=1).mean()
    np.testing.assert_allclose(local.get_ydata(), 100 * (mine / base - 1))
    numbers = [t.get_text() for t in ax.texts if t.get_text().isdigit()]
    assert numbers == ["1", "2", "3"]  # ban and floor; deal and relaunch; migration
    for draw in (charts.storefront_shares, charts.group_shares):
        assert len(draw(paired).axes[0].get_lines()) > 2 * 6


def test_every_model_param_is_a_keyword_of_the_paired_model():
    import inspect

    params = inspect.signature(PolicyVsCounterfactual).parameters
    assert set(MODEL_PARAMS) == set(params)
    for name, spec in MODEL_PARAMS.items():
        assert spec["value"] == params[name].default, name


def _walk(widget: widgets.Widget):
    yield widget
    for attr in ("children", "items"):  # a grid layout keeps its children in `items`
        for child in getattr(widget, attr, None) or []:
            if isinstance(child, widgets.Widget):
                yield from _walk(child)


def _texts(rc) -> list[str]:
    """The page's plain texts (Html leaves whose children are strings)."""
    return [
        " ".join(w.children)
        for w in _walk(rc.find().widget)
        if isinstance(w, v.Html) and w.children and all(isinstance(c, str) for c in w.children)
    ]


@pytest.mark.slow
def test_live_page_steps_and_resets_with_a_lever_moved():
    _box, rc = solara.render(solara.AppLayout(children=[LivePage()]), handle_error=False)
    images = rc.find(widgets.Image)
    assert len(images.widgets) == 3
    before = [w.value for w in images.widgets]
    rc.find(v.Btn, children=["Step"]).widget.click()
    rc.find(v.Html, children=["Time: 13.0"]).wait_for(timeout=30)
    rc.find(v.Html, children=["Week shown: 29 Mar 2021 (week 13 of 261)"]).wait_for(timeout=30)
    after = [w.value for w in rc.find(widgets.Image).widgets]
    assert all(a != b for a, b in zip(before, after, strict=True))
    assert any("Social-commerce ban" in t for t in _texts(rc))  # in the event key
    rc.find(v.Checkbox, label="Social-commerce ban").widget.v_model = False
    rc.find(v.Btn, children=["Reset"]).widget.click()
    rc.find(v.Html, children=["Time: 0.0"]).wait_for(timeout=30)
    assert not any("Social-commerce ban" in t for t in _texts(rc))
    assert any("US$100 cross-border floor" in t for t in _texts(rc))
    rc.find(v.Btn, children=["Step"]).widget.click()
    rc.find(v.Html, children=["Time: 13.0"]).wait_for(timeout=30)
    assert not any("Cannot build" in t or "error" in t.lower() for t in _texts(rc))


@pytest.mark.slow
def test_live_page_shows_a_bad_date_instead_of_failing():
    _box, rc = solara.render(solara.AppLayout(children=[LivePage()]), handle_error=False)
    field = rc.find(v.TextField, label="Ban date (YYYY-MM-DD)").widget
    field.v_model = "2023-02-30"
    field.fire_event("focusout", None)  # a text control commits on leaving the field
    rc.find(v.Btn, children=["Reset"]).widget.click()
    rc.find(v.Alert).wait_for(timeout=30)
    alert = " ".join(map(str, rc.find(v.Alert).widget.children))
    assert "scenario.social_commerce_ban.date" in alert and "2023-02-30" in alert


def test_the_sweep_browser_opens_the_newest_aggregated_sweep(tmp_path, monkeypatch):
    """A sweep folder is one the aggregate has written runs.csv into (the table stays in its
    runs' files); the newest is opened unless SIM_SWEEP_DIR names one."""
    results = tmp_path / "results"
    older, newer, unfinished = (results / "sweeps" / name for name in ("older", "newer", "unfinished"))
    for folder in (older, newer, unfinished / "0_history_seed0"):
        folder.mkdir(parents=True)
    for age, folder in ((200, older), (100, newer)):
        (folder / "runs.csv").write_text("run,variant,status,error\n")
        os.utime(folder, (time.time() - age, time.time() - age))
    assert find_sweeps(results) == [newer, older]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIM_SWEEP_DIR", raising=False)
    assert default_sweep_dir() == str(Path("results") / "sweeps" / "newer")
    monkeypatch.setenv("SIM_SWEEP_DIR", str(older))
    assert default_sweep_dir() == str(older)


@pytest.mark.slow
def test_sweep_page_shows_bands_and_the_policy_effect(tiny_sweep, monkeypatch):
    text, figures = load_sweep_figures(str(tiny_sweep))
    assert "4 of 4 runs ok" in text and "history (2 seeds)" in text
    assert {"market_share.png", "policy_effect.png"} <= set(figures)
    assert "90% band" in figures["market_share.png"]._suptitle.get_text()
    monkeypatch.setenv("SIM_SWEEP_DIR", str(tiny_sweep))
    _box, rc = solara.render(solara.AppLayout(children=[SweepPage()]), handle_error=False)
    assert len(rc.find(widgets.Image).widgets) == 2
    assert any("4 of 4 runs ok" in t for t in _texts(rc))
    field = rc.find(v.TextField, label="Folder of a finished sweep").widget
    field.v_model = str(tiny_sweep / "nope")
    field.fire_event("focusout", None)
    rc.find(
        v.Html, children=[f"{tiny_sweep / 'nope'} is not a finished sweep folder (no runs.csv)."]
    ).wait_for(timeout=10)
    assert len(rc.find(widgets.Image).widgets) == 0


@pytest.mark.slow
def test_sweep_figures_draw_from_tables_and_the_scenarios_given(tiny_sweep, tmp_path):
    """The views read tidy tables only: with the sweep folder moved away, the comparison figures
    still draw, and their dotted policy lines are the dates of the scenarios passed in."""
    result = load_sweep(tiny_sweep)
    rows, scenarios = result.rows(SWEEP_FIGURE_METRICS), result.scenarios()
    assert set(scenarios) == {"history", "ban_only"}
    moved = replace(
        scenarios["ban_only"],
        social_commerce_ban=replace(scenarios["ban_only"].social_commerce_ban, date="2023-01-02"),
    )
    elsewhere = tmp_path / "moved"
    tiny_sweep.rename(elsewhere)
    try:
        figures = sweep_figures(rows, result.runs, {**scenarios, "ban_only": moved})
    finally:
        elsewhere.rename(tiny_sweep)
    panels = {ax.get_title(loc="left").split(" (")[0]: ax for ax in figures["market_share.png"].axes}

    def dotted_dates(ax) -> set[pd.Timestamp]:
        xs = [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"]
        return {
            pd.Timestamp(x).normalize()
            if not isinstance(x, float)
            else pd.Timestamp(mdates.num2date(x).date())
            for x in xs
        }

    assert dotted_dates(panels["ban_only"]) == {pd.Timestamp("2023-01-02")}
    assert pd.Timestamp("2023-10-04") in dotted_dates(panels["history"])
