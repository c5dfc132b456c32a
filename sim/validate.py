"""Validation report: the patterns the model should reproduce, each against its public source.

    python -m sim.validate [--seeds 5] [--out docs] [overrides...]

Runs ``history`` and ``no_policy`` on the same seeds (default scale unless overridden), measures
each pattern and writes ``OUT/validation.md`` with its figures. Patterns the defaults were fitted
to are marked "fitted"; the others were not used in fitting and test the model out of sample.
"""

from __future__ import annotations

import argparse
import datetime as dt
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.errors import command, positive_int
from sim.hydra_app import compose_config
from sim.moments import annual_gmv_share, annual_total_gmv_usd_bn, calibration_targets, quarterly_gmv_share

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

BAN_WINDOW = (dt.date(2023, 10, 9), dt.date(2023, 12, 11))
BEFORE_BAN = (dt.date(2023, 8, 7), dt.date(2023, 10, 2))


@dataclass
class Pattern:
    name: str
    observed: str
    source: str
    model: str
    passed: bool
    fitted: bool


def _weeks_between(model, window: tuple[dt.date, dt.date]) -> bool:
    return window[0] <= model.current_date < window[1]


def run_pair(seed: int, overrides: tuple[str, ...]) -> dict:
    """history and no_policy on one seed, with the agent-level facts the report needs."""
    from sim.model import EcommerceModel
    from sim.population import CROSS_BORDER

    out: dict = {}
    for scenario in ("history", "no_policy"):
        cfg = compose_config([f"scenario={scenario}", f"seed={seed}", "counterfactual=null",
                              *overrides])
        model = EcommerceModel(cfg)
        tiktok = model.platform_names.index("TikTok Shop")
        before = np.zeros(model.msmes.n)
        before_tiktok = np.zeros(model.msmes.n)
        during = np.zeros(model.msmes.n)
        facts: dict = {}
        while model.running:
            model.step()
            ms, sh = model.msmes, model.shoppers
            sold = model.clearing.sold_idr
            if _weeks_between(model, BEFORE_BAN):
                before += sold.sum(axis=1)
                before_tiktok += sold[:, tiktok]
            elif _weeks_between(model, BAN_WINDOW):
                during += sold.sum(axis=1)
            if model.current_date == dt.date(2023, 6, 5):
                online = ms.active & ms.listed.any(axis=1) & (ms.origin != CROSS_BORDER)
                facts["storefronts_per_online_msme"] = float(
                    (ms.listed[online].sum(axis=1) * ms.weight[online]).sum() / ms.weight[online].sum())
            if model.current_date == dt.date(2024, 6, 3):
                marketplaces = ~model.is_social
                apps = sh.adopted[marketplaces].sum(axis=0)
                facts["marketplace_apps_per_user"] = float(apps[apps > 0].mean())
            if model.current_date == dt.date(2023, 9, 4):
                facts["app_users_2023q3"] = float((sh.adopted.any(axis=0)).sum() * sh.weight)
        reliant = (before > 0) & (before_tiktok > 0.5 * before)
        weights = model.msmes.weight[reliant]
        if reliant.any():
            # Per firm, weekly: the ban window and the weeks before it have different lengths.
            weeks_before = (BEFORE_BAN[1] - BEFORE_BAN[0]).days / 7
            weeks_during = (BAN_WINDOW[1] - BAN_WINDOW[0]).days / 7
            change = (during[reliant] / weeks_during) / (before[reliant] / weeks_before) - 1
            facts["tiktok_reliant_revenue_change"] = float(np.average(change, weights=weights))
            facts["tiktok_reliant_firms"] = float(weights.sum())
        out[scenario] = {"table": model.recorder.table(), **facts}
    return out


def _mean(runs: list[dict], scenario: str, key: str) -> float:
    values = [r[scenario].get(key) for r in runs if r[scenario].get(key) is not None]
    return float(np.mean(values)) if values else float("nan")


