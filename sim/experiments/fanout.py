"""A study's fan-out through Hydra's launchers: many calls of one function, one Hydra job each.

A study that needs many independent runs (the validation's seeds, the forecast's parameter draws,
each batch of the estimator's evaluations, the calibration's Optuna workers, the fit of the
defaults) gives ``fan_out`` the dotted name of a function and one set of keyword arguments per
call (JSON: strings, numbers, lists, dicts). ``fan_out`` writes them into the sweep directory and
runs a Hydra multirun of this module's app (``conf/fanout.yaml``, ``job=range(N)``), in the
study's own process, through the launcher the study's ``launcher`` key names (``Launch``):
``serial`` (Hydra's basic launcher, one job after another in this process),
``parallel`` (joblib processes on this machine), ``slurm`` (submitit, one task per job) or
``cluster_local`` (submitit's local executor), the same presets as ``sim --multirun``
(``conf/hydra/launcher/``).

Each job calls the function and writes ``result.pkl`` (what it returned) and ``job.json`` (the
call, its arguments, the package version and the code digest; written last) into
``SWEEP_DIR/N/``, staged and under a lock as a model run is. Run the study again and a job whose
``job.json`` shows the same call, arguments and code is skipped (``force=true`` runs it again),
so an interrupted study resumes where it stopped; a job that raises leaves ``error.json`` while
the others go on, and ``fan_out`` then raises ``RunError`` naming it. ``fan_out`` returns the
results in the order of the calls, so a study gives the same numbers through every launcher.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.utils import get_method
from omegaconf import DictConfig

import sim
from sim.experiments.run import ERROR, code_digest, locked, staged, write_json
from sim.experiments.sweep import (
    LAUNCHERS,
    PROGRESS_LOG,
    check_launcher,
    launcher_arguments,
    quoted,
    record_failure,
    report_progress,
    say,
)
from sim.schema.config import ConfigError
from sim.schema.errors import RunError, debugging, exit_cleanly
from sim.schema.packaged import config_dir

RESULT = "result.pkl"
RECORD = "job.json"

log = logging.getLogger("sim")


def helps(text: str) -> dict[str, str]:
    """Field metadata: the key's line in the command's ``--help``."""
    return {"help": text}


@dataclass
class Launch:
    """The keys of every study that fans out: which launcher runs its jobs, and how."""

    launcher: str = field(
        default="parallel",
        metadata=helps(
            "serial (one job after another), parallel (joblib on this machine), slurm (submitit), "
            "cluster_local (submitit on this machine)"
        ),
    )
    workers: int = field(default=2, metadata=helps("processes of the parallel launcher"))
    launcher_overrides: list[str] = field(
        default_factory=list,
        metadata=helps(
            'settings of the launcher, e.g. ["hydra.launcher.partition=short","hydra.launcher.mem_gb=8"]'
        ),
    )
    force: bool = field(default=False, metadata=helps("run again the jobs that finished before"))


def check_launch(launch: Launch) -> None:
    """Refuse an unknown launcher, a worker count below 1 and a launcher override that is not a
    setting of the launcher."""
    check_launcher(launch.launcher)
    if launch.workers < 1:
        raise ConfigError("workers", f"must be >= 1, got {launch.workers}")
    for item in launch.launcher_overrides:
        if not item.startswith("hydra.launcher."):
            raise ConfigError(
                "launcher_overrides", f"{item!r} is not a setting of the launcher (hydra.launcher.KEY=VALUE)"
            )


@dataclass
class FanOutJob:
    """The fan-out app's own config: which call of which job file this job makes."""

    job_file: str = ""
    job: int = -1
    force: bool = False


ConfigStore.instance().store(name="fanout_schema", node=FanOutJob)


def _plain(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments as the job reads them back from JSON (tuples become lists)."""
    return json.loads(json.dumps(dict(kwargs)))


def job_record(call: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """What ``job.json`` holds: a finished job counts only for this call, arguments and code."""
    return {
        "call": call,
        "kwargs": _plain(kwargs),
        "package_version": sim.__version__,
        "code_digest": code_digest(),
    }


def finished(out_dir: Path, record: dict[str, Any]) -> bool:
    """True if ``out_dir`` holds the result of a job made with exactly this record."""
    try:
        saved = json.loads((out_dir / RECORD).read_text())
    except (OSError, ValueError):
        return False
    return saved == record and (out_dir / RESULT).is_file()


@contextmanager
def composing_allowed() -> Iterator[None]:
    """Set the job's own Hydra aside while a study's function runs: the functions compose model
    configs with Hydra's compose API, which refuses to start inside a Hydra app."""
    global_hydra = GlobalHydra.instance()
    saved = global_hydra.hydra if global_hydra.is_initialized() else None
    global_hydra.clear()
    try:
        yield
    finally:
        global_hydra.clear()
        if saved is not None:
            global_hydra.initialize(saved)


def run_call(call: str, kwargs: Mapping[str, Any], out_dir: Path, force: bool = False) -> str:
    """Call ``call(**kwargs)`` and write its result into ``out_dir``, or skip it if it finished
    there before with the same arguments and code; ``done`` or ``skipped``."""
    record = job_record(call, kwargs)
    with locked(out_dir):
        if not force and finished(out_dir, record):
            (out_dir / ERROR).unlink(missing_ok=True)  # a later failed attempt no longer counts
            return "skipped"
        with composing_allowed():
            result = get_method(call)(**record["kwargs"])
        with staged(out_dir) as stage:
            with open(stage / RESULT, "wb") as file:
                pickle.dump(result, file, protocol=pickle.HIGHEST_PROTOCOL)
            write_json(stage / RECORD, record)
    return "done"


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="fanout")
def main(cfg: DictConfig) -> str:
    """One job of a fan-out: row ``job`` of ``job_file``."""
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    spec = json.loads(Path(cfg.job_file).read_text())
    try:
        status = run_call(spec["call"], spec["jobs"][cfg.job], out_dir, force=cfg.force)
    except KeyboardInterrupt as err:
        exit_cleanly(err)
    except Exception as err:
        if debugging([]):
            raise
        record_failure(out_dir, err)
        log.error("job %s failed: %s", out_dir.name, err)
        status = "FAILED"
    say(report_progress(Path(hydra_cfg.sweep.dir), out_dir.name, status))
    return status


