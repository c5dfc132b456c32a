"""Sensitivity analysis with SALib: Morris screening of every declared parameter, then Sobol on
the most influential, for four policy outputs.

    sim sensitivity [trajectories=6] [sobol_n=32] [top=4] [out=results/sensitivity]
                    ['model_overrides=[...]'] [launcher=parallel]

Parameters and ranges are those of the calibration (``conf/calibration/``; log ranges are sampled
on the log scale). Every sample point is a run of ``history`` with ``no_policy`` alongside on
seed 0, executed as an ordinary Hydra multirun of model runs (``sim --multirun
point_file=... point=range(N)``) into ``out/morris/runs`` and ``out/sobol/runs``, so it
parallelises with any launcher (the ``launcher`` key), resumes when interrupted (a finished run
with the same config and code is skipped) and runs on a cluster. Outputs:
- ``shopee_share_2024``: Shopee's share of 2024 online GMV under history;
- ``tokopedia_group_share_2024``: the Tokopedia group's (with TikTok Shop after the deal);
- ``local_revenue_change_2024``: local producers' 2024 revenue, history against no_policy;
- ``online_gmv_change_2024``: total 2024 online GMV, history against no_policy.
Writes ``morris.csv`` and ``morris.png`` (mu* against sigma), ``sobol.csv`` and ``sobol.png``
(first-order and total indices with 95% intervals).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.experiments.compose import compose_config
from sim.experiments.fanout import Launch, check_launch, helps
from sim.experiments.sweep import multirun_command, quoted, stream
from sim.schema.config import ConfigError
from sim.schema.errors import RunError

OUTPUTS = [
    "shopee_share_2024",
    "tokopedia_group_share_2024",
    "local_revenue_change_2024",
    "online_gmv_change_2024",
]


def problem(parameters: dict) -> tuple[dict, list[bool]]:
    names = list(parameters)
    logs = [bool(parameters[n].log) for n in names]
    bounds = [
        [np.log10(parameters[n].low), np.log10(parameters[n].high)]
        if log
        else [parameters[n].low, parameters[n].high]
        for n, log in zip(names, logs, strict=True)
    ]
    return {"num_vars": len(names), "names": names, "bounds": bounds}, logs


def to_points(x: np.ndarray, spec: dict, logs: list[bool]) -> pd.DataFrame:
    values = np.where(logs, 10.0**x, x)
    return pd.DataFrame(values, columns=spec["names"])


def run_points(points: pd.DataFrame, folder: Path, launch: Launch, overrides: list[str]) -> Path:
    """Run every point as one Hydra multirun into ``folder/runs``; return the sweep directory."""
    folder.mkdir(parents=True, exist_ok=True)
    point_file = (folder / "points.csv").resolve()
    points.to_csv(point_file, index=False)
    sweep = (folder / "runs").resolve()
    arguments = [
        f"point_file={quoted(point_file)}",
        f"point=range({len(points)})",
        "scenario=history",
        "counterfactual=no_policy",
        "figures=false",
        "seed=0",
        *overrides,
        *(["force=true"] if launch.force else []),
        *launch.launcher_overrides,
    ]
    command = multirun_command("sim", arguments, sweep, launch.launcher, launch.workers)
    code, tail = stream(command)
    if code != 0:
        raise RunError("sensitivity sweep failed:\n" + "\n".join(tail[-15:]))
    return sweep


def outputs(sweep: Path, n_points: int) -> np.ndarray:
    """(points, outputs) matrix read from the runs' summaries and tables, by point index."""
    y = np.full((n_points, len(OUTPUTS)), np.nan)
    for summary_path in sweep.glob("*/summary.json"):
        summary = json.loads(summary_path.read_text())
        point = summary["config"]["point"]
        history, free = summary["results"]["history"], summary["results"]["no_policy"]
        table = pd.read_parquet(
            summary_path.parent / "timeseries.parquet", filters=[("scenario", "==", "history")]
        )
        year = pd.to_datetime(table["date"]).dt.year == 2024
        group = table[year & (table["metric"] == "group_gmv_idr")]
        group_share = group[group["entity"] == "Tokopedia group"]["value"].sum() / group["value"].sum()
        y[point] = [
            history["annual_gmv_share"]["2024"]["Shopee"],
            group_share,
            history["annual_msme_revenue_idr"]["2024"]["local"]
            / free["annual_msme_revenue_idr"]["2024"]["local"]
            - 1,
            history["annual_gmv_usd_bn"]["2024"] / free["annual_gmv_usd_bn"]["2024"] - 1,
        ]
    if np.isnan(y).any():
        missing = sorted(set(np.flatnonzero(np.isnan(y).any(axis=1)).tolist()))
        raise RuntimeError(f"points without results: {missing[:10]}")
    return y


def morris(
    parameters: dict, trajectories: int, folder: Path, launch: Launch, overrides: list[str], seed: int = 0
) -> pd.DataFrame:
    from SALib.analyze import morris as morris_analyze
    from SALib.sample import morris as morris_sample

    spec, logs = problem(parameters)
    x = morris_sample.sample(spec, trajectories, num_levels=4, seed=seed)
    sweep = run_points(to_points(x, spec, logs), folder, launch, overrides)
    y = outputs(sweep, len(x))
    rows = []
    for k, name in enumerate(OUTPUTS):
        res = morris_analyze.analyze(spec, x, y[:, k], num_levels=4, seed=seed)
        for i, param in enumerate(spec["names"]):
            rows.append(
                {
                    "output": name,
                    "parameter": param,
                    "mu_star": res["mu_star"][i],
                    "mu_star_conf": res["mu_star_conf"][i],
                    "sigma": res["sigma"][i],
                }
            )
    return pd.DataFrame(rows)


