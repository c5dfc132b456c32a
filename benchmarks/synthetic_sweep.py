"""A synthetic sweep of many runs, in the layout a multirun writes, cloned from one real run.

    python -m benchmarks.synthetic_sweep TEMPLATE_RUN SWEEP_DIR RUNS [POINTS]

TEMPLATE_RUN is a finished run directory (``summary.json`` and ``timeseries.parquet``, as
``run_job`` writes them). The sweep has RUNS runs: POINTS values of the ban's compliance (a
sampled design) times RUNS / POINTS seeds. Each run gets its own directory (``{num}_{scenario}
_seed{seed}``) with the ``.hydra`` record of its job, its ``summary.json`` (seed and overrides
changed) and its ``timeseries.parquet``: the template's table with the run's seed and its values
scaled by a factor of the run (so no two runs' tables are the same), written as ``run_job``
writes a table. ``.sweep_start.json`` lists every job, as the sweep callback does. The aggregate
reads exactly what it reads from a real sweep; only the simulation is skipped.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SWEPT_KEY = "scenario.social_commerce_ban.compliance"
COPIED = ("resolved_config.yaml", "run.log")


def job_overrides(num: int, runs: int, points: int) -> list[str]:
    seeds = max(runs // points, 1)
    return [f"{SWEPT_KEY}={(num // seeds) / max(points - 1, 1):.4f}", f"seed={num % seeds}"]


def _hydra_yaml(template: Path, num: int, overrides: list[str]) -> str:
    """The template's ``.hydra/hydra.yaml`` with this job's number, or a minimal record of it."""
    path = template / ".hydra" / "hydra.yaml"
    if not path.is_file():
        listed = "".join(f"    - {o}\n" for o in overrides)
        return f"hydra:\n  overrides:\n    task:\n{listed}  job:\n    name: __main__\n    num: {num}\n"
    # A multirun's record has the job's number; a single run's has "num: ???".
    return re.sub(r"^    num: \S+$", f"    num: {num}", path.read_text(), count=1, flags=re.MULTILINE)


def write_run(template: Path, sweep_dir: Path, num: int, runs: int, points: int) -> str:
    """Write run ``num`` of the sweep; returns its directory name."""
    summary = json.loads((template / "summary.json").read_text())
    overrides = job_overrides(num, runs, points)
    seed = int(overrides[-1].split("=")[1])
    name = f"{num}_{summary['scenario']}_seed{seed}"
    run_dir = sweep_dir / name
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (run_dir / ".hydra" / "hydra.yaml").write_text(_hydra_yaml(template, num, overrides))
    for copied in COPIED:
        if (template / copied).is_file():
            shutil.copyfile(template / copied, run_dir / copied)
    table = pq.read_table(template / "timeseries.parquet")
    factor = 1.0 + 1e-4 * (num + 1)
    table = table.set_column(
        table.schema.get_field_index("seed"), "seed", pa.array(np.full(table.num_rows, seed, dtype=np.int64))
    )
    table = table.set_column(
        table.schema.get_field_index("value"), "value", pc.multiply(table.column("value"), factor)
    )
    pq.write_table(table, run_dir / "timeseries.parquet")
    summary["seed"] = seed
    summary["seeds"] = [seed]
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return name


def build(template: Path, sweep_dir: Path, runs: int, points: int = 100, workers: int = 2) -> None:
    """Write the synthetic sweep into ``sweep_dir`` (which must not hold another sweep)."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    points = min(points, runs)
    jobs = [job_overrides(num, runs, points) for num in range(runs)]
    (sweep_dir / ".sweep_start.json").write_text(json.dumps({"started": 0.0, "total": runs, "jobs": jobs}))
    if workers <= 1:
        for num in range(runs):
            write_run(template, sweep_dir, num, runs, points)
        return
    with ProcessPoolExecutor(workers) as pool:
        list(
            pool.map(
                write_run,
                [template] * runs,
                [sweep_dir] * runs,
                range(runs),
                [runs] * runs,
                [points] * runs,
                chunksize=64,
            )
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    build(Path(args[0]), Path(args[1]), int(args[2]), int(args[3]) if len(args) > 3 else 100)
