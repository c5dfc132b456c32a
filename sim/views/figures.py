"""Figures drawn from the tidy table (never from a live model): market shares and MSME revenue.

Figures are built as ``matplotlib.figure.Figure`` objects without pyplot, so importing this module
never switches the backend (a notebook keeps its inline backend) and the figures are not held by
pyplot's figure manager. The plotting functions return the Figure and save it when given a path;
a returned Figure shows inline in a notebook as a PNG (``ShownFigure``).
"""

from __future__ import annotations

from collections.abc import Mapping
from io import BytesIO
from pathlib import Path
from typing import Any, Literal, overload

import matplotlib
import matplotlib.colors
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sim.core.policies import policy_events
from sim.schema.config import MarketConfig, ScenarioConfig
from sim.schema.tables import MAX_VARIANTS, own_rows, paired_counterfactual

# One colour per operator group, everywhere; each storefront is drawn in its group's family.
# TikTok Shop (ByteDance's until the Tokopedia deal closes, then in the Tokopedia group) is a
# dark green, so that after the close it reads as part of the green Tokopedia family.
GROUP_COLOURS = {
    "Sea Group": "#e8590c",
    "Tokopedia group": "#2b8a3e",
    "ByteDance": "#173d2a",
    "Alibaba": "#1c3f95",
    "Bukalapak": "#c2255c",
    "Djarum": "#7950f2",
}
PLATFORM_COLOURS = {
    "Shopee": GROUP_COLOURS["Sea Group"],
    "Tokopedia": "#40c057",
    "TikTok Shop": GROUP_COLOURS["ByteDance"],
    "Lazada": GROUP_COLOURS["Alibaba"],
    "Bukalapak": GROUP_COLOURS["Bukalapak"],
    "Blibli": GROUP_COLOURS["Djarum"],
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


@overload
def new_figure(
    nrows: Literal[1] = 1, ncols: Literal[1] = 1, *, figsize: tuple[float, float] | None = None
) -> tuple[Figure, Axes]: ...


@overload
def new_figure(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None, **subplots_kw: Any
) -> tuple[Figure, Any]: ...


def new_figure(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None, **subplots_kw: Any
) -> tuple[Figure, Any]:
    """A Figure and its axes, like ``pyplot.subplots`` but without pyplot: no backend is selected
    or switched and nothing needs closing. Keywords go to ``Figure.subplots`` (sharex, squeeze,
    gridspec_kw, ...). One Axes for a single plot without keywords; otherwise what
    ``Figure.subplots`` returns for them (an array of Axes, or one Axes with ``squeeze``)."""
    fig = ShownFigure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **subplots_kw)


def weekly_series(table: pd.DataFrame, scenario: str, metric: str) -> pd.DataFrame:
    """One metric of one scenario as (date x entity), averaged over seeds, 4-week rolling mean."""
    rows = table[(table["scenario"] == scenario) & (table["metric"] == metric)]
    wide = rows.pivot_table(index="date", columns="entity", values="value", aggfunc="mean", observed=True)
    return wide.rolling(SMOOTH_WEEKS, min_periods=1).mean()


ORIGIN_LABELS = {
    "local": "Local producers",
    "import_reseller": "Resellers of imports",
    "cross_border": "Cross-border sellers",
    "online": "Online",
    "offline": "Offline",
    "all": "All MSMEs",
}
ORIGIN_COLOURS = {
    "local": "#2b8a3e",
    "import_reseller": "#e67700",
    "cross_border": "#5f3dc4",
    "online": "#1971c2",
    "offline": "#868e96",
}
SCENARIO_LABELS = {
    "history": "Actual policy history",
    "no_policy": "No policy",
    "ban_only": "Ban only (no floor, no pilot)",
    "no_pilot": "Ban and floor, no pilot",
    "early_ban": "Everything a year earlier",
    "loose_enforcement": "Ban at 50% compliance",
    "strong_local_priority": "Pilot with strong local priority",
}
EVENT_MERGE_DAYS = 21  # events closer than this share one numbered marker