def most_influential(screen: pd.DataFrame, top: int) -> list[str]:
    """Parameters ranked by mu* normalised within each output, best first."""
    norm = screen.assign(
        score=screen["mu_star"] / screen.groupby("output")["mu_star"].transform("max").replace(0, 1)
    )
    return norm.groupby("parameter")["score"].max().sort_values(ascending=False).index[:top].tolist()


def sobol(
    parameters: dict,
    names: list[str],
    base_n: int,
    folder: Path,
    launch: Launch,
    overrides: list[str],
    seed: int = 0,
) -> pd.DataFrame:
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    spec, logs = problem({n: parameters[n] for n in names})
    x = sobol_sample.sample(spec, base_n, calc_second_order=False, seed=seed)
    sweep = run_points(to_points(x, spec, logs), folder, launch, overrides)
    y = outputs(sweep, len(x))
    rows = []
    for k, name in enumerate(OUTPUTS):
        res = sobol_analyze.analyze(spec, y[:, k], calc_second_order=False, seed=seed)
        for i, param in enumerate(spec["names"]):
            rows.append(
                {
                    "output": name,
                    "parameter": param,
                    "S1": res["S1"][i],
                    "S1_conf": res["S1_conf"][i],
                    "ST": res["ST"][i],
                    "ST_conf": res["ST_conf"][i],
                }
            )
    return pd.DataFrame(rows)


def _short(name: str) -> str:
    return name.replace("market.", "").replace("platforms.", "").replace("_per_week", "")


def plot_morris(screen: pd.DataFrame, path: Path) -> None:
    from sim.views.figures import new_figure

    fig, axes = new_figure(2, 2, figsize=(13, 9.5))
    for ax, name in zip(axes.flat, OUTPUTS, strict=True):
        rows = screen[screen["output"] == name]
        ax.scatter(rows["mu_star"], rows["sigma"], color="#1b9e77")
        for row in rows.itertuples():
            ax.annotate(
                _short(row.parameter),
                (row.mu_star, row.sigma),
                fontsize=7,
                xytext=(3, 2),
                textcoords="offset points",
            )
        ax.set_title(name, loc="left", fontsize=10)
        ax.set_xlabel("mu* (mean absolute elementary effect)")
        ax.set_ylabel("sigma (spread: non-linearity, interactions)")
        ax.grid(alpha=0.25)
    fig.suptitle(
        "Morris screening of the calibration parameters (history against no_policy, seed 0)", fontsize=11
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=110)


def plot_sobol(indices: pd.DataFrame, path: Path) -> None:
    from sim.views.figures import new_figure

    fig, axes = new_figure(2, 2, figsize=(13, 9))
    for ax, name in zip(axes.flat, OUTPUTS, strict=True):
        rows = indices[indices["output"] == name]
        x = np.arange(len(rows))
        ax.bar(
            x - 0.2, rows["S1"], 0.4, yerr=rows["S1_conf"], capsize=3, label="first order S1", color="#7570b3"
        )
        ax.bar(x + 0.2, rows["ST"], 0.4, yerr=rows["ST_conf"], capsize=3, label="total ST", color="#d95f02")
        ax.set_xticks(x, [_short(p) for p in rows["parameter"]], rotation=20, fontsize=8)
        ax.set_title(name, loc="left", fontsize=10)
        ax.set_ylabel("Sobol index (95% interval)")
        ax.axhline(0, color="0.3", lw=0.8)
        ax.grid(axis="y", alpha=0.25)
    axes[0, 0].legend(fontsize=8, frameon=False)
    fig.suptitle("Sobol indices of the most influential parameters", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=110)


@dataclass
class SensitivityConfig(Launch):
    """``sim sensitivity``: its keys (``Launch`` adds the launcher's)."""

    trajectories: int = field(default=6, metadata=helps("Morris trajectories"))
    sobol_n: int = field(default=32, metadata=helps("Sobol base sample size (N x (k + 2) runs)"))
    top: int = field(default=4, metadata=helps("parameters Morris ranks highest, for Sobol"))
    out: str = field(
        default="results/sensitivity",
        metadata=helps("where morris.csv, sobol.csv, their figures and the runs go"),
    )
    model_overrides: list[str] = field(
        default_factory=list,
        metadata=helps('overrides of the model config for every run, e.g. ["market.shoppers.n_agents=5000"]'),
    )


def run(cfg: SensitivityConfig) -> int:
    """``sim sensitivity``: Morris over every calibration parameter, then Sobol on the top ones."""
    from sim.studies.calibrate import load_config

    for name in ("trajectories", "sobol_n", "top"):
        if getattr(cfg, name) < 1:
            raise ConfigError(name, f"must be >= 1, got {getattr(cfg, name)}")
    check_launch(cfg)
    overrides = list(cfg.model_overrides)
    compose_config(overrides)  # bad overrides fail here, before any run
    parameters = load_config([]).parameters
    out = Path(cfg.out)
    screen = morris(parameters, cfg.trajectories, out / "morris", cfg, overrides)
    screen.to_csv(out / "morris.csv", index=False)
    plot_morris(screen, out / "morris.png")
    top = most_influential(screen, cfg.top)
    print("Morris, most influential first:", ", ".join(top))
    indices = sobol(parameters, top, cfg.sobol_n, out / "sobol", cfg, overrides)
    indices.to_csv(out / "sobol.csv", index=False)
    plot_sobol(indices, out / "sobol.png")
    print(indices.round(3).to_string(index=False))
    print(f"wrote {out}/morris.csv, morris.png, sobol.csv, sobol.png")
    return 0
