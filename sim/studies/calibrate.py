"""Calibration with Optuna: fit the declared parameters to the pre-ban public targets.

    sim calibrate [trials=40] [seeds=3] [workers=2] [out=results/calibrate] [study=default]
                  ['model_overrides=["market.shoppers.n_agents=10000"]'] [launcher=parallel]
    sim calibrate promote=results/calibrate/default/calibrated.yaml

The search space lives in ``conf/calibration/`` (config key -> range). Each trial runs the model on
``no_policy`` to ``fit_end`` (before the first policy, where it equals ``history`` by common random
numbers) for ``seeds`` seeds and scores the averaged moments against the targets of
``sim/data/calibration_targets.csv`` for periods before 2023-10 only. The study is stored in
SQLite under ``out``, so an interrupted calibration resumes where it stopped. ``workers`` Optuna
workers run trials on the same study in parallel, each a job of a fan-out through Hydra's
launchers (``sim.experiments.fanout``; ``launcher=slurm`` puts them on a cluster). At the end it
writes, in the study's folder ``out/STUDY/``, the best parameters as a market config
(``calibrated.yaml``, with OmegaConf), ``best.json``, ``report.md`` and ``fit.png``.

Nothing is written into the package's ``conf/`` by a calibration. Promoting its result is a step
of its own: ``sim calibrate promote=PATH`` copies the market config at PATH into
``conf/market/`` under its file name (``calibrated``, never ``default``) after checking that it
composes, and from then ``sim run market=calibrated`` uses it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from omegaconf import OmegaConf

from sim.experiments.fanout import Launch, check_launch, fan_out, helps
from sim.schema.config import ConfigError, config_value
from sim.studies.moments import calibration_targets, fit_moments


@dataclass
class ParameterRange:
    low: float = 0.0
    high: float = 1.0
    log: bool = False


@dataclass
class CalibrateConfig(Launch):
    """``sim calibrate``: its keys (``Launch`` adds the launcher's; ``workers`` is also the
    number of Optuna workers)."""

    parameters: dict[str, ParameterRange] = field(
        default_factory=dict,
        metadata=helps("the search space, config key -> {low, high, log} (conf/calibration/default.yaml)"),
    )
    trials: int = field(default=40, metadata=helps("completed trials the study should hold"))
    seeds: int = field(default=3, metadata=helps("seeds averaged per trial"))
    study: str = field(default="default", metadata=helps("the study's name (its SQLite file)"))
    out: str = field(
        default="results/calibrate",
        metadata=helps(
            "where the study (STUDY.db) and its folder STUDY/ with calibrated.yaml and the report go"
        ),
    )
    fit_end: str = field(default="2023-09-25", metadata=helps("last date of each trial's runs"))
    model_overrides: list[str] = field(
        default_factory=list,
        metadata=helps(
            'overrides of the model config for every run, e.g. ["market.shoppers.n_agents=10000"]'
        ),
    )
    sampler_seed: int = field(default=0, metadata=helps("seed of the first worker's TPE sampler"))
    promote: str = field(
        default="",
        metadata=helps(
            "instead of calibrating, copy this calibrated.yaml into conf/market/ (sim run "
            "market=calibrated then uses it)"
        ),
    )


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
        out.append(
            Target(f"share_2022_{row.platform}", row.value / 100, SHARE_TOLERANCE, "level", row.source)
        )
    total = t[(t.metric == "gmv_total") & (t.period == "2022")].iloc[0]
    out.append(Target("gmv_2022_usd_bn", float(total.value), TOTAL_TOLERANCE, "relative", total.source))
    q3 = t[(t.metric == "gmv_share") & (t.period == "2023Q3")].iloc[0]
    out.append(Target("share_2023Q3_TikTok Shop", q3.value / 100, TIKTOK_Q3_TOLERANCE, "level", q3.source))
    out.append(
        Target(
            "share_2021_TikTok Shop",
            TIKTOK_2021_CAP,
            0.01,
            "cap",
            "launch 2021-04-17 (policy_timeline.csv); under 2% in 2021",
        )
    )
    return out


def loss(moments: dict[str, float], targets: list[Target]) -> float:
    """Mean squared z-score over the targets."""
    return float(np.mean([t.z(moments[t.name]) ** 2 for t in targets]))


def model_moments(overrides: list[str], seeds: int) -> dict[str, float]:
    from sim.experiments.compose import compose_config
    from sim.experiments.run import simulate_all

    cfgs = [compose_config([*overrides, f"seed={seed}"]) for seed in range(seeds)]
    tables = simulate_all(cfgs)  # the seeds at once, one per core (same numbers as one by one)
    runs = [fit_moments(table, cfg.market.usd_idr) for (table, _), cfg in zip(tables, cfgs, strict=True)]
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def trial_overrides(cc: CalibrateConfig, params: dict[str, float]) -> list[str]:
    return [
        "scenario=no_policy",
        f"end_date={cc.fit_end}",
        "counterfactual=null",
        "figures=false",
        *cc.model_overrides,
        *(f"{k}={v!r}" for k, v in params.items()),
    ]


def _storage(cc: CalibrateConfig):
    import optuna

    folder = Path(cc.out)
    folder.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(
        f"sqlite:///{folder / (cc.study + '.db')}", engine_kwargs={"connect_args": {"timeout": 120}}
    )


def _worker(cc: CalibrateConfig, worker: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=cc.sampler_seed + worker)
    study = optuna.create_study(
        study_name=cc.study, storage=_storage(cc), direction="minimize", load_if_exists=True, sampler=sampler
    )
    targets = pre_ban_targets()

    def objective(trial: optuna.Trial) -> float:
        params = {key: trial.suggest_float(key, r.low, r.high, log=r.log) for key, r in cc.parameters.items()}
        moments = model_moments(trial_overrides(cc, params), cc.seeds)
        trial.set_user_attr("moments", moments)
        return loss(moments, targets)

    while _completed(study) < cc.trials:
        study.optimize(objective, n_trials=1)
        best = study.best_trial
        print(
            f"[calibrate] {_completed(study)}/{cc.trials} trials; best loss {best.value:.3f} "
            f"(trial {best.number})",
            flush=True,
        )


def _completed(study) -> int:
    import optuna

    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


# The keys that decide a worker's trials; the launcher's keys do not.
STUDY_KEYS = ("parameters", "trials", "seeds", "study", "out", "fit_end", "model_overrides", "sampler_seed")


def calibrate(cc: CalibrateConfig) -> dict:
    """Run (or resume) the study to ``cc.trials`` completed trials with ``cc.workers`` workers
    through the launcher; write the market config and the report."""
    _check(cc)
    _start_from_defaults(cc)
    settings = {key: value for key, value in asdict(cc).items() if key in STUDY_KEYS}
    settings["out"] = str(Path(cc.out).resolve())  # the workers may start elsewhere
    fan_out(
        "sim.studies.calibrate.run_worker",
        [{"settings": settings, "worker": worker} for worker in range(cc.workers)],
        Path(cc.out) / cc.study / "workers",
        cc,
        label="calibrate",
    )
    return write_results(cc)


def run_worker(settings: dict[str, Any], worker: int) -> int:
    """One Optuna worker (a job of the fan-out): trials until the study holds enough."""
    merged = OmegaConf.merge(OmegaConf.structured(CalibrateConfig), settings)
    cc = cast(CalibrateConfig, OmegaConf.to_object(merged))
    _worker(cc, worker)
    return worker


def _start_from_defaults(cc: CalibrateConfig) -> None:
    """A new study's first trial is the committed default market (clipped to the ranges), so the
    search starts from the hand fit and its best is never worse than the defaults."""
    import optuna

    from sim.experiments.compose import compose_config

    study = optuna.create_study(
        study_name=cc.study, storage=_storage(cc), direction="minimize", load_if_exists=True
    )
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
    for name in ("trials", "seeds"):
        if getattr(cc, name) < 1:
            raise ConfigError(name, f"must be >= 1, got {getattr(cc, name)}")
    check_launch(cc)
    # Every declared key and override must be a valid model config (fails fast with the key).
    mid = {k: (r.low + r.high) / 2 for k, r in cc.parameters.items()}
    compose_config(trial_overrides(cc, mid))


def write_results(cc: CalibrateConfig) -> dict:
    import optuna

    study = optuna.load_study(study_name=cc.study, storage=_storage(cc))
    best = study.best_trial
    folder = Path(cc.out) / cc.study
    folder.mkdir(parents=True, exist_ok=True)
    market_out = folder / "calibrated.yaml"
    write_market_config(
        market_out,
        best.params,
        f"study {cc.study}, trial {best.number}, loss {best.value:.4f}, {dt.date.today()}",
    )
    targets = pre_ban_targets()
    moments = best.user_attrs["moments"]
    rows = [
        {
            "target": t.name,
            "data": t.value,
            "model": moments[t.name],
            "z": t.z(moments[t.name]),
            "tolerance": t.tolerance,
            "source": t.source,
        }
        for t in targets
    ]
    (folder / "best.json").write_text(
        json.dumps(
            {
                "trial": best.number,
                "loss": best.value,
                "params": best.params,
                "fit": rows,
                "completed_trials": _completed(study),
            },
            indent=2,
        )
        + "\n"
    )
    _write_report(folder, rows, best, market_out, _completed(study))
    return {"loss": best.value, "params": best.params, "fit": rows, "market_config": str(market_out)}


def write_market_config(path: Path, params: dict[str, float], provenance: str) -> None:
    """A market config that starts from ``default`` and sets the fitted keys, saved with
    OmegaConf (atomically) under a comment that says where it came from."""
    node = OmegaConf.create({"defaults": ["default", "_self_"]})
    for key, value in params.items():
        parts = key.split(".")
        if parts[0] != "market":
            raise ConfigError(f"parameters.{key}", "a calibrated parameter must be a market.* key")
        OmegaConf.update(node, ".".join(parts[1:]), round(float(value), 6), force_add=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as file:
        file.write(
            f"# Written by sim calibrate: {provenance}.\n"
            f"# Promote it with: sim calibrate promote={path}\n"
            "# then select it with: sim run market=calibrated\n"
        )
        OmegaConf.save(node, file)
    tmp.replace(path)


def promote(source: str | Path) -> Path:
    """Copy a calibrated market config into the package's ``conf/market/`` under its file name,
    after checking that ``sim run market=NAME`` composes with it; return where it went."""
    from sim.experiments.compose import compose_config
    from sim.schema.packaged import config_dir

    source = Path(source)
    if not source.is_file():
        raise ConfigError(
            "promote", f"{source} is not a file (sim calibrate writes OUT/STUDY/calibrated.yaml)"
        )
    name = source.stem
    if name == "default":
        raise ConfigError(
            "promote",
            "would replace conf/market/default.yaml, the estimated market; rename the file (calibrated.yaml)",
        )
    target = config_dir() / "market" / f"{name}.yaml"
    before = target.read_bytes() if target.is_file() else None
    shutil.copyfile(source, target)
    try:
        compose_config([f"market={name}", "counterfactual=null"])
    except ConfigError as err:
        if before is None:
            target.unlink()
        else:
            target.write_bytes(before)
        raise ConfigError("promote", f"{source} does not compose as a market config: {err}") from None
    return target


def _write_report(folder: Path, rows: list[dict], best, market_out: Path, completed: int) -> None:
    from sim.views.figures import new_figure

    lines = [
        f"# Calibration report: study `{folder.name}`",
        "",
        f"{completed} completed trials; best trial {best.number}, loss {best.value:.4f} "
        "(mean squared z-score over the targets). Fitted config: "
        f"`{os.path.relpath(market_out)}` (promote it with `sim calibrate "
        f"promote={os.path.relpath(market_out)}`).",
        "",
        "| target | data | model | error in tolerances (z) | source |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['target']} | {r['data']:.4g} | {r['model']:.4g} | {r['z']:+.2f} | {r['source']} |"
        )
    lines += ["", "Fitted parameters:", "", "| key | value |", "|---|---|"]
    lines += [f"| `{k}` | {v:.6g} |" for k, v in best.params.items()]
    (folder / "report.md").write_text("\n".join(lines) + "\n")
    fig, ax = new_figure(figsize=(9, 4.5))
    names = [r["target"].replace("share_", "").replace("_", " ") for r in rows]
    ax.barh(names, [r["z"] for r in rows], color=["#1b9e77" if abs(r["z"]) <= 1 else "#d95f02" for r in rows])
    ax.axvline(-1, color="0.4", ls=":")
    ax.axvline(1, color="0.4", ls=":")
    ax.axvline(0, color="0.2", lw=0.8)
    ax.set_xlabel("Model minus data, in tolerances (|z| <= 1 is inside the fit band)")
    ax.set_title(f"Calibration fit, best of {completed} trials (pre-ban targets only)", loc="left")
    fig.tight_layout()
    fig.savefig(folder / "fit.png", dpi=110)


def load_config(overrides: list[str]) -> CalibrateConfig:
    """``conf/calibrate.yaml`` (the schema and the search space) with ``key=value`` overrides."""
    from sim.experiments.compose import compose_study

    return cast(CalibrateConfig, compose_study("calibrate", CalibrateConfig, overrides))


def run(cc: CalibrateConfig) -> int:
    """``sim calibrate``: calibrate and write the results, or promote a written result."""
    if cc.promote:
        target = promote(cc.promote)
        print(f"[calibrate] promoted {cc.promote} to {target}; select it with: sim run market={target.stem}")
        return 0
    result = calibrate(cc)
    print(
        f"[calibrate] best loss {result['loss']:.4f}; wrote {result['market_config']} and "
        f"{Path(cc.out) / cc.study / 'report.md'}; promote it with: sim calibrate "
        f"promote={result['market_config']}"
    )
    return 0
