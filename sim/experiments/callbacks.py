"""The Hydra callbacks of every multirun: count progress from the start, aggregate at the end.

``conf/hydra/default.yaml`` names ``SweepCallback`` (``hydra.callbacks.sweep``), so ``sim
--multirun`` and ``run_sweep`` both write ``runs.csv`` and the comparison figures when the
last run ends, and exit non-zero if a run failed. A study's fan-out
(``sim.experiments.fanout``, ``conf/fanout.yaml``) counts progress with ``ProgressCallback`` and
collects its jobs' results itself.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from sim.experiments.aggregate import aggregate
from sim.experiments.run import write_json
from sim.experiments.sweep import PROGRESS_LOG, PROGRESS_START, sweep_jobs


class ProgressCallback(Callback):
    """Hydra callback: record the multirun's jobs and start the progress count."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PROGRESS_LOG).unlink(missing_ok=True)
        jobs = sweep_jobs(config)
        total = len(jobs)
        write_json(sweep_dir / PROGRESS_START, {"started": time.time(), "total": total, "jobs": jobs})
        print(f"[sweep] {total} runs into {sweep_dir}", flush=True)


class SweepCallback(ProgressCallback):
    """Hydra callback: start the progress count, and aggregate the sweep when it ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(OmegaConf.select(config, "hydra.sweep.dir"))
        result = aggregate(sweep_dir)
        print(result.report(), flush=True)
        if len(result.failed):
            # Hydra turns a callback's exception into a warning; a failed sweep must exit non-zero.
            print(
                f"[sweep] {len(result.failed)} run(s) failed; see {sweep_dir / 'runs.csv'}",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(1)
