"""Forecast of what was not fitted: annual storefront and group GMV shares for 2024-2025.

    sim forecast [draws=12] [seeds=2] [estimate=docs/estimation/full/estimate.json]
                 [out=results/forecast] ['model_overrides=[...]'] [launcher=parallel]

Parameter uncertainty times seed noise: ``draws`` parameter vectors are drawn from the estimate's
sampling distribution (``sim estimate``: normal on the estimation scale, with the
sandwich covariance), each run on ``seeds`` seeds under ``history``. The estimation saw only data
through 2023, so 2024 and 2025 are out of sample: no later figure is used or tuned to. Without an
estimate file the default market is run on ``draws x seeds`` seeds (seed noise only, and the
label says so). Writes ``forecast.csv`` (mean and 90% band per year, storefront and operator
group), ``forecast_runs.csv`` (every run) and ``forecast.png``. The runs are a fan-out through
Hydra's launchers (``sim.experiments.fanout``): one job per draw and seed into ``runs_dir``,
resumed on a rerun.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.experiments.compose import compose_config
from sim.experiments.fanout import Launch, check_launch, fan_out, helps
from sim.schema.config import ConfigError
from sim.schema.errors import RunError

YEARS = (2023, 2024, 2025)  # 2023 is shown as the fitted year beside the forecast


def parameter_draws(estimate_file: str, draws: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    """(label, overrides) of ``draws`` parameter vectors from the estimate's sampling distribution,
    or the default market alone when there is no estimate file."""
    path = Path(estimate_file)
    if not path.is_file():
        return [("default market", [])]
    from sim.studies.estimate import PARAMETERS, from_free

    result = json.loads(path.read_text())
    by_key = {p.key: p for p in PARAMETERS}
    keys = [row["key"] for row in result["parameters"]]
    mean = np.array([row["free"] for row in result["parameters"]])
    cov = np.array(result["free_covariance"])
    rng = np.random.default_rng(seed)
    sample = rng.multivariate_normal(mean, cov, size=draws, method="eigh")
    return [
        (
            f"draw {k}",
            [f"{key}={from_free(by_key[key], float(x)):.6g}" for key, x in zip(keys, row, strict=True)],
        )
        for k, row in enumerate(sample)
    ]


def one_run(label: str, overrides: Sequence[str], seed: int) -> pd.DataFrame:
    from sim.experiments.run import simulate
    from sim.schema.tables import annual_gmv_share, annual_group_share

    cfg = compose_config(["scenario=history", "counterfactual=null", f"seed={seed}", *overrides])
    table = simulate(cfg)
    fit_q = fit_to_the_record(table, cfg.market.usd_idr)
    frames = []
    for level, shares in (("storefront", annual_gmv_share(table)), ("group", annual_group_share(table))):
        long = shares.stack().rename("share").reset_index()
        long.columns = ["year", "name", "share"]
        frames.append(long.assign(level=level))
    return pd.concat(frames, ignore_index=True).assign(parameter_set=label, seed=seed, fit_q=fit_q)


def fit_to_the_record(table: pd.DataFrame, usd_idr: float) -> float:
    """Sum of squared errors, in tolerances, of one ``history`` run against the record through 2023
    that needs no counterfactual (2022 shares and total, TikTok Shop's 2023Q3 share, 2023 growth
    of the market and of Tokopedia)."""
    from sim.schema.tables import annual_total_gmv_usd_bn
    from sim.studies.estimate import targets
    from sim.studies.moments import fit_moments, history_moments

    moments = {**fit_moments(table, usd_idr), **history_moments(table)}
    moments["gmv_2022_usd_bn"] = float(annual_total_gmv_usd_bn(table, usd_idr).loc[2022])
    return float(
        sum(((moments[t.name] - t.value) / t.tolerance) ** 2 for t in targets() if t.name in moments)
    )


# A draw is kept when its fit to the record (FIT_TARGETS targets) is within the 90% bound of a
# chi-square: the linearised sampling distribution is only an approximation, and a draw far in its
# tails can contradict the very data it was estimated from.
FIT_TARGETS = 10
ACCEPT_Q = 15.99  # chi-square 90% quantile with 10 degrees of freedom


def summarise(runs: pd.DataFrame, accept_q: float = float("inf")) -> pd.DataFrame:
    rows = runs[runs["year"].isin(YEARS) & (runs["fit_q"] <= accept_q)]
    grouped = rows.groupby(["level", "year", "name"])["share"]
    return pd.DataFrame(
        {
            "mean": grouped.mean(),
            "p5": grouped.quantile(0.05),
            "p95": grouped.quantile(0.95),
            "runs": grouped.size(),
        }
    ).reset_index()


def plot(table: pd.DataFrame, path: Path, label: str) -> None:
    from sim.views.figures import PLATFORM_COLOURS, new_figure

    fig, ax = new_figure(figsize=(10, 5))
    table = table[table["level"] == "storefront"]
    names = list(dict.fromkeys(table["name"]))
    width = 0.8 / len(YEARS)
    for k, year in enumerate(YEARS):
        rows = table[table["year"] == year].set_index("name").loc[names]
        x = np.arange(len(names)) + (k - (len(YEARS) - 1) / 2) * width
        ax.bar(
            x,
            100 * rows["mean"],
            width,
            alpha=0.35 + 0.3 * k,
            color=[PLATFORM_COLOURS.get(n, "0.5") for n in names],
        )
        ax.errorbar(
            x,
            100 * rows["mean"],
            yerr=[100 * (rows["mean"] - rows["p5"]), 100 * (rows["p95"] - rows["mean"])],
            fmt="none",
            ecolor="0.2",
            capsize=3,
            lw=1,
        )
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel("Share of annual online GMV (%)")
    ax.set_title(
        f"Storefront shares under history: 2023 fitted, 2024-2025 forecast\n"
        f"(bars: mean; whiskers: 90% band; {label})",
        loc="left",
        fontsize=10,
    )
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(color="0.35", alpha=0.35 + 0.3 * k, label=str(year)) for k, year in enumerate(YEARS)],
        title="year (each storefront's colour, lighter = earlier)",
        fontsize=8,
        title_fontsize=8,
        frameon=False,
    )
    ax.grid(axis="y", alpha=0.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


@dataclass
class ForecastConfig(Launch):
    """``sim forecast``: its keys (``Launch`` adds the launcher's)."""

    draws: int = field(default=12, metadata=helps("parameter vectors drawn from the estimate"))
    seeds: int = field(default=2, metadata=helps("seeds per draw (each draw its own seeds)"))
    estimate: str = field(
        default="docs/estimation/full/estimate.json",
        metadata=helps("the estimate to draw from (sim estimate); a missing file runs the default market"),
    )
    accept_q: float = field(
        default=ACCEPT_Q,
        metadata=helps(
            "keep runs whose fit to the record through 2023 is at most this (inf keeps every run)"
        ),
    )
    out: str = field(
        default="results/forecast",
        metadata=helps("where forecast.csv, forecast_runs.csv and forecast.png go"),
    )
    model_overrides: list[str] = field(
        default_factory=list,
        metadata=helps('overrides of the model config for every run, e.g. ["market.shoppers.n_agents=4000"]'),
    )
    runs_dir: str = field(
        default="results/forecast/runs",
        metadata=helps("the runs' job directories (kept: a rerun skips the finished ones)"),
    )


def run(cfg: ForecastConfig) -> int:
    """``sim forecast``: run the draws through the launcher and write the bands."""
    for name in ("draws", "seeds"):
        if getattr(cfg, name) < 1:
            raise ConfigError(name, f"must be >= 1, got {getattr(cfg, name)}")
    if math.isnan(cfg.accept_q):
        raise ConfigError("accept_q", "must be a number (inf keeps every run)")
    check_launch(cfg)
    compose_config(list(cfg.model_overrides))  # bad overrides fail here, before any run
    sets = parameter_draws(cfg.estimate, cfg.draws)
    seeds = cfg.seeds if len(sets) > 1 else cfg.seeds * cfg.draws
    # Each draw gets its own seeds, so parameter and seed noise are both in the band.
    jobs = [
        {"label": label, "overrides": [*overrides, *cfg.model_overrides], "seed": k * seeds + s}
        for k, (label, overrides) in enumerate(sets)
        for s in range(seeds)
    ]
    runs = pd.concat(
        fan_out("sim.studies.forecast.one_run", jobs, Path(cfg.runs_dir), cfg, label="forecast"),
        ignore_index=True,
    )
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    table = summarise(runs, cfg.accept_q)
    if table.empty:
        raise RunError(
            f"no run fits the record within accept_q={cfg.accept_q:g}; draw more "
            "parameter vectors (draws=...)"
        )
    runs.to_csv(out / "forecast_runs.csv", index=False)
    table.to_csv(out / "forecast.csv", index=False)
    kept = runs.drop_duplicates(["parameter_set", "seed"])
    accepted = int((kept["fit_q"] <= cfg.accept_q).sum())
    label = (
        f"{accepted} of {len(kept)} runs ({len(sets)} parameter draws x {seeds} seeds) "
        "consistent with the record"
        if len(sets) > 1
        else f"default market, {seeds} seeds, no parameter uncertainty"
    )
    plot(table, out / "forecast.png", label)
    print(
        table.assign(
            mean=lambda t: (100 * t["mean"]).round(1),
            p5=lambda t: (100 * t["p5"]).round(1),
            p95=lambda t: (100 * t["p95"]).round(1),
        ).to_string(index=False)
    )
    print(f"wrote {out / 'forecast.csv'} and {out / 'forecast.png'} ({label})")
    return 0