def _window(table: pd.DataFrame, metric: str, entity: str, window: tuple[dt.date, dt.date]) -> float:
    rows = table[(table["metric"] == metric) & (table["entity"] == entity)]
    dates = pd.to_datetime(rows["date"])
    mask = (dates >= pd.Timestamp(window[0])) & (dates < pd.Timestamp(window[1]))
    return float(rows.loc[mask, "value"].mean())


def evaluate(runs: list[dict]) -> list[Pattern]:
    targets = calibration_targets()
    history = [r["history"]["table"] for r in runs]
    free = [r["no_policy"]["table"] for r in runs]
    shares = sum(annual_gmv_share(t) for t in history) / len(history)
    quarterly = sum(quarterly_gmv_share(t) for t in history) / len(history)
    totals = sum(annual_total_gmv_usd_bn(t, 15_500.0) for t in history) / len(history)
    patterns: list[Pattern] = []

    rows = targets[(targets.metric == "gmv_share") & (targets.period == "2022")]
    errors = {r.platform: 100 * shares.loc[2022, r.platform] - r.value for r in rows.itertuples()}
    patterns.append(Pattern(
        "2022 GMV shares", ", ".join(f"{r.platform} {r.value:g}%" for r in rows.itertuples()),
        "Momentum Works 2023", ", ".join(f"{k} {100 * shares.loc[2022, k]:.1f}%" for k in errors),
        all(abs(e) <= 3 for e in errors.values()), True))

    tiktok = [100 * shares.loc[2021, "TikTok Shop"], 100 * shares.loc[2022, "TikTok Shop"],
              100 * quarterly.loc["2023Q3", "TikTok Shop"]]
    patterns.append(Pattern(
        "TikTok Shop's growth 2021 to 2023Q3", "under 2% in 2021, 5% in 2022, 10-15% in 2023Q3",
        "Momentum Works 2023; Bloomberg Intelligence",
        f"{tiktok[0]:.1f}%, {tiktok[1]:.1f}%, {tiktok[2]:.1f}%",
        tiktok[0] < 2 and 3 <= tiktok[1] <= 7 and 10 <= tiktok[2] <= 15
        and tiktok[0] < tiktok[1] < tiktok[2], True))

    banned = max(_window(t, "gmv_idr", "TikTok Shop", BAN_WINDOW) for t in history)
    patterns.append(Pattern(
        "TikTok Shop's GMV stops under the ban", "transactions stopped 2023-10-04",
        "policy_timeline.csv (Kompas; VOI)", f"{banned:.3g} IDR per week during the ban",
        banned == 0, False))

    def effect(metric: str, entity: str) -> float:
        return float(np.mean([_window(h, metric, entity, BAN_WINDOW)
                              / _window(f, metric, entity, BAN_WINDOW) - 1
                              for h, f in zip(history, free, strict=True)]))

    shopee, tokopedia = effect("gmv_idr", "Shopee"), effect("gmv_idr", "Tokopedia")
    shopee_vs_before = float(np.mean([_window(h, "gmv_idr", "Shopee", BAN_WINDOW)
                                      / _window(h, "gmv_idr", "Shopee", BEFORE_BAN) - 1
                                      for h in history]))
    row = targets[targets.metric == "ban_diversion"].iloc[0]
    patterns.append(Pattern(
        "Part of TikTok Shop's demand moves to Shopee and Tokopedia",
        f"Shopee sales +{row.value:g}% after TikTok Shop closed (FMCG and beauty panel)", row.source,
        f"Shopee {100 * shopee:+.1f}%, Tokopedia {100 * tokopedia:+.1f}% against no_policy; "
        f"Shopee {100 * shopee_vs_before:+.1f}% against its Aug-Sep level",
        shopee > 0 and tokopedia > 0, False))

    lost = effect("online_gmv_idr", "all")
    patterns.append(Pattern(
        "Part of it is lost", "the panel's total still fell (net -197 bn IDR)", row.source,
        f"online GMV {100 * lost:+.1f}% against no_policy during the ban", lost < 0, False))

    drop = -_mean(runs, "history", "tiktok_reliant_revenue_change")
    row = targets[targets.metric == "ban_seller_loss"].iloc[0]
    patterns.append(Pattern(
        "Sellers who relied on TikTok Shop lose most of their sales",
        f"{row.value:g}% of sales lost ({row.low:g}-{row.high:g}%)", row.source,
        f"{100 * drop:.0f}% lost by firms with over half their sales on TikTok Shop before the ban",
        row.low - 10 <= 100 * drop <= row.high + 10, False))

    homing = _mean(runs, "history", "storefronts_per_online_msme")
    patterns.append(Pattern(
        "Sellers multi-home", "APJII survey: 73.7% + 38.8% + 34.3% + 12.5% + 10.2% = about 1.7 "
        "platforms per online MSME", "APJII MSME survey 2023 (calibration_targets.csv)",
        f"{homing:.2f} storefronts per online domestic MSME (2023-06)", 1.2 <= homing <= 2.2, False))

    apps = _mean(runs, "history", "marketplace_apps_per_user")
    patterns.append(Pattern(
        "Shoppers multi-home", "at least 1.5 marketplace apps per online shopper (TikTok excluded)",
        "YouGov 2024 (calibration_targets.csv)", f"{apps:.2f} marketplace apps per user (2024-06)",
        1.3 <= apps <= 2.5, False))

    ratios = []
    for t in history:
        p90 = _window(t, "msme_revenue_per_firm_idr", "p90", (dt.date(2023, 1, 1), dt.date(2024, 1, 1)))
        med = _window(t, "msme_revenue_per_firm_idr", "median", (dt.date(2023, 1, 1),
                                                                  dt.date(2024, 1, 1)))
        ratios.append(p90 / med)
    ratio = float(np.mean(ratios))
    patterns.append(Pattern(
        "MSME revenue is heavy-tailed", "most MSMEs are micro firms; a few are large",
        "KemenKopUKM (63.4 M of 64.2 M MSMEs are micro)",
        f"P90 / median weekly revenue per firm = {ratio:.1f} (2023)", ratio >= 3, False))

    online = float(np.mean([_window(t, "msmes_online", "all", (dt.date(2023, 12, 1),
                                                               dt.date(2024, 1, 1))) for t in history]))
    patterns.append(Pattern(
        "MSMEs selling online", "27 M MSMEs onboarded to digital channels by 2023-12",
        "KemenKopUKM (calibration_targets.csv msme_digital)", f"{online / 1e6:.1f} M firms",
        abs(online / 27e6 - 1) <= 0.3, False))

    sellers = float(np.mean([_window(t, "sellers", "TikTok Shop", (dt.date(2023, 9, 1),
                                                                   dt.date(2023, 10, 2))) for t in history]))
    patterns.append(Pattern(
        "TikTok Shop's sellers before the ban", "2-6 M sellers (2023-10)",
        "TikTok via Rest of World; Reuters", f"{sellers / 1e6:.1f} M firms (2023-09)",
        2e6 <= sellers <= 6e6, False))

    growth = float(totals.loc[2023] / totals.loc[2022] - 1)
    patterns.append(Pattern(
        "Online GMV growth in 2023", "+3.7%", "Momentum Works 2024",
        f"{100 * growth:+.1f}%", -0.05 <= growth <= 0.12, False))

    users = _mean(runs, "history", "app_users_2023q3")
    monthly = float(np.mean([_window(t, "online_gmv_idr", "all", (dt.date(2023, 7, 1),
                                                                  dt.date(2023, 10, 1))) for t in history]))
    spend = monthly * 52 / 12 / users
    patterns.append(Pattern(
        "Online spend per online shopper", "IDR 429,509 per month (2023H2)",
        "Jakpat (calibration_targets.csv online_spend)", f"IDR {spend:,.0f} per month (2023Q3)",
        abs(spend / 429_509 - 1) <= 0.3, False))
    return patterns


