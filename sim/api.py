"""The public Python API: everything a notebook or script needs, in one import.

    from sim.api import compose_config, simulate, run_sweep

Single runs happen in the calling process (``compose_config`` then ``simulate`` or
``EcommerceModel``). Sweeps go through the same Hydra multirun as the command line
(``sim --multirun``, which is ``python -m sim --multirun``), started as a child process: a sweep
from a notebook writes the same run directories, resumes the same way, and goes to a cluster by
changing only ``launcher``.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from sim.core.agents import MSME, LargeFirm, Platform, Shopper
from sim.core.model import EcommerceModel
from sim.experiments.aggregate import SweepError, SweepResult, aggregate, load_sweep
from sim.experiments.compose import compose_config, load_scenario
from sim.experiments.measure import measure_run
from sim.experiments.run import run_job, simulate
from sim.experiments.sweep import LAUNCHERS, check_launcher, job_overrides, stream
from sim.schema.config import Config, ConfigError
from sim.schema.tables import (
    annual_gmv_share,
    annual_msme_revenue,
    annual_total_gmv_usd_bn,
    quarterly_gmv_share,
)
from sim.views.figures import band, plot_market_share, plot_msme_revenue, sweep_figures, weekly_series

__all__ = [
    "MSME",
    "Config",
    "ConfigError",
    "EcommerceModel",
    "LargeFirm",
    "Platform",
    "Shopper",
    "SweepError",
    "SweepResult",
    "aggregate",
    "annual_gmv_share",
    "annual_msme_revenue",
    "annual_total_gmv_usd_bn",
    "band",
    "compose_config",
    "load_scenario",
    "load_sweep",
    "measure_run",
    "plot_market_share",
    "plot_msme_revenue",
    "quarterly_gmv_share",
    "run_job",
    "run_sweep",
    "simulate",
    "sweep_command",
    "sweep_figures",
    "weekly_series",
]

Params = Mapping[str, str | Sequence[object]]


def _sweep_arguments(params: Params | None, experiment: str | None, overrides: Sequence[str]) -> list[str]:
    arguments = [f"experiment={experiment}"] if experiment else []
    arguments += list(overrides)
    for key, values in (params or {}).items():
        if isinstance(values, str):
            arguments.append(f"{key}={values}")  # Hydra sweep syntax as given: "range(5)", "a,b"
        else:
            if not values:
                raise ConfigError(key, "the sweep gives it no values")
            arguments.append(f"{key}={','.join(map(str, values))}")
    return arguments


def sweep_command(
    params: Params | None = None,
    *,
    sweep_dir: str | Path,
    experiment: str | None = None,
    overrides: Sequence[str] = (),
    launcher: str | None = "parallel",
) -> list[str]:
    """The command line of a sweep: ``python -m sim --multirun ...`` (the same as ``sim
    --multirun ...``).

    ``params`` maps config keys to the values to sweep (a list, or Hydra sweep syntax such as
    ``"range(5)"``); ``overrides`` are fixed for every run (Hydra syntax, ``hydra.*`` included);
    ``experiment`` names a file of ``conf/experiment/``, whose swept keys ``params`` may replace.
    ``launcher`` is a ``conf/hydra/launcher`` preset: ``parallel`` (joblib, this machine),
    ``slurm``, ``cluster_local`` (submitit on this machine), or None (or ``serial``) for one run
    after another.
    """
    check_launcher(launcher)
    arguments = _sweep_arguments(params, experiment, overrides)
    if launcher and launcher != "serial":
        arguments.append(f"hydra/launcher={LAUNCHERS[launcher]}")
    return [sys.executable, "-m", "sim", "--multirun", *arguments, f"hydra.sweep.dir={sweep_dir}"]


def check_sweep(
    params: Params | None = None, *, experiment: str | None = None, overrides: Sequence[str] = ()
) -> int:
    """Compose one run for every swept value, as the sweep would, so a wrong key or value fails
    here with the key named instead of in every run. Returns the number of runs."""
    arguments = [
        a for a in _sweep_arguments(params, experiment, overrides) if not a.lstrip("+~").startswith("hydra")
    ]
    jobs = job_overrides(arguments)
    seen: set[str] = set()
    for job in jobs:
        if set(job) <= seen:
            continue
        seen.update(job)
        config = compose_config(job)
        if config.counterfactual:
            load_scenario(config.counterfactual)
    return len(jobs)


def run_sweep(
    params: Params | None = None,
    *,
    sweep_dir: str | Path,
    experiment: str | None = None,
    overrides: Sequence[str] = (),
    launcher: str | None = "parallel",
    n_jobs: int | None = None,
    echo: bool = True,
) -> SweepResult:
    """Run a sweep through Hydra's multirun and return its aggregate (``runs``, ``table``,
    ``figures()``). Runs already finished in ``sweep_dir`` with the same config are skipped, so
    running the cell again costs only Hydra's start-up and the aggregation;
    ``overrides=["force=true"]`` reruns them.

    Raises ``ConfigError`` before anything starts if a key or value is wrong, and ``SweepError``
    if a run fails (the others still finish; ``load_sweep(sweep_dir)`` shows them).
    ``echo`` prints the sweep's progress lines as runs finish.
    """
    check_sweep(params, experiment=experiment, overrides=overrides)
    if n_jobs is not None:
        if launcher not in ("parallel", "joblib"):  # the launchers with a process pool
            raise ConfigError("n_jobs", f"applies to the parallel launcher, not {launcher!r}")
        overrides = [*overrides, f"hydra.launcher.n_jobs={n_jobs}"]
    command = sweep_command(
        params, sweep_dir=sweep_dir, experiment=experiment, overrides=overrides, launcher=launcher
    )  # checks the launcher
    started = time.time()
    _, tail = stream(command, echo)
    sweep_dir = Path(sweep_dir)
    runs_csv = sweep_dir / "runs.csv"
    if not runs_csv.is_file() or runs_csv.stat().st_mtime < started:
        raise SweepError("the sweep did not run:\n" + "\n".join(tail) + f"\ncommand: {shlex.join(command)}")
    result = load_sweep(sweep_dir)
    if len(result.failed):
        raise SweepError(result.report())
    return result
