"""The main job's two figures answer the analyst's question: colours keep one meaning, the group
lines are comparable, the MSME difference from the counterfactual has its own panel, labels are
plain words, nothing overlaps, and several seeds draw a mean with a 90% band."""

from __future__ import annotations

import itertools
import json

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.text import Text

from sim.core.model import EcommerceModel
from sim.views.figures import (
    GROUP_COLOURS,
    RUN_DPI,
    SMOOTH_WEEKS,
    comparable_group_shares,
    group_membership,
    plot_market_share,
    plot_msme_revenue,
)
from tests.conftest import run_cli

TINY = {"n_shoppers": 1500, "n_msmes": 400, "burn_in_weeks": 8, "end_date": "2024-09-30"}
CLOSE_WEEK = pd.Timestamp("2024-02-05")  # first week on or after the legal close, 2024-01-31


@pytest.fixture(scope="module")
def runs() -> dict:
    tables, scenarios = [], {}
    for seed in (0, 1):
        for policy in ("history", "no_policy"):
            model = EcommerceModel(rng=seed, policy=policy, **TINY)
            model.run()
            tables.append(model.recorder.table())
            scenarios[policy] = model.cfg.scenario
            market = model.cfg.market
    table = pd.concat(tables, ignore_index=True)
    return {
        "table": table,
        "one_seed": table[table["seed"] == 0],
        "scenarios": [scenarios["history"], scenarios["no_policy"]],
        "market": market,
    }


def _figures(runs: dict, table: pd.DataFrame) -> tuple[Figure, Figure]:
    return (
        plot_market_share(table, runs["scenarios"], market=runs["market"]),
        plot_msme_revenue(table, runs["scenarios"]),
    )


def _legend_colours(ax) -> dict[str, str]:
    legend = ax.get_legend()
    return {
        text.get_text(): mcolors.to_hex(handle.get_color())
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True)
    }


def test_one_colour_per_operator_group_and_storefronts_in_their_groups_colours(runs):
    fig, _ = _figures(runs, runs["one_seed"])
    ax_store, ax_group = fig.axes
    stores = {k: v for k, v in _legend_colours(ax_store).items() if "policy" not in k.lower()}
    groups = {k.split(" (")[0]: v for k, v in _legend_colours(ax_group).items() if "policy" not in k.lower()}
    assert len(set(groups.values())) == len(groups)  # one colour per group
    assert len(set(stores.values())) == len(stores)
    first_week = group_membership(
        runs["scenarios"][0], [CLOSE_WEEK - pd.Timedelta(weeks=10)], runs["market"]
    ).iloc[0]
    by_colour = {colour: group for group, colour in groups.items()}
    for store, colour in stores.items():
        # A storefront's colour, where the group panel uses it, means that storefront's group.
        if colour in by_colour:
            assert by_colour[colour] == first_week[store], (store, colour)
    assert groups["Tokopedia group"] == GROUP_COLOURS["Tokopedia group"]


def test_group_lines_apply_one_membership_to_both_scenarios(runs):
    table, (history, no_policy) = runs["one_seed"], runs["scenarios"]
    membership = group_membership(history, sorted(table["date"].unique()), runs["market"])
    cf = comparable_group_shares(table, "no_policy", membership)
    shares = table[(table["scenario"] == "no_policy") & (table["metric"] == "gmv_share")].pivot(
        index="date", columns="entity", values="value"
    )
    after = shares.index >= CLOSE_WEEK
    np.testing.assert_allclose(
        cf["Tokopedia group"][0][after], (shares["Tokopedia"] + shares["TikTok Shop"])[after]
    )
    np.testing.assert_allclose(cf["Tokopedia group"][0][~after], shares["Tokopedia"][~after])
    assert (cf["ByteDance"][0][after] == 0).all() and (cf["ByteDance"][0][~after] > 0).any()
    # ... and the figure draws exactly that as the dashed Tokopedia-group line.
    fig = plot_market_share(table, [history, no_policy], market=runs["market"])
    dashed = [
        line
        for line in fig.axes[1].get_lines()
        if line.get_linestyle() == "--"
        and mcolors.to_hex(line.get_color()) == GROUP_COLOURS["Tokopedia group"]
    ]
    assert len(dashed) == 1
    expected = cf["Tokopedia group"][0].rolling(SMOOTH_WEEKS, min_periods=1).mean() * 100
    np.testing.assert_allclose(dashed[0].get_ydata(), expected.to_numpy())


def test_msme_figure_has_a_difference_panel_that_shows_small_effects(runs):
    table = runs["one_seed"]
    _, fig = _figures(runs, table)
    panel = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("Domestic MSMEs"))
    line = next(li for li in panel.get_lines() if li.get_label() == "Local producers")
    revenue = table[(table["metric"] == "msme_revenue_idr") & (table["entity"] == "local")]
    wide = revenue.pivot(index="date", columns="scenario", values="value")
    expected = (100 * (wide["history"] / wide["no_policy"] - 1)).rolling(SMOOTH_WEEKS, min_periods=1).mean()
    np.testing.assert_allclose(line.get_ydata(), expected.to_numpy(), atol=1e-9)
    low, high = panel.get_ylim()
    assert high - low < 60  # a 2% effect is a visible fraction of the axis, not a wiggle
    assert "No policy" in panel.get_title(loc="left")


def _texts(fig: Figure) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_labels_are_plain_language(runs):
    for fig in _figures(runs, runs["table"]):
        words = " ".join(t.get_text() for t in _texts(fig))
        assert "_" not in words, [t.get_text() for t in _texts(fig) if "_" in t.get_text()]
        assert "Actual policy history" in words and "No policy" in words