def figures(runs: list[dict], out: Path) -> list[str]:
    from sim.plotting import PLATFORM_COLOURS, band, new_figure

    targets = calibration_targets()
    fig, ax = new_figure(figsize=(9, 5))
    per_seed = [annual_gmv_share(r["history"]["table"]) * 100 for r in runs]
    for name in per_seed[0].columns:
        values = pd.concat([s[name] for s in per_seed], axis=1)
        b = band(values)
        ax.plot(b.index, b["mean"], "-o", color=PLATFORM_COLOURS.get(name), label=f"{name} (model)")
        ax.fill_between(b.index, b["low"], b["high"], color=PLATFORM_COLOURS.get(name), alpha=0.2)
    data = targets[(targets.metric == "gmv_share") & (targets.period == "2022")]
    ax.scatter([2022] * len(data), data.value, marker="x", s=70, color="k", zorder=5,
               label="2022 data (Momentum Works)")
    ax.set_xticks(list(per_seed[0].index))
    _finish(fig, ax, "Share of annual online GMV (%)",
            "Annual GMV shares under history: model (mean, 90% band over seeds) and data",
            out / "validation_shares.png")

    fig, ax = new_figure(figsize=(9, 5))
    for scenario, style in (("history", "-"), ("no_policy", "--")):
        for name in ("Shopee", "Tokopedia", "TikTok Shop"):
            series = []
            for r in runs:
                t = r[scenario]["table"]
                rows = t[(t["metric"] == "gmv_idr") & (t["entity"] == name)].set_index("date")["value"]
                series.append(rows)
            mean = pd.concat(series, axis=1).mean(axis=1) / 1e12
            shown = (mean.index >= pd.Timestamp("2023-06-01")) & (mean.index < pd.Timestamp("2024-06-01"))
            mean = mean[shown]
            ax.plot(mean.index, mean, style, color=PLATFORM_COLOURS[name],
                    label=f"{name} ({scenario})")
    for day, label in ((dt.date(2023, 10, 4), "ban"), (dt.date(2023, 12, 12), "pilot relaunch")):
        ax.axvline(pd.Timestamp(day), color="0.4", ls=":")
        ax.annotate(label, (pd.Timestamp(day), 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -12), textcoords="offset points", fontsize=8)
    _finish(fig, ax, "GMV (IDR trillion per week)",
            "The ban in weekly GMV: history (solid) against no_policy (dashed), mean over seeds",
            out / "validation_ban.png")
    return ["validation_shares.png", "validation_ban.png"]


