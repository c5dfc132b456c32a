"""Sweeps: starting a Hydra multirun through a launcher, progress lines, resumption and failure
records (the callback that aggregates is in ``sim.experiments.callbacks``).

Each run of a multirun writes into its own directory under ``hydra.sweep.dir``. A run whose
``summary.json`` exists with the same config, package version and code is skipped when the sweep
is run again (unless ``force=true``); a run that raises leaves ``error.json`` (beside an earlier
complete run, which it does not touch), the other runs go on, and the aggregate step at the end
lists it and makes the sweep exit non-zero.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import traceback
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from sim.experiments.run import ERROR, comparable, completed_summary, write_json
from sim.schema.config import ConfigError

PROGRESS_START = ".sweep_start.json"
PROGRESS_LOG = ".sweep_progress.log"


def record_failure(out_dir: Path, err: BaseException, record: dict[str, str] | None = None) -> None:
    """Write ``error.json`` (and the job's ``.hydra`` record) into the run directory; the files of
    an earlier complete run there are left as they were."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (record or {}).items():
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / name).write_text(text)
    write_json(
        out_dir / ERROR,
        {
            "error": f"{type(err).__name__}: {err}",
            "traceback": "".join(traceback.format_exception(err)),
        },
    )


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
    ``[a=1, b=3]`` and ``[a=2, b=3]``); later arguments win over earlier ones for the same key,
    which keeps the place of its first mention (as the sweeper's own ``split_arguments``).

    Built on Hydra's public override parser: ``Override.sweep_string_iterator`` expands a choice
    or a ``range(...)``; the cartesian product is the basic sweeper's rule."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    choices: dict[str, list[str]] = {}
    for override in OverridesParser.create().parse_overrides(arguments):
        key = override.get_key_element()
        if not override.is_sweep_override():
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:  # an interval sweep needs a sweeper plugin that samples (Optuna, Nevergrad)
            kind = override.value_type.name if override.value_type is not None else "?"
            raise HydraException(f"the basic sweeper does not support sweep type: {kind}")
    return [list(job) for job in itertools.product(*choices.values())]


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
    return f"[sweep] {status} {run_name}: {done}/{total} finished, {left} left, about {_duration(eta)} to go"


def say(line: str) -> None:
    """Print one progress line in a single write, so that lines of parallel jobs sharing the
    terminal do not run into each other."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


# Launchers by the name a sweep or a study gives: the presets of conf/hydra/launcher/ and Hydra's
# own plugin names. ``serial`` is Hydra's basic launcher: one job after another, in one process.
LAUNCHERS = {
    "serial": "basic",
    "basic": "basic",
    "parallel": "parallel",
    "joblib": "joblib",
    "slurm": "slurm",
    "cluster_local": "cluster_local",
    "submitit_local": "submitit_local",
    "submitit_slurm": "submitit_slurm",
}
# Launchers that take ``hydra.launcher.n_jobs`` (processes on this machine).
PROCESS_POOLS = ("parallel", "joblib")


def check_launcher(launcher: str | None, key: str = "launcher") -> None:
    """Refuse a launcher that is not a preset, naming the choices."""
    if launcher is not None and launcher not in LAUNCHERS:
        raise ConfigError(key, f"{launcher!r} is not a launcher; choose one of {', '.join(LAUNCHERS)}")


def launcher_arguments(launcher: str | None, workers: int | None = None) -> list[str]:
    """The overrides that choose ``launcher`` (none for Hydra's default, the basic launcher) and,
    for a process pool, how many processes it starts."""
    check_launcher(launcher)
    if launcher is None:
        return []
    arguments = [f"hydra/launcher={LAUNCHERS[launcher]}"]
    if workers is not None and launcher in PROCESS_POOLS:
        arguments.append(f"hydra.launcher.n_jobs={workers}")
    return arguments


def quoted(value: str | Path) -> str:
    """A value quoted for Hydra's override grammar (a path may hold ``=``, ``,`` or spaces)."""
    return "'" + str(value).replace("'", "\\'") + "'"


def multirun_command(
    module: str,
    arguments: Sequence[str],
    sweep_dir: str | Path,
    launcher: str | None = None,
    workers: int | None = None,
) -> list[str]:
    """``python -m MODULE --multirun ARGUMENTS hydra/launcher=... hydra.sweep.dir=SWEEP_DIR``."""
    return [
        sys.executable,
        "-m",
        module,
        "--multirun",
        *arguments,
        *launcher_arguments(launcher, workers),
        f"hydra.sweep.dir={quoted(sweep_dir)}",
    ]


def stream(
    command: list[str], echo: bool = True, prefixes: tuple[str, ...] = ("[sweep]", "[aggregate]")
) -> tuple[int, list[str]]:
    """Run a multirun as a child process, echoing its progress lines (those that start with one
    of ``prefixes``) as they come; return its exit code and the last lines of its output."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONUNBUFFERED": "1"}
    tail: deque[str] = deque(maxlen=30)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            if echo and line.startswith(prefixes):
                print(line, flush=True)
    return process.returncode, list(tail)


__all__ = ["comparable", "completed_summary", "record_failure", "report_progress"]