def _boxes(fig: Figure) -> list[tuple[str, object]]:
    """Window extents of every label that must stay clear of the others."""
    renderer = fig.canvas.get_renderer()
    boxes = []
    for ax in fig.axes:
        for name, text in [("title", ax.title), ("title", ax._left_title), ("ylabel", ax.yaxis.label)]:
            if text.get_text():
                boxes.append((name, text.get_window_extent(renderer)))
        for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            for tick in axis.get_major_ticks():
                label = tick.label1
                if (
                    min(low, high) <= tick.get_loc() <= max(low, high)
                    and label.get_visible()
                    and label.get_text()
                ):
                    boxes.append(("tick", label.get_window_extent(renderer)))
        if ax.get_legend() is not None:
            boxes.append(("legend", ax.get_legend().get_window_extent(renderer)))
    for text in _texts(fig):
        if text.get_gid() in ("event-number", "event-key"):
            boxes.append((text.get_gid(), text.get_window_extent(renderer)))
    if fig._suptitle is not None:
        boxes.append(("suptitle", fig._suptitle.get_window_extent(renderer)))
    return boxes


@pytest.mark.slow
@pytest.mark.parametrize("seeds", ["one_seed", "table"])
def test_no_label_overlaps_another(runs, seeds):
    for fig in _figures(runs, runs[seeds]):
        FigureCanvasAgg(fig)  # the figures are pyplot-free: draw them as savefig does
        fig.set_dpi(RUN_DPI)
        fig.canvas.draw()
        boxes = _boxes(fig)
        assert sum(name == "event-number" for name, _ in boxes) >= 3
        for (name_a, a), (name_b, b) in itertools.combinations(boxes, 2):
            if name_a == name_b == "tick":
                continue
            assert not a.overlaps(b), (name_a, name_b, a, b)
        width, height = fig.canvas.get_width_height()
        for name, box in boxes:  # and nothing falls off the figure
            assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height, name


@pytest.mark.slow
def test_several_seeds_draw_a_mean_and_a_90_percent_band(runs):
    for fig in _figures(runs, runs["table"]):
        assert all(any(isinstance(c, PolyCollection) for c in ax.collections) for ax in fig.axes)
        assert "mean of 2 seeds" in fig._suptitle.get_text()
    for fig in _figures(runs, runs["one_seed"]):
        assert not any(isinstance(c, PolyCollection) for ax in fig.axes for c in ax.collections)
        assert "one seed" in fig._suptitle.get_text()
    fig = plot_market_share(runs["table"], runs["scenarios"], market=runs["market"])
    shopee = next(line for line in fig.axes[0].get_lines() if line.get_label() == "Shopee")
    rows = runs["table"][
        (runs["table"]["scenario"] == "history")
        & (runs["table"]["metric"] == "gmv_share")
        & (runs["table"]["entity"] == "Shopee")
    ]
    by_seed = (
        rows.pivot(index="date", columns="seed", values="value").rolling(SMOOTH_WEEKS, min_periods=1).mean()
    )
    np.testing.assert_allclose(shopee.get_ydata(), 100 * by_seed.mean(axis=1).to_numpy())


@pytest.mark.slow
def test_seeds_option_writes_one_table_and_mean_summaries(workdir):
    result = run_cli(
        "seeds=2",
        "seed=4",
        "market.shoppers.n_agents=1500",
        "market.msmes.n_agents=400",
        "burn_in_weeks=8",
        "end_date=2024-03-25",
        "hydra.run.dir=run",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    run = workdir / "run"
    table = pd.read_parquet(run / "timeseries.parquet")
    assert set(zip(table["scenario"], table["seed"], strict=True)) == {
        ("history", 4),
        ("history", 5),
        ("no_policy", 4),
        ("no_policy", 5),
    }
    summary = json.loads((run / "summary.json").read_text())
    assert summary["seeds"] == [4, 5]
    local = table[
        (table["scenario"] == "history")
        & (table["metric"] == "msme_revenue_idr")
        & (table["entity"] == "local")
        & (table["date"].dt.year == 2022)
    ]
    per_seed = local.groupby("seed")["value"].sum()
    assert summary["results"]["history"]["annual_msme_revenue_idr"]["2022"]["local"] == (
        pytest.approx(per_seed.mean())
    )
    for name in ("market_share.png", "msme_revenue.png"):
        assert (run / name).stat().st_size > 50_000


@pytest.mark.slow
def test_seeds_below_one_is_refused_with_the_key_named(workdir):
    result = run_cli("seeds=0", "hydra.run.dir=run", cwd=workdir)
    assert result.returncode != 0
    assert "seeds" in result.stderr and "[1, 1000]" in result.stderr
    assert not (workdir / "run" / "summary.json").exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_runs_other_files_are_written_while_its_figures_are_drawn(runs, tmp_path, monkeypatch, workers):
    """``sim run`` draws the MSME figure in a forked process (when it may fork) and meanwhile
    writes the table and the summary, then draws the market-share figure: the same two files,
    and what the meanwhile step returned, either way."""
    from sim.experiments.run import draw_run_figures

    monkeypatch.setenv("SIM_WORKERS", workers)
    seen: list[set[str]] = []

    def meanwhile() -> str:
        seen.append({p.name for p in tmp_path.iterdir()})
        return "summary"

    done = draw_run_figures(runs["one_seed"], runs["scenarios"], tmp_path, runs["market"], meanwhile)
    assert done == "summary"
    assert len(seen) == 1 and "market_share.png" not in seen[0]
    assert {p.name for p in tmp_path.iterdir()} == {"market_share.png", "msme_revenue.png"}
    for name in ("market_share.png", "msme_revenue.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