def scenario_label(name: str) -> str:
    """Plain-language name of a scenario for figures ("Actual policy history", "No policy")."""
    base, _, changed = name.partition("+")
    label = SCENARIO_LABELS.get(base, base.replace("_", " ").capitalize())
    return f"{label}, levers changed" if changed else label


def event_markers(events: list[tuple[Any, str]]) -> list[list[tuple[Any, str]]]:
    """Dated events grouped so that events within EVENT_MERGE_DAYS share one marker."""
    groups: list[list[tuple[Any, str]]] = []
    for day, label in sorted(events):
        if groups and (day - groups[-1][-1][0]).days < EVENT_MERGE_DAYS:
            groups[-1].append((day, label))
        else:
            groups.append([(day, label)])
    return groups


def mark_event(ax: Axes, day: Any, number: int | None = None, rise_pt: float = 9) -> None:
    """A dotted line at ``day`` and, with ``number``, that number above the panel; every other
    number sits ``rise_pt`` points higher, so that numbers of nearby events never collide."""
    day = pd.Timestamp(day)
    ax.axvline(day, color="0.35", lw=0.8, ls=":", zorder=0)
    if number is not None:
        ax.annotate(
            str(number),
            (day, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 2 + rise_pt * (number % 2 == 0)),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=7.5,
            color="0.15",
            fontweight="bold",
            gid="event-number",
        )


def mark_events(
    axes: list[Axes], scenario: ScenarioConfig, fig: Figure, numbered: list[Axes] | None = None
) -> int:
    """Dotted lines at the scenario's policy dates on every panel, a number above the lines of
    the ``numbered`` panels (default: all), and a key at the foot of the figure. Events a few
    days apart share one number and numbers alternate between two heights, so labels never
    collide. Returns the number of key lines (the caller leaves room for them)."""
    markers = event_markers(policy_events(scenario))
    numbered = axes if numbered is None else numbered
    for ax in axes:
        for i, group in enumerate(markers, start=1):
            mark_event(ax, group[0][0], i if ax in numbered else None)
    entries = [
        f"{i}: " + "; ".join(f"{label} ({day:%d %b %Y})" for day, label in group)
        for i, group in enumerate(markers, start=1)
    ]
    lines: list[str] = []
    for entry in entries:
        if lines and len(lines[-1]) + len(entry) < 150:
            lines[-1] += "     " + entry
        else:
            lines.append(entry)
    for k, line in enumerate(lines):
        fig.text(
            0.5,
            0.008 + 0.022 * (len(lines) - 1 - k),
            line,
            ha="center",
            va="bottom",
            fontsize=8,
            color="0.2",
            gid="event-key",
        )
    return len(lines)


def _format_time_axis(ax: Axes) -> None:
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.grid(alpha=0.25)


def _seeds_note(table: pd.DataFrame) -> str:
    n = table["seed"].nunique()
    return "one seed" if n == 1 else f"mean of {n} seeds, shaded: 90% band"


def _scenario_table(table: pd.DataFrame, scenario: str, metric: str) -> pd.DataFrame:
    """(date x (seed, entity)) of one metric of one scenario."""
    rows = table[(table["scenario"] == scenario) & (table["metric"] == metric)]
    return rows.pivot_table(
        index="date", columns=["seed", "entity"], values="value", aggfunc="mean", observed=True
    )


def _draw(
    ax: Axes, by_seed: pd.DataFrame, colour: str, style: str, label: str | None, smooth: int = SMOOTH_WEEKS
) -> None:
    """A (date x seed) frame as its mean across seeds, with a 90% band when seeds > 1."""
    smoothed = by_seed.rolling(smooth, min_periods=1).mean()
    b = band(smoothed)
    ax.plot(b.index, b["mean"], style, color=colour, lw=1.7 if style == "-" else 1.2, label=label)
    if smoothed.shape[1] > 1:
        ax.fill_between(
            b.index, b["low"], b["high"], color=colour, lw=0, alpha=0.22 if style == "-" else 0.12
        )


