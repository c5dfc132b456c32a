"""Figures drawn from the tidy table (never from a live model): market shares and MSME revenue.

Figures are built as ``matplotlib.figure.Figure`` objects without pyplot, so importing this module
never switches the backend (a notebook keeps its inline backend) and the figures are not held by
pyplot's figure manager. The plotting functions return the Figure and save it when given a path;
a returned Figure shows inline in a notebook as a PNG (``ShownFigure``).
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.colors
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.aggregate import own_rows, paired_counterfactual
from sim.config import ScenarioConfig
from sim.policies import policy_events

PLATFORM_COLOURS = {
    "Shopee": "#ee4d2d", "Tokopedia": "#03ac0e", "TikTok Shop": "#111111",
    "Lazada": "#0f146d", "Bukalapak": "#d71149", "Blibli": "#0095da",
}
SERIES_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
SMOOTH_WEEKS = 4
RUN_DPI = 120  # single-run figures
SWEEP_DPI = 110  # sweep comparison figures
NOTEBOOK_DPI = 80  # figures shown inline: the large sweep figures still fit a notebook column


class ShownFigure(Figure):
    """A Figure that IPython shows as a PNG by itself: ipykernel registers its own Figure display
    only once the inline backend is loaded, which pyplot-free code never does."""

    def _repr_png_(self) -> bytes:
        buffer = BytesIO()
        self.savefig(buffer, format="png", dpi=NOTEBOOK_DPI, bbox_inches="tight")
        return buffer.getvalue()


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None,
               **subplots_kw: Any) -> tuple[Figure, Axes | np.ndarray]:
    """A Figure and its axes, like ``pyplot.subplots`` but without pyplot: no backend is selected
    or switched and nothing needs closing. Keywords go to ``Figure.subplots`` (sharex, squeeze,
    gridspec_kw, ...)."""
    fig = ShownFigure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **subplots_kw)


def weekly_series(table: pd.DataFrame, scenario: str, metric: str) -> pd.DataFrame:
    """One metric of one scenario as (date x entity), averaged over seeds, 4-week rolling mean."""
    rows = table[(table["scenario"] == scenario) & (table["metric"] == metric)]
    wide = rows.pivot_table(index="date", columns="entity", values="value", aggfunc="mean",
                            observed=True)
    return wide.rolling(SMOOTH_WEEKS, min_periods=1).mean()


def mark_events(axes: list[Axes], scenario: ScenarioConfig, fig: Figure) -> None:
    """Numbered vertical lines on every panel and a key beneath: labels never collide."""
    events = policy_events(scenario)
    for ax in axes:
        for i, (day, _) in enumerate(events, start=1):
            ax.axvline(pd.Timestamp(day), color="0.35", lw=0.8, ls=":", zorder=0)
            ax.annotate(str(i), (pd.Timestamp(day), 1.0), xycoords=("data", "axes fraction"),
                        xytext=(0, 2 + 9 * (i % 2)), textcoords="offset points", ha="center",
                        fontsize=7, color="0.25")
    if events:
        key = "   ".join(f"{i}: {label} ({day:%Y-%m-%d})" for i, (day, label) in
                         enumerate(events, start=1))
        fig.text(0.5, 0.01, "Policy events (dotted lines) — " + key, ha="center", fontsize=7.5,
                 wrap=True, color="0.2")


def _format_time_axis(ax: Axes) -> None:
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.grid(alpha=0.25)


def _title(scenarios: list[ScenarioConfig], what: str) -> str:
    if len(scenarios) > 1:
        return f"{what}: {scenarios[0].name} (solid) vs {scenarios[1].name} (dashed)"
    return f"{what}: {scenarios[0].name}"


def plot_market_share(table: pd.DataFrame, scenarios: list[ScenarioConfig],
                      path: Path | str | None = None) -> Figure:
    """GMV share by storefront and by operator group; the first scenario solid, a second dashed.
    Returns the Figure, also saved to ``path`` when one is given."""
    fig, (ax_store, ax_group) = new_figure(2, 1, figsize=(11, 8.5), sharex=True,
                                           gridspec_kw={"height_ratios": [3, 2]})
    for k, scenario in enumerate(scenarios):
        style = "-" if k == 0 else "--"
        shares = weekly_series(table, scenario.name, "gmv_share") * 100
        for name in shares.columns:
            ax_store.plot(shares.index, shares[name], style, lw=1.6 if k == 0 else 1.1,
                          color=PLATFORM_COLOURS.get(name), label=name if k == 0 else None)
        groups = weekly_series(table, scenario.name, "group_gmv_share") * 100
        for i, name in enumerate(groups.columns):
            ax_group.plot(groups.index, groups[name], style, lw=1.6 if k == 0 else 1.1,
                          color=SERIES_COLOURS[i % len(SERIES_COLOURS)],
                          label=name if k == 0 else None)
    ax_store.set_ylabel("Share of online GMV (%)")
    ax_store.set_title("By storefront", loc="left", fontsize=10)
    ax_store.legend(ncol=6, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.02),
                    frameon=False)
    ax_group.set_ylabel("Share of online GMV (%)")
    ax_group.set_title("By operator group (TikTok Shop joins the Tokopedia group at the deal)",
                       loc="left", fontsize=10)
    ax_group.legend(ncol=6, fontsize=8, loc="upper left", frameon=False)
    for ax in (ax_store, ax_group):
        _format_time_axis(ax)
        ax.set_ylim(bottom=0)
    ax_group.set_ylim(top=ax_group.get_ylim()[1] * 1.22)  # headroom: the legend sits above the lines
    mark_events([ax_store, ax_group], scenarios[0], fig)
    fig.suptitle(_title(scenarios, "Indonesian e-commerce GMV share, 4-week mean"), fontsize=12)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    if path is not None:
        fig.savefig(path, dpi=RUN_DPI)
    return fig


MSME_PANELS = [
    ("Local producers", "msme_revenue_idr", ["local"]),
    ("Resellers of imports", "msme_revenue_idr", ["import_reseller"]),
    ("Cross-border sellers", "msme_revenue_idr", ["cross_border"]),
    ("All sellers by channel", "msme_revenue_idr", ["online", "offline"]),
]


def plot_msme_revenue(table: pd.DataFrame, scenarios: list[ScenarioConfig],
                      path: Path | str | None = None) -> Figure:
    """MSME revenue by origin and by channel; the first scenario solid, a second dashed.
    Returns the Figure, also saved to ``path`` when one is given."""
    fig, axes = new_figure(2, 2, figsize=(12, 8), sharex=True)
    flat = list(axes.flat)
    for ax, (title, metric, entities) in zip(flat, MSME_PANELS, strict=True):
        for k, scenario in enumerate(scenarios):
            series = weekly_series(table, scenario.name, metric) / 1e12
            for i, entity in enumerate(entities):
                ax.plot(series.index, series[entity], "-" if k == 0 else "--",
                        color=SERIES_COLOURS[i], lw=1.6 if k == 0 else 1.1,
                        label=f"{entity} ({scenario.name})")
        ax.set_title(title, loc="left", fontsize=10)
        ax.set_ylabel("Revenue (IDR trillion per week)")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7.5, frameon=False, loc="lower left")
        _format_time_axis(ax)
    mark_events(flat, scenarios[0], fig)
    fig.suptitle(_title(scenarios, "MSME revenue, 4-week mean"), fontsize=12)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    if path is not None:
        fig.savefig(path, dpi=RUN_DPI)
    return fig


# --- sweeps -------------------------------------------------------------------------------------

EFFECT_WEEKS = 13
EFFECT_PANELS = [
    ("Online GMV", "online_gmv_idr", "all"),
    ("Offline sales", "offline_sales_idr", "offline"),
    ("Local producers' revenue", "msme_revenue_idr", "local"),
    ("Resellers of imports' revenue", "msme_revenue_idr", "import_reseller"),
]


def band(values: pd.DataFrame) -> pd.DataFrame:
    """Mean, 5th and 95th percentile across the columns (seeds) of a (date x seed) frame."""
    array = values.to_numpy(dtype=float)
    percentile = np.nanpercentile if np.isnan(array).any() else np.percentile
    low, high = percentile(array, [5, 95], axis=1)
    return pd.DataFrame({"mean": values.mean(axis=1), "low": low, "high": high},
                        index=values.index)


def _by_seed(rows: pd.DataFrame, smooth: int) -> pd.DataFrame:
    wide = rows.pivot_table(index="date", columns="seed", values="value", aggfunc="mean")
    return wide.rolling(smooth, min_periods=1).mean()


def _scenario_of(runs: pd.DataFrame, variant: str, sweep_dir: Path) -> ScenarioConfig:
    import json

    from omegaconf import OmegaConf

    run = runs[(runs["variant"] == variant) & (runs["status"] == "ok")]["run"].iloc[0]
    config = json.loads((sweep_dir / run / "summary.json").read_text())["config"]
    merged = OmegaConf.merge(OmegaConf.structured(ScenarioConfig), config["scenario"])
    return OmegaConf.to_object(merged)


def _grid(n: int, width: float = 5.2, height: float = 3.6) -> tuple[Figure, list[Axes]]:
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = new_figure(rows, cols, figsize=(width * cols, height * rows + 1.0),
                           sharex=True, sharey=True, squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


MAX_VARIANTS = 12


def sweep_figures(table: pd.DataFrame, runs: pd.DataFrame, sweep_dir: Path) -> dict[str, Figure]:
    """Comparison figures of a sweep keyed by file name: market_share.png, msme_revenue.png and,
    when the runs have a counterfactual, policy_effect.png. ``sweep_dir`` is only read (each
    variant's resolved scenario). A sampled design (every run its own variant, as in a
    sensitivity analysis) has no readable comparison figure: past MAX_VARIANTS variants none is
    drawn."""
    variants = list(dict.fromkeys(runs.loc[runs["status"] == "ok", "variant"]))
    if len(variants) > MAX_VARIANTS:
        return {}
    own = own_rows(table, runs)
    figures = {"market_share.png": _plot_sweep_shares(own, runs, variants, sweep_dir),
               "msme_revenue.png": _plot_sweep_revenue(own, variants)}
    effect = _plot_sweep_effect(table, own, runs, variants, sweep_dir)
    if effect is not None:
        figures["policy_effect.png"] = effect
    return figures


def plot_sweep(table: pd.DataFrame, runs: pd.DataFrame, sweep_dir: Path) -> list[str]:
    """Write the comparison figures of a sweep (``sweep_figures``) into sweep_dir; returns the
    file names written."""
    figures = sweep_figures(table, runs, sweep_dir)
    for name, fig in figures.items():
        fig.savefig(sweep_dir / name, dpi=SWEEP_DPI)
    return list(figures)


def _plot_sweep_shares(own: pd.DataFrame, runs: pd.DataFrame, variants: list[str],
                       sweep_dir: Path) -> Figure:
    fig, axes = _grid(len(variants))
    shares = own[own["metric"] == "gmv_share"]
    for ax, variant in zip(axes, variants, strict=True):
        rows = shares[shares["variant"] == variant]
        seeds = rows["seed"].nunique()
        for name in map(str, rows["entity"].unique()):
            b = band(_by_seed(rows[rows["entity"] == name], SMOOTH_WEEKS)) * 100
            colour = PLATFORM_COLOURS.get(name)
            ax.plot(b.index, b["mean"], color=colour, lw=1.4, label=name)
            ax.fill_between(b.index, b["low"], b["high"], color=colour, alpha=0.2, lw=0)
        ax.set_title(f"{variant} ({seeds} seeds)", fontsize=9.5, loc="left")
        _format_time_axis(ax)
        _mark_dates(ax, _scenario_of(runs, variant, sweep_dir))
    axes[0].set_ylabel("Share of online GMV (%)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=6, fontsize=8, frameon=False, loc="lower center")
    fig.suptitle("GMV share by storefront: mean across seeds and 90% band (4-week mean); "
                 "dotted lines: the variant's policy dates", fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 0.96))
    return fig


def _mark_dates(ax: Axes, scenario: ScenarioConfig) -> None:
    for day, _ in policy_events(scenario):
        ax.axvline(pd.Timestamp(day), color="0.35", lw=0.7, ls=":", zorder=0)


def _variant_colours(variants: list[str]) -> dict[str, str]:
    cmap = matplotlib.colormaps["tab10"]
    return {v: matplotlib.colors.to_hex(cmap(i % 10)) for i, v in enumerate(variants)}


def _plot_sweep_revenue(own: pd.DataFrame, variants: list[str]) -> Figure:
    colours = _variant_colours(variants)
    panels = [("Local producers", "local"), ("Resellers of imports", "import_reseller"),
              ("Cross-border sellers", "cross_border")]
    fig, axes = new_figure(1, 3, figsize=(16, 5.2), sharex=True)
    revenue = own[own["metric"] == "msme_revenue_idr"]
    for ax, (title, entity) in zip(axes, panels, strict=True):
        for variant in variants:
            rows = revenue[(revenue["variant"] == variant) & (revenue["entity"] == entity)]
            b = band(_by_seed(rows, SMOOTH_WEEKS)) / 1e12
            ax.plot(b.index, b["mean"], color=colours[variant], lw=1.3, label=variant)
            ax.fill_between(b.index, b["low"], b["high"], color=colours[variant], alpha=0.18, lw=0)
        ax.set_title(title, loc="left", fontsize=10)
        ax.set_ylabel("Revenue (IDR trillion per week)")
        ax.set_ylim(bottom=0)
        _format_time_axis(ax)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=min(len(labels), 5), fontsize=8, frameon=False,
               loc="lower center")
    fig.suptitle("MSME revenue by origin: mean across seeds and 90% band (4-week mean)",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    return fig


def _plot_sweep_effect(table: pd.DataFrame, own: pd.DataFrame, runs: pd.DataFrame,
                       variants: list[str], sweep_dir: Path) -> Figure | None:
    cf = paired_counterfactual(table, own, runs)
    if cf.empty:
        return None
    variants = [v for v in variants if v in set(cf["variant"])]
    colours = _variant_colours(variants)
    fig, axes = new_figure(2, 2, figsize=(14, 8.5), sharex=True)
    for ax, (title, metric, entity) in zip(axes.flat, EFFECT_PANELS, strict=True):
        for variant in variants:
            mine = own[(own["variant"] == variant) & (own["metric"] == metric)
                       & (own["entity"] == entity)]
            base = cf[(cf["variant"] == variant) & (cf["metric"] == metric)
                      & (cf["entity"] == entity)]
            a = _by_seed(mine, EFFECT_WEEKS)
            b = _by_seed(base, EFFECT_WEEKS).reindex(columns=a.columns)
            b = band(100 * (a / b - 1))
            ax.plot(b.index, b["mean"], color=colours[variant], lw=1.3, label=variant)
            ax.fill_between(b.index, b["low"], b["high"], color=colours[variant], alpha=0.18, lw=0)
        ax.axhline(0, color="0.3", lw=0.8)
        _mark_dates(ax, _scenario_of(runs, variants[0], sweep_dir))
        ax.set_title(title, loc="left", fontsize=10)
        ax.set_ylabel("Difference from counterfactual (%)")
        _format_time_axis(ax)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=min(len(labels), 5), fontsize=8, frameon=False,
               loc="lower center")
    fig.suptitle("Policy effect: scenario minus its counterfactual, paired by seed "
                 f"(mean and 90% band, {EFFECT_WEEKS}-week mean)", fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    return fig