def _multirun(arguments: list[str]) -> None:
    """Hydra's multirun of this module's app on ``arguments``, in this process: Hydra's main reads
    ``sys.argv``, so it is set for the call, and the caller's Hydra (if any) is set aside. A
    process pool (joblib) keeps its workers between fan-outs, so the estimator's batches do not
    start Python again each time."""
    saved_argv, saved_error = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    global_hydra = GlobalHydra.instance()
    outer = global_hydra.hydra if global_hydra.is_initialized() else None
    global_hydra.clear()
    sys.argv = [saved_argv[0] if saved_argv else "sim", "--multirun", *arguments]
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing and exiting
    try:
        main()
    except HydraException as err:
        raise RunError(f"the fan-out could not start: {err}") from None
    finally:
        sys.argv = saved_argv
        if saved_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_error
        global_hydra.clear()
        if outer is not None:
            global_hydra.initialize(outer)


def _statuses(sweep_dir: Path) -> dict[str, int]:
    """How many jobs of the latest fan-out into ``sweep_dir`` were done, skipped or failed."""
    path = sweep_dir / PROGRESS_LOG
    lines = path.read_text().splitlines() if path.is_file() else []
    counts = {"done": 0, "skipped": 0, "FAILED": 0}
    for line in lines:
        status = line.split(" ")[1] if line.count(" ") >= 2 else ""
        counts[status] = counts.get(status, 0) + 1
    return counts


def _collect(out_dir: Path, call: str, kwargs: dict[str, Any]) -> tuple[Any, str | None]:
    """The job's result, or why there is none."""
    if (out_dir / ERROR).is_file():
        return None, json.loads((out_dir / ERROR).read_text())["error"]
    record = job_record(call, kwargs)
    if finished(out_dir, record):
        with open(out_dir / RESULT, "rb") as file:
            return pickle.load(file), None
    try:
        saved = json.loads((out_dir / RECORD).read_text())
    except (OSError, ValueError):
        return None, "did not finish"
    if saved.get("kwargs") == record["kwargs"]:
        return None, "finished with other code (the package changed while the study ran); run it again"
    return None, "did not finish"


def fan_out(
    call: str,
    jobs: Sequence[Mapping[str, Any]],
    sweep_dir: str | Path,
    launch: Launch,
    *,
    label: str = "fan-out",
) -> list[Any]:
    """Call the function named ``call`` (``package.module.function``) once per keyword-argument
    set of ``jobs``, each as a job of a Hydra multirun through ``launch.launcher`` into
    ``sweep_dir/N/``; return what the calls returned, in the order of ``jobs``. Jobs finished
    before with the same arguments and code are not run again unless ``launch.force``. Raises
    ``RunError`` if a job failed or did not finish (the others are kept)."""
    check_launch(launch)
    if not jobs:
        return []
    sweep_dir = Path(sweep_dir).resolve()  # the launcher's workers may start elsewhere
    calls = [_plain(kwargs) for kwargs in jobs]
    payload = {"call": call, "jobs": calls}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
    sweep_dir.mkdir(parents=True, exist_ok=True)
    job_file = sweep_dir / f".jobs-{digest}.json"
    write_json(job_file, payload)
    print(f"[{label}] {len(jobs)} jobs through the {launch.launcher} launcher into {sweep_dir}", flush=True)
    _multirun(
        [
            f"job_file={quoted(job_file)}",
            f"job=range({len(jobs)})",
            f"force={str(launch.force).lower()}",
            *launcher_arguments(launch.launcher, launch.workers),
            *launch.launcher_overrides,
            f"hydra.sweep.dir={quoted(sweep_dir)}",
        ]
    )
    results, failures = [], []
    for num, kwargs in enumerate(calls):
        result, failure = _collect(sweep_dir / str(num), call, kwargs)
        results.append(result)
        if failure is not None:
            failures.append(f"job {num}: {failure}")
    counts = _statuses(sweep_dir)
    print(
        f"[{label}] {len(jobs)} jobs: {counts['done']} run, {counts['skipped']} finished before "
        f"(skipped), {len(failures)} failed or unfinished",
        flush=True,
    )
    if failures:
        raise RunError(f"{len(failures)} of {len(jobs)} jobs in {sweep_dir} failed; {failures[0]}")
    return results


__all__ = ["LAUNCHERS", "Launch", "check_launch", "fan_out", "helps", "run_call"]
