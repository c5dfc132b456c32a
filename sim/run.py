"""Run orchestration: build a model from a config, step it, and write the run's files atomically.

Imports neither Hydra nor the CLI; the figures are drawn from the tidy table by ``sim.plotting``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd

import sim
from sim.config import Config, ScenarioConfig
from sim.model import EcommerceModel
from sim.moments import annual_gmv_share, annual_msme_revenue, annual_total_gmv_usd_bn

SUMMARY = "summary.json"
TIMESERIES = "timeseries.parquet"
ERROR = "error.json"  # a failed run's record (sweeps)
AGENTS = "agents.parquet"


def _concat(frames: list[pd.DataFrame], categorical: tuple[str, ...]) -> pd.DataFrame:
    out = pd.concat(frames, ignore_index=True)
    for col in categorical:
        out[col] = out[col].astype("category")
    return out


def simulate(cfg: Config, show_progress: bool = False) -> pd.DataFrame:
    """Run one scenario to the end of the horizon and return its tidy long table."""
    return simulate_with_history(cfg, show_progress)[0]


def simulate_with_history(cfg: Config, show_progress: bool = False
                          ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Run one scenario; return its tidy table and, if enabled, its agent history."""
    model = EcommerceModel(cfg)
    weeks = range(len(model.dates))
    if show_progress:
        from tqdm import tqdm

        weeks = tqdm(weeks, desc=f"{cfg.scenario.name} seed {cfg.seed}", unit="week",
                     file=sys.stderr)
    for _ in weeks:
        model.step()
    history = model.agent_history.table() if model.agent_history is not None else None
    return model.recorder.table(), history


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling path; it replaces ``path`` only if the block succeeds."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def summarise(table: pd.DataFrame, cfg: Config, wall_s: float) -> dict:
    """Annual figures per scenario in the table, plus provenance."""
    scenarios = {}
    for name, rows in table.groupby("scenario", observed=True):
        n_seeds = rows["seed"].nunique()  # amounts are means over the run's seeds
        shares = annual_gmv_share(rows)
        revenue = annual_msme_revenue(rows) / n_seeds
        scenarios[str(name)] = {
            "annual_gmv_share": {str(y): {k: round(float(v), 5) for k, v in row.items()}
                                 for y, row in shares.iterrows()},
            "annual_gmv_usd_bn": {str(y): round(float(v), 3) for y, v in
                                  (annual_total_gmv_usd_bn(rows, cfg.market.usd_idr)
                                   / n_seeds).items()},
            "annual_msme_revenue_idr": {str(y): {k: float(v) for k, v in row.items()}
                                        for y, row in revenue.iterrows()},
        }
    return {
        "scenario": cfg.scenario.name,
        "seed": cfg.seed,
        "seeds": list(range(cfg.seed, cfg.seed + cfg.seeds)),
        "counterfactual": cfg.counterfactual,
        "results": scenarios,
        "wall_time_s": round(wall_s, 3),
        "package_version": sim.__version__,
        "files": ([TIMESERIES] + ([AGENTS] if cfg.agent_history.every_weeks else [])
                  + (["market_share.png", "msme_revenue.png"] if cfg.figures else [])),
    }


def run_job(cfg: Config, out_dir: Path, counterfactual: ScenarioConfig | None,
            show_progress: bool = False, resolved_config_yaml: str | None = None) -> dict:
    """Simulate the scenario (and its counterfactual, same seed) and write the run directory.

    ``summary.json`` is written last: its presence marks a complete run. A stale one from an
    earlier attempt in the same directory is removed first.
    """
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SUMMARY).unlink(missing_ok=True)
    if resolved_config_yaml is not None:
        with atomic_path(out_dir / "resolved_config.yaml") as tmp:
            tmp.write_text(resolved_config_yaml)
    with_counterfactual = counterfactual is not None and counterfactual.name != cfg.scenario.name
    runs = []
    for seed in range(cfg.seed, cfg.seed + cfg.seeds):  # seeds=N: one table, bands in the figures
        runs.append(simulate_with_history(replace(cfg, seed=seed), show_progress))
        if with_counterfactual:
            runs.append(simulate_with_history(replace(cfg, seed=seed, scenario=counterfactual),
                                              show_progress))
    tables = [table for table, _ in runs]
    table = _concat(tables, ("scenario", "metric", "entity"))
    with atomic_path(out_dir / TIMESERIES) as tmp:
        table.to_parquet(tmp, index=False)
    histories = [history for _, history in runs if history is not None]
    if histories:
        with atomic_path(out_dir / AGENTS) as tmp:
            _concat(histories, ("scenario", "agent_type", "field")).to_parquet(tmp, index=False)
    if cfg.figures:
        from sim.plotting import plot_market_share, plot_msme_revenue

        scenarios = [cfg.scenario] + ([counterfactual] if with_counterfactual else [])
        plot_market_share(table, scenarios, out_dir / "market_share.png", market=cfg.market)
        plot_msme_revenue(table, scenarios, out_dir / "msme_revenue.png")
    summary = summarise(table, cfg, time.perf_counter() - started)
    summary["config"] = asdict(cfg)
    write_json(out_dir / SUMMARY, summary)
    return summary
