"""Figures drawn from the tidy table (never from a live model): market shares and MSME revenue."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd

from sim.config import ScenarioConfig
from sim.policies import policy_events

PLATFORM_COLOURS = {
    "Shopee": "#ee4d2d", "Tokopedia": "#03ac0e", "TikTok Shop": "#111111",
    "Lazada": "#0f146d", "Bukalapak": "#d71149", "Blibli": "#0095da",
}
SERIES_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
SMOOTH_WEEKS = 4


def weekly_series(table: pd.DataFrame, scenario: str, metric: str) -> pd.DataFrame:
    """One metric of one scenario as (date x entity), averaged over seeds, 4-week rolling mean."""
    rows = table[(table["scenario"] == scenario) & (table["metric"] == metric)]
    wide = rows.pivot_table(index="date", columns="entity", values="value", aggfunc="mean",
                            observed=True)
    return wide.rolling(SMOOTH_WEEKS, min_periods=1).mean()


def mark_events(axes: list[plt.Axes], scenario: ScenarioConfig, fig: plt.Figure) -> None:
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


def _format_time_axis(ax: plt.Axes) -> None:
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.grid(alpha=0.25)


def _title(scenarios: list[ScenarioConfig], what: str) -> str:
    if len(scenarios) > 1:
        return f"{what}: {scenarios[0].name} (solid) vs {scenarios[1].name} (dashed)"
    return f"{what}: {scenarios[0].name}"


def plot_market_share(table: pd.DataFrame, scenarios: list[ScenarioConfig], path: Path) -> None:
    fig, (ax_store, ax_group) = plt.subplots(2, 1, figsize=(11, 8.5), sharex=True,
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
    mark_events([ax_store, ax_group], scenarios[0], fig)
    fig.suptitle(_title(scenarios, "Indonesian e-commerce GMV share, 4-week mean"), fontsize=12)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    fig.savefig(path, dpi=120)
    plt.close(fig)


MSME_PANELS = [
    ("Local producers", "msme_revenue_idr", ["local"]),
    ("Resellers of imports", "msme_revenue_idr", ["import_reseller"]),
    ("Cross-border sellers", "msme_revenue_idr", ["cross_border"]),
    ("All sellers by channel", "msme_revenue_idr", ["online", "offline"]),
]


def plot_msme_revenue(table: pd.DataFrame, scenarios: list[ScenarioConfig], path: Path) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
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
    fig.savefig(path, dpi=120)
    plt.close(fig)
