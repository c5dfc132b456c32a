"""Sweeps: progress lines, resumption and failure records (the callback that aggregates is in
``sim.experiments.callbacks``).

Each run of a multirun writes into its own directory under ``hydra.sweep.dir``. A run whose
``summary.json`` exists with the same config, package version and code is skipped when the sweep
is run again (unless ``force=true``); a run that raises leaves ``error.json`` (beside an earlier
complete run, which it does not touch), the other runs go on, and the aggregate step at the end
lists it and makes the sweep exit non-zero.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

from omegaconf import DictConfig

from sim.experiments.run import ERROR, comparable, completed_summary, write_json

PROGRESS_START = ".sweep_start.json"
PROGRESS_LOG = ".sweep_progress.log"


def record_failure(out_dir: Path, err: BaseException, record: dict[str, str] | None = None) -> None:
    """Write ``error.json`` (and the job's ``.hydra`` record) into the run directory; the files of
    an earlier complete run there are left as they were."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (record or {}).items():
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / name).write_text(text)
    write_json(out_dir / ERROR, {
        "error": f"{type(err).__name__}: {err}",
        "traceback": "".join(traceback.format_exception(err)),
    })


def sweep_jobs(cfg: DictConfig) -> list[list[str]]:
    """The jobs the basic sweeper will make of this multirun's params and overrides."""
    params = cfg.hydra.sweeper.get("params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()]
    return job_overrides([*arguments, *cfg.hydra.overrides.task])


def current_jobs(sweep_dir: Path) -> dict[int, tuple[str, ...]] | None:
    """The latest multirun into ``sweep_dir``: job number to its overrides (sorted), or None if
    it left no record. Run directories of an earlier, larger sweep there are not among them."""
    start_file = sweep_dir / PROGRESS_START
    if not start_file.is_file():
        return None
    jobs = json.loads(start_file.read_text()).get("jobs")
    return None if jobs is None else {num: tuple(sorted(job)) for num, job in enumerate(jobs)}


def job_overrides(arguments: list[str]) -> list[list[str]]:
    """The jobs Hydra's basic sweeper makes of these command-line arguments (``a=1,2 b=3`` gives
    ``[a=1, b=3]`` and ``[a=2, b=3]``); later arguments win over earlier ones for the same key."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = OverridesParser.create().parse_overrides(arguments)
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def report_progress(sweep_dir: Path, run_name: str, status: str) -> str:
    """Append this run to the sweep's progress log and return one line: done, left, time left."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(sweep_dir / PROGRESS_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{time.time():.3f} {status} {run_name}\n".encode())
    finally:
        os.close(fd)
    start_file = sweep_dir / PROGRESS_START
    start = json.loads(start_file.read_text()) if start_file.is_file() else None
    done = len((sweep_dir / PROGRESS_LOG).read_text().splitlines())
    if not start:
        return f"[sweep] {status} {run_name} ({done} finished)"
    total = start["total"]
    left = max(total - done, 0)
    elapsed = time.time() - start["started"]
    eta = elapsed / max(done, 1) * left
    return (f"[sweep] {status} {run_name}: {done}/{total} finished, {left} left, "
            f"about {_duration(eta)} to go")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


__all__ = ["comparable", "completed_summary", "record_failure", "report_progress"]
