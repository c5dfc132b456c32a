"""Validation report: the patterns the model should reproduce, each against its public source.

    sim validate [seeds=5] [out=docs] ['model_overrides=["KEY=VALUE",...]'] [launcher=parallel]

Runs ``history`` and ``no_policy`` on the same seeds (default scale unless ``model_overrides``
say otherwise), measures each pattern and writes ``OUT/validation.md`` with its figures. Patterns
the defaults were fitted to are marked "fitted"; the others were not used in fitting and test the
model out of sample. The seeds are a fan-out through Hydra's launchers
(``sim.experiments.fanout``): one job per seed into ``runs_dir``, resumed on a rerun.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.experiments.compose import compose_config, compose_scenarios
from sim.experiments.fanout import Launch, check_launch, fan_out, helps
from sim.schema.config import ConfigError
from sim.schema.tables import annual_gmv_share, annual_total_gmv_usd_bn, quarterly_gmv_share
from sim.studies.moments import calibration_targets, record_moments

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from sim.core.model import EcommerceModel

BAN_WINDOW = (dt.date(2023, 10, 9), dt.date(2023, 12, 11))
BEFORE_BAN = (dt.date(2023, 8, 7), dt.date(2023, 10, 2))


@dataclass
class Pattern:
    """One pattern: the model's value must lie in [low, high], the observed figure's tolerance."""

    name: str
    observed: str  # the public figure, with its tolerance
    source: str
    model: str  # the model's value, as text
    value: float
    low: float
    high: float
    fitted: bool

    @property
    def passed(self) -> bool:
        return bool(self.low <= self.value <= self.high)

    @property
    def band(self) -> str:
        def show(x: float) -> str:
            return f"{x:,.0f}" if abs(x) >= 1e4 else f"{x:g}"

        return f"{show(self.low)} to {show(self.high)}"


def _weeks_between(model, window: tuple[dt.date, dt.date]) -> bool:
    return window[0] <= model.current_date < window[1]


@dataclass
class ValidateConfig(Launch):
    """``sim validate``: its keys (``Launch`` adds the launcher's)."""

    seeds: int = field(default=5, metadata=helps("history/no_policy pairs, on seeds 0 to seeds-1"))
    out: str = field(default="docs", metadata=helps("where validation.md and its figures go"))
    model_overrides: list[str] = field(
        default_factory=list,
        metadata=helps('overrides of the model config for every run, e.g. ["market.shoppers.n_agents=4000"]'),
    )
    runs_dir: str = field(
        default="results/validate/runs",
        metadata=helps("the seeds' job directories (kept: a rerun skips the finished ones)"),
    )


def run(cfg: ValidateConfig) -> int:
    """``sim validate``: run the pairs through the launcher, write the report, print verdicts."""
    if cfg.seeds < 1:
        raise ConfigError("seeds", f"must be >= 1, got {cfg.seeds}")
    check_launch(cfg)
    overrides = tuple(cfg.model_overrides)
    compose_config(list(overrides))  # bad overrides fail here, before any run
    runs = fan_out(
        "sim.studies.validate.run_pair",
        [{"seed": seed, "overrides": list(overrides)} for seed in range(cfg.seeds)],
        Path(cfg.runs_dir),
        cfg,
        label="validate",
    )
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    patterns = evaluate(runs)
    path = write_report(patterns, figures(runs, out), out, cfg.seeds, overrides)
    for p in patterns:
        print(f"{'pass' if p.passed else 'FAIL'}  {p.name}: {p.model}")
    print(f"wrote {path}")
    return 0


def run_pair(seed: int, overrides: tuple[str, ...] | list[str]) -> dict:
    """history and no_policy on one seed, with the agent-level facts the report needs. Their
    shared weeks (to the floor's in 2023) run once (``finish_sharing_past``): the history model
    is copied under no_policy there, and so is what it has gathered so far (``RunFacts``)."""
    from sim.experiments.run import finish_sharing_past

    cfgs = compose_scenarios(["history", "no_policy"], [f"seed={seed}", "counterfactual=null", *overrides])
    out: dict = {}
    for _, model, facts in finish_sharing_past(cfgs, RunFacts):
        assert facts is not None
        out[model.scenario_name] = {"table": model.recorder.table(), **facts.facts(model)}
    return {name: out[name] for name in ("history", "no_policy")}


class RunFacts:
    """The agent-level facts of one run that the report needs, gathered week by week (``week``
    after each step) and read at its end (``facts``)."""

    def __init__(self, model: EcommerceModel) -> None:
        self.tiktok = model.platform_names.index("TikTok Shop")
        self.before = np.zeros(model.msmes.n)
        self.before_tiktok = np.zeros(model.msmes.n)
        self.during = np.zeros(model.msmes.n)
        self.found: dict[str, float] = {}

    def week(self, model: EcommerceModel) -> None:
        from sim.core.population import CROSS_BORDER, online_share

        ms, sh = model.msmes, model.shoppers
        sold = model.clearing.sold_idr
        if _weeks_between(model, BEFORE_BAN):
            self.before += sold.sum(axis=1)
            self.before_tiktok += sold[:, self.tiktok]
        elif _weeks_between(model, BAN_WINDOW):
            self.during += sold.sum(axis=1)
        if model.current_date == dt.date(2023, 6, 5):
            # Storefronts per online firm: listings per firm over the share of firms online.
            domestic = ms.active & (ms.origin != CROSS_BORDER) & ~ms.large
            w = ms.weight[domestic]
            listings = (ms.listed_share[domestic].sum(axis=1) * w).sum()
            online = (online_share(ms.listed_share[domestic]) * w).sum()
            self.found["storefronts_per_online_msme"] = float(listings / max(online, 1e-12))
        if model.current_date == dt.date(2024, 6, 3):
            marketplaces = ~model.is_social
            apps = sh.adopted[marketplaces].sum(axis=0)
            self.found["marketplace_apps_per_user"] = float(apps[apps > 0].mean())
        if model.current_date == dt.date(2023, 9, 4):
            self.found["app_users_2023q3"] = float((sh.adopted.any(axis=0)).sum() * sh.weight)

    def facts(self, model: EcommerceModel) -> dict[str, float]:
        facts = dict(self.found)
        before, during = self.before, self.during
        reliant = (before > 0) & (self.before_tiktok > 0.5 * before) & ~model.msmes.large
        if reliant.any():
            # Weekly, as the ban window and the weeks before it have different lengths; the
            # reliant firms' sales taken together (the sellers' reports are of sales lost): an
            # average of per-agent ratios was led by agents with almost no sales before the ban.
            weeks_before = (BEFORE_BAN[1] - BEFORE_BAN[0]).days / 7
            weeks_during = (BAN_WINDOW[1] - BAN_WINDOW[0]).days / 7
            change = (during[reliant].sum() / weeks_during) / (before[reliant].sum() / weeks_before) - 1
            facts["tiktok_reliant_revenue_change"] = float(change)
            facts["tiktok_reliant_firms"] = float(model.msmes.weight[reliant].sum())
        return facts


def _mean(runs: list[dict], scenario: str, key: str) -> float:
    values = [r[scenario].get(key) for r in runs if r[scenario].get(key) is not None]
    return float(np.mean(values)) if values else float("nan")


def _window(table: pd.DataFrame, metric: str, entity: str, window: tuple[dt.date, dt.date]) -> float:
    rows = table[(table["metric"] == metric) & (table["entity"] == entity)]
    dates = pd.to_datetime(rows["date"])
    mask = (dates >= pd.Timestamp(window[0])) & (dates < pd.Timestamp(window[1]))
    return float(rows.loc[mask, "value"].mean())


def evaluate(runs: list[dict]) -> list[Pattern]:
    """Every pattern with a numeric band beside its source; none passes on sign alone."""
    targets = calibration_targets()
    history = [r["history"]["table"] for r in runs]
    free = [r["no_policy"]["table"] for r in runs]
    shares = sum(annual_gmv_share(t) for t in history) / len(history)
    quarterly = sum(quarterly_gmv_share(t) for t in history) / len(history)
    totals = sum(annual_total_gmv_usd_bn(t, 15_500.0) for t in history) / len(history)
    record = pd.DataFrame([record_moments(h, f) for h, f in zip(history, free, strict=True)]).mean()
    patterns: list[Pattern] = []

    rows = targets[(targets.metric == "gmv_share") & (targets.period == "2022")]
    for r in rows.itertuples():
        model = 100 * shares.loc[2022, r.platform]
        patterns.append(
            Pattern(
                f"2022 GMV share: {r.platform}",
                f"{r.value:g}% (+/- 3 pp)",
                "Momentum Works 2023",
                f"{model:.1f}%",
                model,
                r.value - 3,
                r.value + 3,
                True,
            )
        )

    total = float(totals.loc[2022])
    patterns.append(
        Pattern(
            "2022 online GMV",
            "US$52 bn (+/- 15%)",
            "Momentum Works 2023",
            f"US${total:.1f} bn",
            total,
            52 * 0.85,
            52 * 1.15,
            True,
        )
    )

    tiktok_q3 = 100 * quarterly.loc["2023Q3", "TikTok Shop"]
    patterns.append(
        Pattern(
            "TikTok Shop's share before the ban",
            "10-15% in 2023Q3",
            "Bloomberg Intelligence",
            f"{tiktok_q3:.1f}%",
            tiktok_q3,
            10,
            15,
            True,
        )
    )
    tiktok_2021 = 100 * shares.loc[2021, "TikTok Shop"]
    patterns.append(
        Pattern(
            "TikTok Shop in its launch year",
            "a small share in 2021 (2022: 5%); under 2%",
            "Momentum Works 2023 (2022 share); policy_timeline.csv launch 2021-04-17",
            f"{tiktok_2021:.1f}%",
            tiktok_2021,
            0,
            2,
            False,
        )
    )

    banned = max(_window(t, "gmv_idr", "TikTok Shop", BAN_WINDOW) for t in history)
    patterns.append(
        Pattern(
            "TikTok Shop's GMV stops under the ban",
            "0 (transactions stopped 2023-10-04; tolerance 0)",
            "policy_timeline.csv (Kompas; VOI)",
            f"{banned:.3g} IDR per week during the ban",
            banned,
            0,
            0,
            False,
        )
    )

    row = targets[targets.metric == "ban_diversion"].iloc[0]
    shopee = 100 * record["ban_shopee_vs_no_policy"]
    patterns.append(
        Pattern(
            "Shopee gains in the ban weeks (against no policy)",
            f"+{row.value:g}% (tolerance: +15% to +40%; an FMCG and beauty panel)",
            row.source,
            f"{shopee:+.1f}%",
            shopee,
            15,
            40,
            True,
        )
    )
    lost = 100 * record["ban_online_vs_no_policy"]
    patterns.append(
        Pattern(
            "Online GMV falls in the ban weeks (against no policy)",
            "below no policy (the panel's total fell, net -197 bn IDR); no lower than losing all of "
            "TikTok Shop's 12.5% share: -12.5% to -0.5%",
            row.source,
            f"{lost:+.1f}%",
            lost,
            -12.5,
            -0.5,
            False,
        )
    )

    growth = 100 * record["gmv_growth_2023"]
    patterns.append(
        Pattern(
            "Online GMV growth in 2023",
            "+3.7% (tolerance -1% to +9%)",
            "Momentum Works 2024",
            f"{growth:+.1f}%",
            growth,
            -1,
            9,
            True,
        )
    )
    tokopedia = 100 * record["tokopedia_growth_2023"]
    patterns.append(
        Pattern(
            "Tokopedia's GMV in 2023 against 2022",
            "-11.4% (18.4 -> 16.3 US$ bn; tolerance -20% to -2%)",
            "Momentum Works 2024 via Business Times",
            f"{tokopedia:+.1f}%",
            tokopedia,
            -20,
            -2,
            True,
        )
    )
    online = record["msmes_online_end_2023_m"]
    patterns.append(
        Pattern(
            "MSMEs selling online at end-2023",
            "27 M (tolerance +/- 20%: 21.6 to 32.4 M)",
            "KemenKopUKM (calibration_targets.csv msme_digital)",
            f"{online:.1f} M firms",
            online,
            21.6,
            32.4,
            True,
        )
    )

    drop = -100 * _mean(runs, "history", "tiktok_reliant_revenue_change")
    row = targets[targets.metric == "ban_seller_loss"].iloc[0]
    patterns.append(
        Pattern(
            "Sellers who relied on TikTok Shop lose most of their sales",
            f"{row.value:g}% of sales lost (reported {row.low:g}-{row.high:g}%; tolerance "
            f"{row.low - 10:g}-{row.high + 10:g}%)",
            row.source,
            (f"{drop:.0f}% lost" if drop >= 0 else f"{-drop:.0f}% gained (not lost)")
            + " by firms with over half their sales on TikTok Shop before the ban",
            drop,
            row.low - 10,
            row.high + 10,
            False,
        )
    )

    homing = _mean(runs, "history", "storefronts_per_online_msme")
    patterns.append(
        Pattern(
            "Sellers multi-home",
            "APJII survey: 73.7% + 38.8% + 34.3% + 12.5% + 10.2% = about 1.7 "
            "platforms per online MSME (tolerance 1.2 to 2.2)",
            "APJII MSME survey 2023 (calibration_targets.csv)",
            f"{homing:.2f} storefronts per online domestic MSME (2023-06)",
            homing,
            1.2,
            2.2,
            False,
        )
    )

    apps = _mean(runs, "history", "marketplace_apps_per_user")
    patterns.append(
        Pattern(
            "Shoppers multi-home",
            "at least 1.5 marketplace apps per online shopper, TikTok excluded (tolerance 1.3 to 2.5)",
            "YouGov 2024 (calibration_targets.csv; shape only, not fitted)",
            f"{apps:.2f} marketplace apps per user (2024-06)",
            apps,
            1.3,
            2.5,
            False,
        )
    )

    ratios = []
    for t in history:
        p90 = _window(t, "msme_revenue_per_firm_idr", "p90", (dt.date(2023, 1, 1), dt.date(2024, 1, 1)))
        med = _window(t, "msme_revenue_per_firm_idr", "median", (dt.date(2023, 1, 1), dt.date(2024, 1, 1)))
        ratios.append(p90 / med)
    ratio = float(np.mean(ratios))
    patterns.append(
        Pattern(
            "MSME revenue is heavy-tailed",
            "most MSMEs are micro firms, a few are large: P90 / median revenue per firm of 3 to 50",
            "KemenKopUKM (63.4 M of 64.2 M MSMEs are micro)",
            f"P90 / median weekly revenue per firm = {ratio:.1f} (2023)",
            ratio,
            3,
            50,
            False,
        )
    )

    sellers = float(
        np.mean(
            [
                _window(t, "sellers", "TikTok Shop", (dt.date(2023, 9, 1), dt.date(2023, 10, 2)))
                for t in history
            ]
        )
    )
    patterns.append(
        Pattern(
            "TikTok Shop's sellers before the ban",
            "2-6 M sellers (2023-10)",
            "TikTok via Rest of World; Reuters",
            f"{sellers / 1e6:.1f} M firms (2023-09)",
            sellers / 1e6,
            2,
            6,
            False,
        )
    )

    users = _mean(runs, "history", "app_users_2023q3")
    monthly = float(
        np.mean(
            [
                _window(t, "online_gmv_idr", "all", (dt.date(2023, 7, 1), dt.date(2023, 10, 1)))
                for t in history
            ]
        )
    )
    spend = monthly * 52 / 12 / users
    patterns.append(
        Pattern(
            "Online spend per online shopper",
            "IDR 429,509 per month (tolerance +/- 30%)",
            "Jakpat 2023H2 (calibration_targets.csv online_spend)",
            f"IDR {spend:,.0f} per month (2023Q3)",
            spend,
            round(429_509 * 0.7),
            round(429_509 * 1.3),
            False,
        )
    )
    return patterns


def figures(runs: list[dict], out: Path) -> list[str]:
    from sim.views.figures import PLATFORM_COLOURS, band, new_figure

    targets = calibration_targets()
    fig, ax = new_figure(figsize=(9, 5))
    per_seed = [annual_gmv_share(r["history"]["table"]) * 100 for r in runs]
    for name in per_seed[0].columns:
        values = pd.concat([s[name] for s in per_seed], axis=1)
        b = band(values)
        ax.plot(b.index, b["mean"], "-o", color=PLATFORM_COLOURS.get(name), label=f"{name} (model)")
        ax.fill_between(b.index, b["low"], b["high"], color=PLATFORM_COLOURS.get(name), alpha=0.2)
    data = targets[(targets.metric == "gmv_share") & (targets.period == "2022")]
    ax.scatter(
        [2022] * len(data),
        data.value,
        marker="x",
        s=70,
        color="k",
        zorder=5,
        label="2022 data (Momentum Works)",
    )
    ax.set_xticks(list(per_seed[0].index))
    _finish(
        fig,
        ax,
        "Share of annual online GMV (%)",
        "Annual GMV shares under history: model (mean, 90% band over seeds) and data",
        out / "validation_shares.png",
    )

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
            ax.plot(mean.index, mean, style, color=PLATFORM_COLOURS[name], label=f"{name} ({scenario})")
    for day, label in ((dt.date(2023, 10, 4), "ban"), (dt.date(2023, 12, 12), "pilot relaunch")):
        ax.axvline(pd.Timestamp(day), color="0.4", ls=":")
        ax.annotate(
            label,
            (pd.Timestamp(day), 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=8,
        )
    _finish(
        fig,
        ax,
        "GMV (IDR trillion per week)",
        "The ban in weekly GMV: history (solid) against no_policy (dashed), mean over seeds",
        out / "validation_ban.png",
    )
    return ["validation_shares.png", "validation_ban.png"]


def _finish(fig: Figure, ax: Axes, ylabel: str, title: str, path: Path) -> None:
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(fontsize=7.5, ncol=2, frameon=False)
    ax.grid(alpha=0.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


ESTIMATION_DIR = Path("docs/estimation")


def naive_baselines() -> dict[str, dict[str, float | None]]:
    """Two forecasts an analyst could make before October 2023 without a model, per target.

    *Carried forward*: 2022 as it was (no growth, no ban effect). *Trend*: total online GMV keeps
    its 2019-2022 compound growth (US$21 bn, e-Conomy, to US$52 bn, Momentum Works: the only
    pre-2023 totals in the data, from two methods), Tokopedia keeps its share, and a ban has no
    trend. Neither has a figure for MSMEs online before 2023 in the data (None)."""
    t = calibration_targets()
    total = t[t.metric == "gmv_total"].set_index("period")["value"]
    trend = float((total["2022"] / total["2019"]) ** (1 / 3) - 1)
    return {
        "carried forward": {
            "gmv_growth_2023": 0.0,
            "tokopedia_growth_2023": 0.0,
            "ban_shopee_vs_no_policy": 0.0,
            "msmes_online_end_2023_m": None,
        },
        "trend": {
            "gmv_growth_2023": trend,
            "tokopedia_growth_2023": trend,
            "ban_shopee_vs_no_policy": 0.0,
            "msmes_online_end_2023_m": None,
        },
    }


def _fmt(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if name.endswith("_m") or name.endswith("usd_bn"):
        return f"{value:.1f}"
    return f"{100 * value:+.1f}%" if "growth" in name or "vs" in name else f"{100 * value:.1f}%"


def estimation_sections(directory: Path = ESTIMATION_DIR) -> list[str]:
    """The estimate, its identification table and noise floor, and the backtest, from the files
    ``sim estimate`` wrote (docs/estimation/full and docs/estimation/backtest)."""
    full_path, back_path = directory / "full" / "estimate.json", directory / "backtest" / "estimate.json"
    if not full_path.is_file():
        return [
            "## Estimation",
            "",
            f"No estimate in `{full_path}`: run `sim estimate out={full_path.parent}`.",
            "",
        ]
    full = json.loads(full_path.read_text())
    lines = [
        "## Estimation",
        "",
        f"Method of simulated moments, common random numbers, {full['seeds']} seeds per "
        f"evaluation (`sim estimate seeds={full['seeds']} "
        f"out={full_path.parent}`; "
        f"{full['evaluations']} evaluations). Objective Q = sum of squared errors in "
        f"tolerances at the estimate: **{full['objective']:.2f}**; its noise floor, the "
        "standard deviation of Q over bootstrap resamples of the seeds at the estimate, is "
        f"**{full['objective_noise_sd']:.2f}**. Each target's seed-to-seed standard deviation "
        "divided by the square root of the seeds is below its tolerance where the column "
        "says so.",
        "",
        "| parameter | meaning | estimate | 90% interval | pinned by the targets |",
        "|---|---|---|---|---|",
    ]
    from sim.studies.estimate import PARAMETERS, from_free

    by_key = {p.key: p for p in PARAMETERS}
    for row in full["parameters"]:
        p = by_key[row["key"]]
        lo = from_free(p, row["free"] - 1.645 * row["free_se"])
        hi = from_free(p, row["free"] + 1.645 * row["free_se"])
        interval = f"{lo:.4g} to {hi:.4g}" if row["pinned"] else "fixed at the stated prior"
        lines.append(
            f"| `{row['key']}` | {row['meaning']} | {row['estimate']:.4g} | {interval} | "
            f"{'yes' if row['pinned'] else 'no'} |"
        )
    lines += [
        "",
        "| target | observed | tolerance | model | seed sd / sqrt(seeds) | source |",
        "|---|---|---|---|---|---|",
    ]
    for t in full["targets"]:
        noise = t["model_seed_sd"] / math.sqrt(full["seeds"])
        lines.append(
            f"| {t['name']} | {_fmt(t['name'], t['value'])} | {t['tolerance']:g} | "
            f"{_fmt(t['name'], t['model'])} | {noise:.4f} "
            f"({'below' if noise < t['tolerance'] else '**above**'} tolerance) | {t['source']} |"
        )
    names = [t["name"] for t in full["targets"]]
    lines += [
        "",
        "### Identification",
        "",
        "Change of each target, in tolerances, when one parameter moves by its finite-difference "
        "step (same seeds). A row with no entry of 1 or more is weakly identified.",
        "",
        "| parameter | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for key, row in full["jacobian_in_tolerances"].items():
        cells = [f"**{row[n]:+.2f}**" if abs(row[n]) >= 1 else f"{row[n]:+.2f}" for n in names]
        lines.append(f"| `{key.removeprefix('market.')}` | " + " | ".join(cells) + " |")
    lines.append("")
    if not back_path.is_file():
        return [*lines, "## Backtest", "", f"No backtest estimate in `{back_path}`.", ""]
    back = json.loads(back_path.read_text())
    baselines = naive_baselines()
    held_out = [t for t in back["targets"] if not t["used"]]
    lines += [
        "## Backtest",
        "",
        f"Estimated on the targets observable before {back['before']} only (`sim estimate "
        f"before={back['before']}"
        + (" from_priors=true" if back.get("from_priors") else "")
        + f" out={back_path.parent}`), starting every parameter but the level constants "
        "from its stated prior; parameters those targets cannot pin stay there. Then the ban "
        "window and 2023 are "
        "predicted and scored as |error| / tolerance against two naive forecasts (lower is "
        "better).",
        "",
        "| held-out target | observed | tolerance | model | " + " | ".join(baselines) + " |",
        "|---|---|---|---|" + "---|" * len(baselines),
    ]
    # Mean score over the held-out targets that every forecast covers, so the means compare.
    covered = [t for t in held_out if all(b.get(t["name"]) is not None for b in baselines.values())]
    for t in held_out:
        err = abs(t["model"] - t["value"]) / t["tolerance"]
        cells = []
        for base in baselines.values():
            guess = base.get(t["name"])
            cells.append(
                "n/a"
                if guess is None
                else f"{_fmt(t['name'], guess)} ({abs(guess - t['value']) / t['tolerance']:.1f})"
            )
        lines.append(
            f"| {t['name']} | {_fmt(t['name'], t['value'])} | {t['tolerance']:g} | "
            f"{_fmt(t['name'], t['model'])} ({err:.1f}) | " + " | ".join(cells) + " |"
        )
    means = {
        "model": backtest_score(covered, None),
        **{name: backtest_score(covered, base) for name, base in baselines.items()},
    }
    lines += [
        "",
        f"Mean |error| / tolerance over the {len(covered)} targets every forecast covers: "
        + ", ".join(f"{name} **{value:.2f}**" for name, value in means.items())
        + ".",
        "",
    ]
    return lines


def backtest_score(held_out: list[dict], baseline: dict[str, float | None] | None) -> float:
    """Mean |prediction - observed| / tolerance; the model's own predictions when no baseline."""
    errors = [
        abs((t["model"] if baseline is None else baseline[t["name"]]) - t["value"]) / t["tolerance"]
        for t in held_out
    ]
    return float(np.mean(errors)) if errors else float("nan")


def write_report(
    patterns: list[Pattern], pictures: list[str], out: Path, seeds: int, overrides: tuple[str, ...]
) -> Path:
    passed = sum(p.passed for p in patterns)
    lines = [
        "# Validation",
        "",
        f"Generated by `sim validate seeds={seeds}"
        + (f" 'model_overrides={json.dumps(list(overrides), separators=(',', ':'))}'" if overrides else "")
        + f"` on {dt.date.today()}: "
        f"`history` and `no_policy` on {seeds} seeds, same seed per pair, model values are "
        f"means over seeds. {passed} of {len(patterns)} patterns pass. Each pattern passes only "
        "when the model's value lies inside the numeric band given beside its source. Patterns "
        "marked *fitted* were targets of the estimation; the others were not used in fitting.",
        "",
        "| pattern | observed (tolerance) | source | model | band | result |",
        "|---|---|---|---|---|---|",
    ]
    for p in patterns:
        result = ("pass" if p.passed else "**FAIL**") + (" (fitted)" if p.fitted else "")
        lines.append(f"| {p.name} | {p.observed} | {p.source} | {p.model} | {p.band} | {result} |")
    lines += [""] + [f"![{name}]({name})" for name in pictures] + [""]
    lines += estimation_sections(out / "estimation" if out != Path("docs") else ESTIMATION_DIR)
    path = out / "validation.md"
    path.write_text("\n".join(lines) + "\n")
    return path