def _finish(fig: Figure, ax: Axes, ylabel: str, title: str, path: Path) -> None:
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(fontsize=7.5, ncol=2, frameon=False)
    ax.grid(alpha=0.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_report(patterns: list[Pattern], pictures: list[str], out: Path, seeds: int,
                 overrides: tuple[str, ...]) -> Path:
    passed = sum(p.passed for p in patterns)
    lines = ["# Validation", "",
             f"Generated by `python -m sim.validate --seeds {seeds}"
             + (" " + " ".join(overrides) if overrides else "") + f"` on {dt.date.today()}: "
             f"`history` and `no_policy` on {seeds} seeds, same seed per pair. "
             f"{passed} of {len(patterns)} patterns pass. Patterns marked *fitted* were targets of "
             "the calibration; the others were not used in fitting.", "",
             "| pattern | observed | source | model | result |", "|---|---|---|---|---|"]
    for p in patterns:
        result = ("pass" if p.passed else "**FAIL**") + (" (fitted)" if p.fitted else "")
        lines.append(f"| {p.name} | {p.observed} | {p.source} | {p.model} | {result} |")
    lines += [""] + [f"![{name}]({name})" for name in pictures]
    path = out / "validation.md"
    path.write_text("\n".join(lines) + "\n")
    return path


@command
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Write the validation report")
    parser.add_argument("--seeds", type=positive_int, default=5)
    parser.add_argument("--out", default="docs")
    parser.add_argument("--workers", type=positive_int, default=2)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for both scenarios")
    args = parser.parse_args(argv)
    compose_config(list(args.overrides))  # bad overrides fail here, before any run
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    overrides = tuple(args.overrides)
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn")) as pool:
        runs = list(pool.map(run_pair, range(args.seeds), [overrides] * args.seeds))
    patterns = evaluate(runs)
    path = write_report(patterns, figures(runs, out), out, args.seeds, overrides)
    for p in patterns:
        print(f"{'pass' if p.passed else 'FAIL'}  {p.name}: {p.model}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
