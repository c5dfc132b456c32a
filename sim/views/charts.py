"""The dashboard's live charts, drawn from ``PolicyVsCounterfactual.datacollector``.

Pyplot-free ``Figure`` objects (as ``sim.views.figures``), in the colours and plain labels of the run
figures: one colour per operator group, storefronts in their group's family, the chosen policy
solid and the no-policy counterfactual dashed, numbered policy-event markers (events a few days
apart share a number), the x axis fixed to the whole horizon so the lines grow as the model plays.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sim.core.paired import PolicyVsCounterfactual
from sim.views.figures import (
    GROUP_COLOURS,
    ORIGIN_COLOURS,
    ORIGIN_LABELS,
    PLATFORM_COLOURS,
    SERIES_COLOURS,
    SMOOTH_WEEKS,
    _format_time_axis,
    event_markers,
    mark_event,
    new_figure,
)

WIDTH, HEIGHT, DPI = 7.6, 3.5, 90
STYLE = [
    Line2D([], [], color="0.3", ls="-", label="Chosen policy"),
    Line2D([], [], color="0.3", ls="--", label="No policy"),
]


def model_frame(model: PolicyVsCounterfactual) -> pd.DataFrame:
    """The paired model's DataCollector table indexed by week date (empty before the first step)."""
    if not model.runs:  # the levers did not make a valid config: nothing to draw
        return pd.DataFrame()
    with model.lock:
        df = model.datacollector.get_model_vars_dataframe()
    if df.empty:
        return df
    return df.set_index(pd.to_datetime(df.pop("date")))


def _axes(model: PolicyVsCounterfactual, title: str, ylabel: str) -> tuple[Figure, Axes]:
    fig, ax = new_figure(figsize=(WIDTH, HEIGHT))
    ax.set_title(title, loc="left", fontsize=10, pad=22)
    ax.set_ylabel(ylabel, fontsize=9)
    if model.runs:
        ax.set_xlim(pd.Timestamp(model.dates[0]), pd.Timestamp(model.dates[-1]))
        for i, group in enumerate(event_markers(model.events), start=1):
            mark_event(ax, group[0][0], i, rise_pt=8)
        if model.current_date is not None:
            ax.axvline(pd.Timestamp(model.current_date), color="#c92a2a", lw=0.9, alpha=0.6)
    _format_time_axis(ax)
    ax.tick_params(labelsize=8)
    return fig, ax


def _finish(fig: Figure, ax: Axes, handles: list[Line2D]) -> Figure:
    ax.legend(
        handles=handles,
        fontsize=7.5,
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
    )
    fig.tight_layout()
    return fig


def _smooth(series: pd.Series) -> pd.Series:
    return series.rolling(SMOOTH_WEEKS, min_periods=1).mean()


def storefront_shares(model: PolicyVsCounterfactual) -> Figure:
    fig, ax = _axes(model, "GMV share by storefront (4-week mean)", "Share of online GMV (%)")
    df = model_frame(model)
    handles: list[Line2D] = []
    for name in getattr(model, "platform_names", []):
        colour = PLATFORM_COLOURS.get(name, "0.4")
        handles.append(Line2D([], [], color=colour, label=name))
        if not df.empty:
            ax.plot(df.index, _smooth(df[f"policy:gmv_share[{name}]"]) * 100, "-", color=colour, lw=1.6)
            ax.plot(
                df.index, _smooth(df[f"counterfactual:gmv_share[{name}]"]) * 100, "--", color=colour, lw=1.0
            )
    ax.set_ylim(0, 60)
    return _finish(fig, ax, handles + STYLE)


def group_shares(model: PolicyVsCounterfactual) -> Figure:
    fig, ax = _axes(model, "GMV share by operator group (one membership)", "Share of online GMV (%)")
    df = model_frame(model)
    handles: list[Line2D] = []
    for i, group in enumerate(getattr(model, "groups", [])):
        colour = GROUP_COLOURS.get(group, SERIES_COLOURS[i % len(SERIES_COLOURS)])
        handles.append(Line2D([], [], color=colour, label=group))
        if not df.empty:
            ax.plot(
                df.index, _smooth(df[f"policy:group_gmv_share[{group}]"]) * 100, "-", color=colour, lw=1.6
            )
            ax.plot(
                df.index,
                _smooth(df[f"counterfactual:group_gmv_share[{group}]"]) * 100,
                "--",
                color=colour,
                lw=1.0,
            )
    ax.set_ylim(0, 60)
    return _finish(fig, ax, handles + STYLE)


def revenue_difference(model: PolicyVsCounterfactual) -> Figure:
    """MSME revenue by origin and channel: % difference of the chosen policy from no policy."""
    fig, ax = _axes(model, "MSME revenue vs no policy", "Difference from no policy (%)")
    df = model_frame(model)
    handles: list[Line2D] = []
    lowest = -10.0
    for origin in ("local", "import_reseller", "online", "offline", "cross_border"):
        colour = ORIGIN_COLOURS[origin]
        handles.append(Line2D([], [], color=colour, label=ORIGIN_LABELS[origin]))
        if not df.empty:
            mine = _smooth(df[f"policy:msme_revenue_idr[{origin}]"])
            base = _smooth(df[f"counterfactual:msme_revenue_idr[{origin}]"])
            difference = 100 * (mine / base.where(base > 0) - 1)
            ax.plot(df.index, difference, color=colour, lw=1.4)
            if origin != "cross_border" and difference.notna().any():
                lowest = min(lowest, float(difference.min()))
    ax.axhline(0, color="0.2", lw=0.9)
    # Domestic effects of a few percent stay readable; the floor's cut of cross-border sales
    # (about -90%) leaves the panel at the bottom, where its label says so.
    ax.set_ylim(max(lowest * 1.2, -40.0), 20.0)
    ax.text(
        0.99,
        0.02,
        "cross-border sellers: clipped at the bottom when below",
        fontsize=7,
        color=ORIGIN_COLOURS["cross_border"],
        transform=ax.transAxes,
        ha="right",
    )
    return _finish(fig, ax, handles)
