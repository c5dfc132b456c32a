"""Calibration with Optuna: fit the declared parameters to the pre-ban public targets.

    python -m sim.studies.calibrate [hydra overrides]
    python -m sim.studies.calibrate trials=60 seeds=3 workers=2 \
        'model_overrides=[market.shoppers.n_agents=10000]'

The search space lives in ``conf/calibration/`` (config key -> range). Each trial runs the model on
``no_policy`` to ``fit_end`` (before the first policy, where it equals ``history`` by common random
numbers) for ``seeds`` seeds and scores the averaged moments against the targets of
``sim/data/calibration_targets.csv`` for periods before 2023-10 only. The study is stored in
SQLite under ``storage_dir``, so an interrupted calibration resumes where it stopped, and
``workers`` processes run trials in parallel on the same study. At the end it writes the best
parameters as a market config (``conf/market/calibrated.yaml``: ``python -m sim market=calibrated``)
and a report (``report.md``, ``fit.png``) in the study's folder.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
from hydra.errors import HydraException

from sim.experiments.compose import as_config_error
from sim.schema.config import ConfigError, config_value
from sim.schema.errors import command
from sim.studies.moments import calibration_targets, fit_moments


@dataclass
class ParameterRange:
    low: float = 0.0
    high: float = 1.0
    log: bool = False


@dataclass
class CalibrateConfig:
    parameters: dict[str, ParameterRange] = field(default_factory=dict)
    trials: int = 40  # completed trials the study should hold
    seeds: int = 3  # seeds averaged per trial
    workers: int = 2  # processes running trials in parallel
    study: str = "default"
    storage_dir: str = "results/calibration"
    fit_end: str = "2023-09-25"
    model_overrides: list[str] = field(default_factory=list)
    market_out: str = ""  # where to write the fitted market config; "" = conf/market/calibrated.yaml
    sampler_seed: int = 0


# Tolerances that turn each target's error into a z-score: the model issue's fit bands.
SHARE_TOLERANCE = 0.03
TOTAL_TOLERANCE = 0.15
TIKTOK_Q3_TOLERANCE = 0.025
TIKTOK_2021_CAP = 0.02


@dataclass
class Target:
    name: str
    value: float
    tolerance: float
    kind: str  # "level" (z = (m - t) / tol), "relative" (z = (m / t - 1) / tol), "cap" (z>0 above t)
    source: str

    def z(self, model: float) -> float:
        if self.kind == "relative":
            return (model / self.value - 1.0) / self.tolerance
        if self.kind == "cap":
            return max(model - self.value, 0.0) / self.tolerance
        return (model - self.value) / self.tolerance


def pre_ban_targets() -> list[Target]:
    """The public figures for periods before 2023-10 that the model can reproduce."""
    t = calibration_targets()
    out = []
    for row in t[(t.metric == "gmv_share") & (t.period == "2022")].itertuples():
        out.append(Target(f"share_2022_{row.platform}", row.value / 100, SHARE_TOLERANCE, "level",
                          row.source))
    total = t[(t.metric == "gmv_total") & (t.period == "2022")].iloc[0]
    out.append(Target("gmv_2022_usd_bn", float(total.value), TOTAL_TOLERANCE, "relative",
                      total.source))
    q3 = t[(t.metric == "gmv_share") & (t.period == "2023Q3")].iloc[0]
    out.append(Target("share_2023Q3_TikTok Shop", q3.value / 100, TIKTOK_Q3_TOLERANCE, "level",
                      q3.source))
    out.append(Target("share_2021_TikTok Shop", TIKTOK_2021_CAP, 0.01, "cap",
                      "launch 2021-04-17 (policy_timeline.csv); under 2% in 2021"))
    return out


def loss(moments: dict[str, float], targets: list[Target]) -> float:
    """Mean squared z-score over the targets."""
    return float(np.mean([t.z(moments[t.name]) ** 2 for t in targets]))


def model_moments(overrides: list[str], seeds: int) -> dict[str, float]:
    from sim.experiments.compose import compose_config
    from sim.experiments.run import simulate

    runs = []
    for seed in range(seeds):
        cfg = compose_config([*overrides, f"seed={seed}"])
        runs.append(fit_moments(simulate(cfg), cfg.market.usd_idr))
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def trial_overrides(cc: CalibrateConfig, params: dict[str, float]) -> list[str]:
    return ["scenario=no_policy", f"end_date={cc.fit_end}", "counterfactual=null",
            "figures=false", *cc.model_overrides, *(f"{k}={v!r}" for k, v in params.items())]


def _storage(cc: CalibrateConfig):
    import optuna

    folder = Path(cc.storage_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(f"sqlite:///{folder / (cc.study + '.db')}",
                                      engine_kwargs={"connect_args": {"timeout": 120}})


def _worker(cc: CalibrateConfig, worker: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=cc.sampler_seed + worker)
    study = optuna.create_study(study_name=cc.study, storage=_storage(cc), direction="minimize",
                                load_if_exists=True, sampler=sampler)
    targets = pre_ban_targets()

    def objective(trial: optuna.Trial) -> float:
        params = {key: trial.suggest_float(key, r.low, r.high, log=r.log)
                  for key, r in cc.parameters.items()}
        moments = model_moments(trial_overrides(cc, params), cc.seeds)
        trial.set_user_attr("moments", moments)
        return loss(moments, targets)

    while _completed(study) < cc.trials:
        study.optimize(objective, n_trials=1)
        best = study.best_trial
        print(f"[calibrate] {_completed(study)}/{cc.trials} trials; best loss {best.value:.3f} "
              f"(trial {best.number})", flush=True)


def _completed(study) -> int:
    import optuna

    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def calibrate(cc: CalibrateConfig) -> dict:
    """Run (or resume) the study to ``cc.trials`` completed trials; write the config and report."""
    _check(cc)
    _start_from_defaults(cc)
    if cc.workers > 1:
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_worker, args=(cc, w)) for w in range(cc.workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        if any(p.exitcode for p in procs):
            raise RuntimeError(f"a calibration worker failed: exit codes {[p.exitcode for p in procs]}")
    else:
        _worker(cc, 0)
    return write_results(cc)


def _start_from_defaults(cc: CalibrateConfig) -> None:
    """A new study's first trial is the committed default market (clipped to the ranges), so the
    search starts from the hand fit and its best is never worse than the defaults."""
    import optuna

    from sim.experiments.compose import compose_config

    study = optuna.create_study(study_name=cc.study, storage=_storage(cc), direction="minimize",
                                load_if_exists=True)
    if study.get_trials(deepcopy=False):
        return
    cfg = compose_config([])
    start = {}
    for key, r in cc.parameters.items():
        start[key] = min(max(float(config_value(cfg, key)), r.low), r.high)
    study.enqueue_trial(start)


def _check(cc: CalibrateConfig) -> None:
    from sim.experiments.compose import compose_config

    if not cc.parameters:
        raise ConfigError("parameters", "declare at least one parameter in conf/calibration/")
    for key, r in cc.parameters.items():
        if not r.low < r.high:
            raise ConfigError(f"parameters.{key}", f"low {r.low} must be below high {r.high}")
        if r.log and r.low <= 0:
            raise ConfigError(f"parameters.{key}", "a log range needs low > 0")
    for name in ("trials", "seeds", "workers"):
        if getattr(cc, name) < 1:
            raise ConfigError(name, f"must be >= 1, got {getattr(cc, name)}")
    # Every declared key and override must be a valid model config (fails fast with the key).
    mid = {k: (r.low + r.high) / 2 for k, r in cc.parameters.items()}
    compose_config(trial_overrides(cc, mid))


def write_results(cc: CalibrateConfig) -> dict:
    import optuna

    study = optuna.load_study(study_name=cc.study, storage=_storage(cc))
    best = study.best_trial
    folder = Path(cc.storage_dir) / cc.study
    folder.mkdir(parents=True, exist_ok=True)
    market_out = Path(cc.market_out) if cc.market_out else _default_market_out()
    write_market_config(market_out, best.params, f"study {cc.study}, trial {best.number}, "
                        f"loss {best.value:.4f}, {dt.date.today()}")
    targets = pre_ban_targets()
    moments = best.user_attrs["moments"]
    rows = [{"target": t.name, "data": t.value, "model": moments[t.name], "z": t.z(moments[t.name]),
             "tolerance": t.tolerance, "source": t.source} for t in targets]
    (folder / "best.json").write_text(json.dumps(
        {"trial": best.number, "loss": best.value, "params": best.params, "fit": rows,
         "completed_trials": _completed(study)}, indent=2) + "\n")
    _write_report(folder, rows, best, market_out, _completed(study))
    return {"loss": best.value, "params": best.params, "fit": rows, "market_config": str(market_out)}


def _default_market_out() -> Path:
    from sim.schema.packaged import config_dir

    return config_dir() / "market" / "calibrated.yaml"


def write_market_config(path: Path, params: dict[str, float], provenance: str) -> None:
    """A market config that starts from ``default`` and sets the fitted keys."""
    lines = [f"# Written by python -m sim.studies.calibrate: {provenance}.",
             "# Select it with: python -m sim market=calibrated", "defaults:", "  - default",
             "  - _self_"]
    tree: dict = {}
    for key, value in params.items():
        parts = key.split(".")
        assert parts[0] == "market", key
        node = tree
        for part in parts[1:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = round(float(value), 6)

    def emit(node: dict, depth: int) -> None:
        for k, v in node.items():
            if isinstance(v, dict):
                lines.append("  " * depth + f"{k}:")
                emit(v, depth + 1)
            else:
                lines.append("  " * depth + f"{k}: {v}")

    emit(tree, 0)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def _write_report(folder: Path, rows: list[dict], best, market_out: Path, completed: int) -> None:
    from sim.views.figures import new_figure

    lines = [f"# Calibration report: study `{folder.name}`", "",
             f"{completed} completed trials; best trial {best.number}, loss {best.value:.4f} "
             "(mean squared z-score over the targets). Fitted config: "
             f"`{os.path.relpath(market_out)}`.", "",
             "| target | data | model | error in tolerances (z) | source |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['target']} | {r['data']:.4g} | {r['model']:.4g} | {r['z']:+.2f} | "
                     f"{r['source']} |")
    lines += ["", "Fitted parameters:", "", "| key | value |", "|---|---|"]
    lines += [f"| `{k}` | {v:.6g} |" for k, v in best.params.items()]
    (folder / "report.md").write_text("\n".join(lines) + "\n")
    fig, ax = new_figure(figsize=(9, 4.5))
    names = [r["target"].replace("share_", "").replace("_", " ") for r in rows]
    ax.barh(names, [r["z"] for r in rows], color=["#1b9e77" if abs(r["z"]) <= 1 else "#d95f02"
                                                  for r in rows])
    ax.axvline(-1, color="0.4", ls=":")
    ax.axvline(1, color="0.4", ls=":")
    ax.axvline(0, color="0.2", lw=0.8)
    ax.set_xlabel("Model minus data, in tolerances (|z| <= 1 is inside the fit band)")
    ax.set_title(f"Calibration fit, best of {completed} trials (pre-ban targets only)", loc="left")
    fig.tight_layout()
    fig.savefig(folder / "fit.png", dpi=110)


def load_config(overrides: list[str]) -> CalibrateConfig:
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    from sim.schema.packaged import config_dir

    ConfigStore.instance().store(name="calibrate_schema", node=CalibrateConfig)
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = compose("calibrate", overrides=overrides)
    return cast(CalibrateConfig, OmegaConf.to_object(cfg))


@command
def main(argv: list[str]) -> int:
    try:
        cc = load_config(argv)
    except Exception as err:  # Hydra's composition errors name the key
        if isinstance(err, HydraException):
            raise as_config_error(err) from None
        if type(err).__module__.startswith("omegaconf"):
            raise ConfigError(str(getattr(err, "full_key", "") or "overrides"),
                              str(err).splitlines()[0]) from None
        raise
    result = calibrate(cc)
    print(f"[calibrate] best loss {result['loss']:.4f}; wrote {result['market_config']} and "
          f"{Path(cc.storage_dir) / cc.study / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