def group_membership(
    scenario: ScenarioConfig, dates: list[Any], market: MarketConfig | None = None
) -> pd.DataFrame:
    """(date x storefront) operator group of each storefront in each week under ``scenario``:
    the membership that the figures apply to every line they compare with it."""
    import datetime as dt

    from sim.core.policies import build_policy_path

    if market is None:
        from sim.schema.packaged import default_config

        market = default_config().market
    days = [pd.Timestamp(d).date() if not isinstance(d, dt.date) else d for d in dates]
    path = build_policy_path(market, scenario, days)
    names = [p.name for p in market.platforms.values()]
    groups = np.array(path.operators, dtype=object)[path.operator]
    return pd.DataFrame(groups, index=pd.DatetimeIndex(pd.to_datetime(days)), columns=names)


def comparable_group_shares(
    table: pd.DataFrame, scenario: str, membership: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Group shares of ``scenario`` recomputed from its storefront shares with ``membership``
    (date x storefront -> group): {group: (date x seed)}. Applying one membership to both
    scenarios keeps the merger's bookkeeping out of the policy comparison."""
    wide = _scenario_table(table, scenario, "gmv_share")
    out: dict[str, pd.DataFrame] = {}
    seeds = list(dict.fromkeys(wide.columns.get_level_values(0)))
    groups = list(dict.fromkeys(membership.to_numpy().ravel()))
    member = membership.reindex(wide.index)
    for group in groups:
        in_group = (member == group).to_numpy()
        columns = {
            seed: (wide[seed].reindex(columns=membership.columns).fillna(0.0).to_numpy() * in_group).sum(
                axis=1
            )
            for seed in seeds
        }
        out[group] = pd.DataFrame(columns, index=wide.index)
    return out


def _style_handles(scenarios: list[ScenarioConfig]) -> list[Line2D]:
    return [
        Line2D([], [], color="0.3", ls="-" if k == 0 else "--", lw=1.5, label=scenario_label(sc.name))
        for k, sc in enumerate(scenarios)
    ]


def _legend_right(ax: Axes, extra: list[Line2D] | None = None) -> None:
    handles, labels = ax.get_legend_handles_labels()
    handles += extra or []
    labels += [h.get_label() for h in extra or []]
    ax.legend(
        handles,
        labels,
        fontsize=8,
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
    )


def _group_label(group: str, membership: pd.DataFrame) -> str:
    """'Tokopedia group (Tokopedia; + TikTok Shop from 31 Jan 2024)' when membership changes."""
    parts: list[str] = []
    for name in membership.columns:
        in_group = membership[name] == group
        if in_group.all():
            parts.insert(0, name)
        elif in_group.any():
            start, end = in_group.idxmax(), in_group[::-1].idxmax()
            if in_group.iloc[-1]:
                parts.append(f"+ {name} from {start:%d %b %Y}")
            else:
                parts.append(f"{name} until {end:%d %b %Y}")
    inner = "; ".join(parts)
    return group if inner == group else f"{group} ({inner})"


def plot_market_share(
    table: pd.DataFrame,
    scenarios: list[ScenarioConfig],
    path: Path | str | None = None,
    market: MarketConfig | None = None,
) -> Figure:
    """GMV share by storefront and by operator group; the first scenario solid, a second dashed.
    Group lines of every scenario use the first scenario's group membership (``market`` gives
    the operators; the packaged default market when None). Several seeds in ``table`` are
    drawn as a mean with a 90% band. Returns the Figure, also saved to ``path`` if given."""
    fig, (ax_store, ax_group) = new_figure(
        2, 1, figsize=(12.5, 8.8), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    dates = sorted(table["date"].unique())
    membership = group_membership(scenarios[0], dates, market)
    for k, scenario in enumerate(scenarios):
        style = "-" if k == 0 else "--"
        shares = _scenario_table(table, scenario.name, "gmv_share") * 100
        for name in membership.columns:
            by_seed = shares.xs(name, axis=1, level="entity")
            _draw(ax_store, by_seed, PLATFORM_COLOURS.get(name, "0.4"), style, name if k == 0 else None)
        groups = comparable_group_shares(table, scenario.name, membership)
        for i, (group, by_seed) in enumerate(groups.items()):
            colour = GROUP_COLOURS.get(group, SERIES_COLOURS[i % len(SERIES_COLOURS)])
            _draw(ax_group, by_seed * 100, colour, style, _group_label(group, membership) if k == 0 else None)
    ax_store.set_ylabel("Share of online GMV (%)")
    ax_store.set_title("By storefront (the app where the order is placed)", loc="left", fontsize=10, pad=22)
    ax_group.set_ylabel("Share of online GMV (%)")
    note = ": one membership for both lines" if len(scenarios) > 1 else ""
    ax_group.set_title("By operator group" + note, loc="left", fontsize=10, pad=22)
    for ax in (ax_store, ax_group):
        _format_time_axis(ax)
        ax.set_ylim(bottom=0)
        _legend_right(ax, _style_handles(scenarios) if len(scenarios) > 1 else None)
    key_lines = mark_events([ax_store, ax_group], scenarios[0], fig)
    fig.suptitle(
        _title(scenarios, "Indonesian e-commerce: share of online GMV")
        + f"\n4-week mean, {_seeds_note(table)}",
        fontsize=12,
    )
    fig.tight_layout(rect=(0, 0.012 + 0.022 * key_lines, 1, 1))
    if path is not None:
        fig.savefig(path, dpi=RUN_DPI)
    return fig


def _title(scenarios: list[ScenarioConfig], what: str) -> str:
    if len(scenarios) > 1:
        return (
            f"{what}: {scenario_label(scenarios[0].name)} (solid) vs "
            f"{scenario_label(scenarios[1].name)} (dashed)"
        )
    return f"{what}: {scenario_label(scenarios[0].name)}"


MSME_PANELS = [
    ("Local producers", "msme_revenue_idr", ["local"]),
    ("Resellers of imports", "msme_revenue_idr", ["import_reseller"]),
    ("Cross-border sellers", "msme_revenue_idr", ["cross_border"]),
    ("All MSMEs by channel", "msme_revenue_idr", ["online", "offline"]),
]
# The ministry's question (were local producers helped?) gets a panel of its own: channel and
# cross-border swings of tens of percent would flatten a 2% effect on a shared axis.
DIFFERENCE_PANELS = [
    ("Domestic MSMEs by origin: difference from {cf} (%)", ["local", "import_reseller"]),
    (
        "All sellers by channel, and cross-border sellers: difference from {cf} (%)",
        ["online", "offline", "cross_border"],
    ),
]


def revenue_difference(
    table: pd.DataFrame, scenario: str, counterfactual: str, entity: str, smooth: int = SMOOTH_WEEKS
) -> pd.DataFrame:
    """(date x seed) % difference of MSME revenue of ``entity`` from the counterfactual, paired
    by seed, each series first smoothed by a ``smooth``-week mean."""

    def wide(name: str) -> pd.DataFrame:
        rows = table[
            (table["scenario"] == name)
            & (table["metric"] == "msme_revenue_idr")
            & (table["entity"] == entity)
        ]
        by_seed = rows.pivot_table(index="date", columns="seed", values="value", aggfunc="mean")
        return by_seed.rolling(smooth, min_periods=1).mean()

    mine, base = wide(scenario), wide(counterfactual)
    base = base.reindex(index=mine.index, columns=mine.columns)
    return 100 * (mine / base.where(base > 0) - 1)


def plot_msme_revenue(
    table: pd.DataFrame, scenarios: list[ScenarioConfig], path: Path | str | None = None
) -> Figure:
    """MSME revenue by origin and by channel (levels), and with a counterfactual the % difference
    from it by origin and channel, paired by seed; the first scenario solid, a second dashed.
    Several seeds are drawn as a mean with a 90% band. Returns the Figure, also saved to
    ``path`` if given."""
    compare = len(scenarios) > 1
    rows = 3 if compare else 2
    fig, axes = new_figure(rows, 2, figsize=(13, 4.0 * rows + 0.8), sharex=True)
    level_axes = list(axes.flat)[:4]
    for ax, (title, metric, entities) in zip(level_axes, MSME_PANELS, strict=True):
        for k, scenario in enumerate(scenarios):
            wide = _scenario_table(table, scenario.name, metric) / 1e12
            for entity in entities:
                _draw(
                    ax,
                    wide.xs(entity, axis=1, level="entity"),
                    ORIGIN_COLOURS[entity],
                    "-" if k == 0 else "--",
                    f"{ORIGIN_LABELS[entity]}, {scenario_label(scenario.name)}",
                )
        ax.set_title(title, loc="left", fontsize=10, pad=22)
        ax.set_ylabel("IDR trillion per week")
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * (1.45 if len(entities) > 1 else 1.3))
        ax.legend(fontsize=7.5, frameon=False, loc="upper left", ncol=1)
    numbered = level_axes[:2]
    if compare:
        cf = scenarios[1].name
        for ax, (title, entities) in zip(axes[2], DIFFERENCE_PANELS, strict=True):
            for entity in entities:
                _draw(
                    ax,
                    revenue_difference(table, scenarios[0].name, cf, entity, 1),
                    ORIGIN_COLOURS[entity],
                    "-",
                    ORIGIN_LABELS[entity],
                )
            ax.axhline(0, color="0.2", lw=0.9)
            ax.set_title(title.format(cf=scenario_label(cf)), loc="left", fontsize=10, pad=22)
            ax.set_ylabel(f"{scenario_label(scenarios[0].name)} vs {scenario_label(cf)} (%)", fontsize=8.5)
            low, high = ax.get_ylim()
            ax.set_ylim(low, high + 0.35 * (high - low))
            ax.legend(fontsize=7.5, frameon=False, loc="upper left", ncol=2 if len(entities) > 2 else 1)
    for ax in axes.flat:
        _format_time_axis(ax)
    key_lines = mark_events(list(axes.flat), scenarios[0], fig, numbered=numbered)
    fig.suptitle(_title(scenarios, "MSME revenue") + f"\n4-week mean, {_seeds_note(table)}", fontsize=12)
    fig.tight_layout(rect=(0, 0.012 + 0.022 * key_lines * 8.8 / (4.0 * rows + 0.8), 1, 1))
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
    return pd.DataFrame({"mean": values.mean(axis=1), "low": low, "high": high}, index=values.index)


def _by_seed(rows: pd.DataFrame, smooth: int) -> pd.DataFrame:
    wide = rows.pivot_table(index="date", columns="seed", values="value", aggfunc="mean")
    return wide.rolling(smooth, min_periods=1).mean()


def _grid(n: int, width: float = 5.2, height: float = 3.6) -> tuple[Figure, list[Axes]]:
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = new_figure(
        rows, cols, figsize=(width * cols, height * rows + 1.0), sharex=True, sharey=True, squeeze=False
    )
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def sweep_figures(
    table: pd.DataFrame, runs: pd.DataFrame, scenarios: Mapping[str, ScenarioConfig]
) -> dict[str, Figure]:
    """Comparison figures of a sweep keyed by file name: market_share.png, msme_revenue.png and,
    when the runs have a counterfactual, policy_effect.png. ``scenarios`` holds each variant's
    resolved scenario, whose policy dates are marked (``SweepResult.scenarios`` reads them from
    the runs' records). A sampled design (every run its own variant, as in a sensitivity
    analysis) has no readable comparison figure: past MAX_VARIANTS variants none is drawn."""
    variants = list(dict.fromkeys(runs.loc[runs["status"] == "ok", "variant"]))
    if len(variants) > MAX_VARIANTS:
        return {}
    own = own_rows(table, runs)
    figures = {
        "market_share.png": _plot_sweep_shares(own, variants, scenarios),
        "msme_revenue.png": _plot_sweep_revenue(own, variants),
    }
    effect = _plot_sweep_effect(table, own, runs, variants, scenarios)
    if effect is not None:
        figures["policy_effect.png"] = effect
    return figures


def plot_sweep(
    table: pd.DataFrame, runs: pd.DataFrame, scenarios: Mapping[str, ScenarioConfig], sweep_dir: Path
) -> list[str]:
    """Write the comparison figures of a sweep (``sweep_figures``) into sweep_dir; returns the
    file names written."""
    figures = sweep_figures(table, runs, scenarios)
    for name, fig in figures.items():
        fig.savefig(sweep_dir / name, dpi=SWEEP_DPI)
    return list(figures)


def _plot_sweep_shares(
    own: pd.DataFrame, variants: list[str], scenarios: Mapping[str, ScenarioConfig]
) -> Figure:
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
        _mark_dates(ax, scenarios[variant])
    axes[0].set_ylabel("Share of online GMV (%)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=6, fontsize=8, frameon=False, loc="lower center")
    fig.suptitle(
        "GMV share by storefront: mean across seeds and 90% band (4-week mean); "
        "dotted lines: the variant's policy dates",
        fontsize=11,
    )
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
    panels = [
        ("Local producers", "local"),
        ("Resellers of imports", "import_reseller"),
        ("Cross-border sellers", "cross_border"),
    ]
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
    fig.legend(handles, labels, ncol=min(len(labels), 5), fontsize=8, frameon=False, loc="lower center")
    fig.suptitle("MSME revenue by origin: mean across seeds and 90% band (4-week mean)", fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    return fig


def _plot_sweep_effect(
    table: pd.DataFrame,
    own: pd.DataFrame,
    runs: pd.DataFrame,
    variants: list[str],
    scenarios: Mapping[str, ScenarioConfig],
) -> Figure | None:
    cf = paired_counterfactual(table, own, runs)
    if cf.empty:
        return None
    variants = [v for v in variants if v in set(cf["variant"])]
    colours = _variant_colours(variants)
    fig, axes = new_figure(2, 2, figsize=(14, 8.5), sharex=True)
    for ax, (title, metric, entity) in zip(axes.flat, EFFECT_PANELS, strict=True):
        for variant in variants:
            mine = own[(own["variant"] == variant) & (own["metric"] == metric) & (own["entity"] == entity)]
            base = cf[(cf["variant"] == variant) & (cf["metric"] == metric) & (cf["entity"] == entity)]
            a = _by_seed(mine, EFFECT_WEEKS)
            b = _by_seed(base, EFFECT_WEEKS).reindex(columns=a.columns)
            b = band(100 * (a / b - 1))
            ax.plot(b.index, b["mean"], color=colours[variant], lw=1.3, label=variant)
            ax.fill_between(b.index, b["low"], b["high"], color=colours[variant], alpha=0.18, lw=0)
        ax.axhline(0, color="0.3", lw=0.8)
        _mark_dates(ax, scenarios[variants[0]])
        ax.set_title(title, loc="left", fontsize=10)
        ax.set_ylabel("Difference from counterfactual (%)")
        _format_time_axis(ax)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=min(len(labels), 5), fontsize=8, frameon=False, loc="lower center")
    fig.suptitle(
        "Policy effect: scenario minus its counterfactual, paired by seed "
        f"(mean and 90% band, {EFFECT_WEEKS}-week mean)",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    return fig
