"""Wall time and peak memory of one run, each in a fresh process.

    sim measure [overrides]      # prints one JSON object

``measure_run`` (``sim measure``, ``sim.api.measure_run``, the benchmarks) starts this module as
the fresh process, ``python -m sim.experiments.measure [overrides]``, which runs the model and
prints the JSON; it is the child, not a command of its own.

The peak is read from the kernel's high-water mark of the child's own address space (``VmHWM``),
not from ``ru_maxrss``, which on Linux survives ``exec`` and so reports the parent's peak when the
parent (a notebook kernel, a benchmark) is the larger process.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def peak_memory_mb() -> float:
    """This process's peak resident memory, MB."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux; macOS: bytes


def measure_run(overrides: Sequence[str] = ()) -> dict:
    """One run of the composed config (no counterfactual) in a fresh process:
    ``{shoppers, msmes, weeks, burn_in_weeks, wall_s, peak_rss_mb, helper_private_mb}`` (the
    last: the shopping helper's own memory when a large run used one, else None)."""
    out = subprocess.run(
        [sys.executable, "-m", "sim.experiments.measure", *overrides], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(
            out.stderr.strip().splitlines()[-1]
            if out.stderr.strip()
            else f"sim.experiments.measure exited {out.returncode}"
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    from sim.core.model import EcommerceModel
    from sim.experiments.compose import compose_config
    from sim.schema.config import ConfigError

    try:
        cfg = compose_config([*(sys.argv[1:] if argv is None else argv), "counterfactual=null"])
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from sim.experiments.processes import may_fork

    started = time.perf_counter()
    model = EcommerceModel(cfg, shopper_processes=min(may_fork(), 2))
    model.run()
    model.recorder.table()
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "shoppers": cfg.market.shoppers.n_agents,
                "msmes": cfg.market.msmes.n_agents,
                "weeks": len(model.dates),
                "burn_in_weeks": cfg.burn_in_weeks,
                "wall_s": round(wall, 2),
                "peak_rss_mb": round(peak_memory_mb(), 1),
                # A second process shopped half the blocks (large runs with a free core): its
                # private memory when it stopped; the arrays it shared are in peak_rss_mb.
                "helper_private_mb": None
                if model.helper_private_mb is None
                else round(model.helper_private_mb, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
