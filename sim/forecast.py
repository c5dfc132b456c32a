"""Forecast of what was not fitted: annual GMV shares for 2023-2025 under ``history``.

    python -m sim.forecast [--top 3] [--seeds 20] [--study default] [--out results/forecast] [overrides]

Uses the ``top`` best trials of the Optuna study (``python -m sim.calibrate``) as parameter sets,
or the default market if there is no study, and ``seeds`` seeds for each. The calibration saw
only data before 2023-10, so 2023 as a whole, 2024 and 2025 are out of sample: no later market
share figure is used or tuned to. Writes ``forecast.csv`` (mean and 90% band per year and
storefront), ``forecast_runs.csv`` (every run) and ``forecast.png``.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import command, positive_int
from sim.hydra_app import compose_config

YEARS = (2023, 2024, 2025)


def parameter_sets(study: str, storage_dir: str, top: int) -> list[tuple[str, list[str]]]:
    """(label, overrides) of the best ``top`` trials, or the default market if no study exists."""
    db = Path(storage_dir) / f"{study}.db"
    if not db.is_file():
        return [("default market", [])]
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    loaded = optuna.load_study(study_name=study, storage=f"sqlite:///{db}")
    done = [t for t in loaded.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = sorted(done, key=lambda t: t.value)[:top]
    return [(f"trial {t.number} (loss {t.value:.3f})", [f"{k}={v!r}" for k, v in t.params.items()])
            for t in best]


def one_run(label: str, overrides: list[str], seed: int) -> pd.DataFrame:
    from sim.moments import annual_gmv_share
    from sim.run import simulate

    cfg = compose_config(["scenario=history", "counterfactual=null", f"seed={seed}", *overrides])
    shares = annual_gmv_share(simulate(cfg))
    long = shares.stack().rename("share").reset_index()
    long.columns = ["year", "storefront", "share"]
    return long.assign(parameter_set=label, seed=seed)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    rows = runs[runs["year"].isin(YEARS)]
    grouped = rows.groupby(["year", "storefront"])["share"]
    return pd.DataFrame({"mean": grouped.mean(), "p5": grouped.quantile(0.05),
                         "p95": grouped.quantile(0.95), "runs": grouped.size()}).reset_index()


def plot(table: pd.DataFrame, path: Path, label: str) -> None:
    from sim.plotting import PLATFORM_COLOURS, new_figure

    fig, ax = new_figure(figsize=(10, 5))
    names = list(dict.fromkeys(table["storefront"]))
    width = 0.8 / len(YEARS)
    for k, year in enumerate(YEARS):
        rows = table[table["year"] == year].set_index("storefront").loc[names]
        x = np.arange(len(names)) + (k - (len(YEARS) - 1) / 2) * width
        ax.bar(x, 100 * rows["mean"], width, alpha=0.35 + 0.3 * k,
               color=[PLATFORM_COLOURS.get(n, "0.5") for n in names])
        ax.errorbar(x, 100 * rows["mean"], yerr=[100 * (rows["mean"] - rows["p5"]),
                                                  100 * (rows["p95"] - rows["mean"])],
                    fmt="none", ecolor="0.2", capsize=3, lw=1)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel("Share of annual online GMV (%)")
    ax.set_title(f"Forecast under history, 2023-2025 (bars: mean; whiskers: 90% band; {label})",
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
    parser = argparse.ArgumentParser(description="Annual GMV share forecast, 2023-2025")
    parser.add_argument("--top", type=positive_int, default=3)
    parser.add_argument("--seeds", type=positive_int, default=20)
    parser.add_argument("--study", default="default")
    parser.add_argument("--storage-dir", default="results/calibration")
    parser.add_argument("--out", default="results/forecast")
    parser.add_argument("--workers", type=positive_int, default=2)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    args = parser.parse_args(argv)
    compose_config(list(args.overrides))  # bad overrides fail here, before any run
    sets = parameter_sets(args.study, args.storage_dir, args.top)
    jobs = [(label, [*overrides, *args.overrides], seed)
            for label, overrides in sets for seed in range(args.seeds)]
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn")) as pool:
        runs = pd.concat(pool.map(one_run, *zip(*jobs, strict=True)), ignore_index=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = summarise(runs)
    runs.to_csv(out / "forecast_runs.csv", index=False)
    table.to_csv(out / "forecast.csv", index=False)
    label = f"{len(sets)} parameter set(s) x {args.seeds} seeds"
    plot(table, out / "forecast.png", label)
    print(table.assign(mean=lambda t: (100 * t["mean"]).round(1), p5=lambda t: (100 * t["p5"]).round(1),
                       p95=lambda t: (100 * t["p95"]).round(1)).to_string(index=False))
    print(f"wrote {out / 'forecast.csv'} and {out / 'forecast.png'} ({label})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
