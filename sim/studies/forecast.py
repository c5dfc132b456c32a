"""Forecast of what was not fitted: annual storefront and group GMV shares for 2024-2025.

    python -m sim.studies.forecast [--draws 12] [--seeds 2] [--estimate docs/estimation/full/estimate.json]
                           [--out results/forecast] [overrides]

Parameter uncertainty times seed noise: ``draws`` parameter vectors are drawn from the estimate's
sampling distribution (``python -m sim.studies.estimate``: normal on the estimation scale, with the
sandwich covariance), each run on ``seeds`` seeds under ``history``. The estimation saw only data
through 2023, so 2024 and 2025 are out of sample: no later figure is used or tuned to. Without an
estimate file the default market is run on ``draws x seeds`` seeds (seed noise only, and the
label says so). Writes ``forecast.csv`` (mean and 90% band per year, storefront and operator
group), ``forecast_runs.csv`` (every run) and ``forecast.png``.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from sim.experiments.compose import compose_config
from sim.schema.errors import command, positive_int

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
    return [(f"draw {k}", [f"{key}={from_free(by_key[key], float(x)):.6g}"
                           for key, x in zip(keys, row, strict=True)])
            for k, row in enumerate(sample)]


def one_run(label: str, overrides: list[str], seed: int) -> pd.DataFrame:
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
    return float(sum(((moments[t.name] - t.value) / t.tolerance) ** 2
                     for t in targets() if t.name in moments))


# A draw is kept when its fit to the record (FIT_TARGETS targets) is within the 90% bound of a
# chi-square: the linearised sampling distribution is only an approximation, and a draw far in its
# tails can contradict the very data it was estimated from.
FIT_TARGETS = 10
ACCEPT_Q = 15.99  # chi-square 90% quantile with 10 degrees of freedom


def summarise(runs: pd.DataFrame, accept_q: float = float("inf")) -> pd.DataFrame:
    rows = runs[runs["year"].isin(YEARS) & (runs["fit_q"] <= accept_q)]
    grouped = rows.groupby(["level", "year", "name"])["share"]
    return pd.DataFrame({"mean": grouped.mean(), "p5": grouped.quantile(0.05),
                         "p95": grouped.quantile(0.95), "runs": grouped.size()}).reset_index()


def plot(table: pd.DataFrame, path: Path, label: str) -> None:
    from sim.views.figures import PLATFORM_COLOURS, new_figure

    fig, ax = new_figure(figsize=(10, 5))
    table = table[table["level"] == "storefront"]
    names = list(dict.fromkeys(table["name"]))
    width = 0.8 / len(YEARS)
    for k, year in enumerate(YEARS):
        rows = table[table["year"] == year].set_index("name").loc[names]
        x = np.arange(len(names)) + (k - (len(YEARS) - 1) / 2) * width
        ax.bar(x, 100 * rows["mean"], width, alpha=0.35 + 0.3 * k,
               color=[PLATFORM_COLOURS.get(n, "0.5") for n in names])
        ax.errorbar(x, 100 * rows["mean"], yerr=[100 * (rows["mean"] - rows["p5"]),
                                                  100 * (rows["p95"] - rows["mean"])],
                    fmt="none", ecolor="0.2", capsize=3, lw=1)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel("Share of annual online GMV (%)")
    ax.set_title(f"Storefront shares under history: 2023 fitted, 2024-2025 forecast\n"
                 f"(bars: mean; whiskers: 90% band; {label})",
                 loc="left", fontsize=10)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color="0.35", alpha=0.35 + 0.3 * k, label=str(year))
                       for k, year in enumerate(YEARS)],
              title="year (each storefront's colour, lighter = earlier)", fontsize=8,
              title_fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


@command
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Annual storefront and group share forecast, 2024-2025")
    parser.add_argument("--draws", type=positive_int, default=12)
    parser.add_argument("--seeds", type=positive_int, default=2)
    parser.add_argument("--estimate", default="docs/estimation/full/estimate.json")
    parser.add_argument("--accept-q", type=float, default=ACCEPT_Q,
                        help="keep runs whose fit to the record through 2023 is at most this "
                             "(sum of squared errors in tolerances; inf keeps every run)")
    parser.add_argument("--out", default="results/forecast")
    parser.add_argument("--workers", type=positive_int, default=2)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    args = parser.parse_args(argv)
    compose_config(list(args.overrides))  # bad overrides fail here, before any run
    sets = parameter_draws(args.estimate, args.draws)
    seeds = args.seeds if len(sets) > 1 else args.seeds * args.draws
    # Each draw gets its own seeds, so parameter and seed noise are both in the band.
    jobs = [(label, [*overrides, *args.overrides], k * seeds + s)
            for k, (label, overrides) in enumerate(sets) for s in range(seeds)]
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn")) as pool:
        runs = pd.concat(pool.map(one_run, *zip(*jobs, strict=True)), ignore_index=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = summarise(runs, args.accept_q)
    if table.empty:
        raise SystemExit(f"error: no run fits the record within --accept-q {args.accept_q:g}; "
                         "draw more parameter vectors (--draws)")
    runs.to_csv(out / "forecast_runs.csv", index=False)
    table.to_csv(out / "forecast.csv", index=False)
    kept = runs.drop_duplicates(["parameter_set", "seed"])
    accepted = int((kept["fit_q"] <= args.accept_q).sum())
    label = (f"{accepted} of {len(kept)} runs ({len(sets)} parameter draws x {seeds} seeds) "
             "consistent with the record" if len(sets) > 1
             else f"default market, {seeds} seeds, no parameter uncertainty")
    plot(table, out / "forecast.png", label)
    print(table.assign(mean=lambda t: (100 * t["mean"]).round(1), p5=lambda t: (100 * t["p5"]).round(1),
                       p95=lambda t: (100 * t["p95"]).round(1)).to_string(index=False))
    print(f"wrote {out / 'forecast.csv'} and {out / 'forecast.png'} ({label})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
