"""Speed and memory of the engine, measured, never asserted in a test.

    python benchmarks/bench.py [--quick] [--json] [--national]

Reports (``--json`` prints them as one JSON object on the last line):
- ``machine``: cores, Python, numpy and its BLAS;
- ``default_run_s``: wall time of ``python -m sim`` as a user starts it (history and its
  counterfactual, figures included, interpreter start-up included), the median of three runs
  (``default_run_runs_s``);
- ``scale``: ``{shoppers, msmes, weeks, burn_in_weeks, wall_s, peak_rss_mb}`` of one `history` run
  per size, each in a fresh process whose peak resident memory is read by that process itself
  (``sim.experiments.measure``), and ``helper_private_mb``: the memory of its own of the process
  that shops half the blocks of a large run (``sim.core.shopper_pool``; null when none did);
- ``engine_shopper_steps_per_s``: shopper-weeks (burn-in included) per second of the largest run;
- ``mesa_reference_shopper_steps_per_s`` and ``ratio_vs_mesa``: the same weekly shopper rule
  written the plain Mesa way (benchmarks/mesa_reference.py), on the same inputs, after checking
  that both give the same channel shares within sampling error;
- ``numpy_kernel_shopper_steps_per_s`` and ``ratio_vs_numpy_kernel``: the engine's shopper kernel
  (sim.core.market) on preallocated arrays with no model around it;
- ``linearity``: time ratio of the two largest runs against their shopper ratio;
- ``aggregate_10k_s`` and ``aggregate_10k_peak_mb``: ``sim aggregate`` (``aggregate()``) on a
  synthetic sweep of 10,000 runs (``benchmarks/synthetic_sweep.py``: one real default run, history
  and its no_policy counterfactual, cloned into 100 design points x 100 seeds in the layout a
  multirun writes), wall time of the whole command and the peak resident memory it read of itself;
  ``aggregate_10k`` has the sweep's sizes (``--quick``: 1,000 runs) and ``scan_one_series_*``, the
  time, rows and peak memory of reading one series (Shopee's weekly GMV share) back from every
  run's table in a fresh process (``load_sweep(DIR).rows("gmv_share", "Shopee")``).
- ``seed_batch_20_s``, ``seed_separate_20_s`` and ``seed_batch_identical`` (full run only):
  20 seeds of the default configuration as one ``sim run seeds=20`` command and as 20 separate
  commands, and whether every seed's numbers are the same both ways; ``seed_batch`` also has the
  seed-runs per hour of each way (``seed_batch``).
- ``shared_past``: one seed's history and no_policy at default scale in one process, as a
  sweep's or the estimator's worker runs them, to the end of 2025 and to 2024-03-18 (the
  estimator's horizon): ``separate_s``
  one after another, ``shared_s`` with the weeks before their rules first differ run once
  (``shared_weeks``, after ``burn_in_weeks``), and whether the tables are ``identical``.
With ``--national``, the ``scale`` rows end with 10,000,000 shoppers and 500,000 MSMEs (about ten
minutes and several GB).
With ``--sweep``: ``sweep``, a 20-run sweep at default scale (history, seeds 0-19, no
counterfactual, no figures) run serially and with joblib on 2 workers, and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sim.experiments.measure import measure_run

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def machine() -> dict:
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": f"{blas.get('name')} {blas.get('version')}",
        "platform": platform.platform(),
    }


def default_run_times(runs: int = 3) -> list[float]:
    """Wall times of ``runs`` default runs, one after another, each a fresh command in a fresh
    directory (the median is reported: this machine's speed wanders from run to run)."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "sim", f"hydra.run.dir={tmp}/run"],
                cwd=tmp,
                check=True,
                capture_output=True,
            )
            times.append(round(time.perf_counter() - started, 2))
    return times


def scale_run(shoppers: int, msmes: int) -> dict:
    return measure_run([f"market.shoppers.n_agents={shoppers}", f"market.msmes.n_agents={msmes}"])


AGGREGATE_AND_PEAK = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from sim.experiments.aggregate import aggregate\n"
    "from sim.experiments.measure import peak_memory_mb\n"
    "result = aggregate(Path(sys.argv[1]))\n"
    "code = 1 if len(result.failed) else 0\n"
    "peak = round(peak_memory_mb(), 1)\n"
    "print(json.dumps({'exit': code, 'rows': result.table_rows, 'peak_rss_mb': peak}))\n"
)
# A slice of the sweep's table read back from every run's file: one platform's weekly share.
SCAN_AND_PEAK = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from sim.experiments.aggregate import load_sweep\n"
    "from sim.experiments.measure import peak_memory_mb\n"
    "rows = load_sweep(Path(sys.argv[1])).rows('gmv_share', 'Shopee')\n"
    "print(json.dumps({'exit': 0, 'rows': len(rows), 'peak_rss_mb': round(peak_memory_mb(), 1)}))\n"
)


def _timed_child(script: str, sweep: Path, cwd: str) -> tuple[float, dict]:
    """Wall time of ``script`` on ``sweep`` in a fresh interpreter, and the JSON it printed last."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", script, str(sweep)], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip()[-2000:])
    child = json.loads(out.stdout.strip().splitlines()[-1])
    if child["exit"] != 0:
        raise RuntimeError((out.stdout + out.stderr)[-2000:])
    return wall, child


def aggregate_sweep(runs: int, points: int = 100) -> dict:
    """Wall time and peak memory of ``sim aggregate`` (``aggregate()``) on a synthetic sweep
    of ``runs`` runs cloned from one real default run (history and no_policy, 261 weeks)."""
    from benchmarks.synthetic_sweep import build

    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sim",
                "market.shoppers.n_agents=2000",
                "market.msmes.n_agents=500",
                "figures=false",
                f"hydra.run.dir={template}",
            ],
            cwd=tmp,
            check=True,
            capture_output=True,
        )
        sweep = Path(tmp) / "sweep"
        started = time.perf_counter()
        build(template, sweep, runs, points)
        built_s = time.perf_counter() - started
        wall, child = _timed_child(AGGREGATE_AND_PEAK, sweep, tmp)
        scan_wall, scan = _timed_child(SCAN_AND_PEAK, sweep, tmp)
        return {
            "runs": runs,
            "rows": child["rows"],
            "rows_per_run": child["rows"] // runs,
            "build_s": round(built_s, 1),
            "wall_s": round(wall, 1),
            "peak_rss_mb": child["peak_rss_mb"],
            "scan_one_series_s": round(scan_wall, 1),
            "scan_one_series_rows": scan["rows"],
            "scan_one_series_peak_rss_mb": scan["peak_rss_mb"],
        }


def shopper_inputs(n: int, seed: int = 0):
    """A shopper population and the offer and rules of a week in late 2022, for both yardsticks."""
    import datetime as dt

    from sim.core.model import EcommerceModel
    from sim.core.population import build_shoppers
    from sim.experiments.compose import compose_config

    # No displacement: the plain-Mesa reference implements the choice rule, not the household
    # budget that discovery purchases draw on.
    cfg = compose_config(
        [
            "market.shoppers.n_agents=2000",
            "market.msmes.n_agents=500",
            "counterfactual=null",
            "burn_in_weeks=0",
            "market.shoppers.impulse_displacement=0",
        ]
    )
    model = EcommerceModel(cfg)
    while model.current_date is None or model.current_date < dt.date(2022, 10, 3):
        model.step()
    cfg.market.shoppers.n_agents = n
    shoppers = build_shoppers(cfg.market, np.random.default_rng(seed))
    week = model.steps - 1
    return (
        shoppers,
        model.offer,
        cfg.market.shoppers,
        model.policy.launched[week],
        model.innovation,
        model.word_of_mouth,
        model.transact_share,
        model.is_social,
    )


def no_steering(transact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """No operator group routes discovery sales (steer share 0, no partner)."""
    return np.zeros_like(transact), np.full(transact.shape[0], -1)


def numpy_kernel(n: int, weeks: int) -> tuple[float, np.ndarray]:
    """The engine's shopper rule alone: adoption, shopping, choice, discovery, habit."""
    from sim.core.market import shoppers_shop, spread_app_adoption

    sh, offer, cfg, launched, innovation, wom, transact, social = shopper_inputs(n)
    rng = np.random.default_rng(1)
    leak = np.zeros_like(transact)
    demand = np.zeros(offer.brand_utility.shape[0])
    started = time.perf_counter()
    for _ in range(weeks):
        spread_app_adoption(sh, launched, innovation, wom, rng)
        draws = {
            k: rng.random(sh.n, dtype=np.float32) for k in ("shop", "impulse", "choice", "leak", "steer")
        }
        week = shoppers_shop(sh, offer, transact, leak, *no_steering(transact), social, 1.0, cfg, draws)
        demand += week.planned_idr
    return time.perf_counter() - started, demand / demand.sum()


def mesa_reference(n: int, weeks: int) -> tuple[float, np.ndarray]:
    from benchmarks.mesa_reference import MesaShopperModel

    sh, offer, cfg, launched, innovation, wom, transact, social = shopper_inputs(n)
    model = MesaShopperModel(sh, offer, cfg, launched, innovation, wom, transact, social, seed=1)
    demand = np.zeros(offer.brand_utility.shape[0])
    started = time.perf_counter()
    for _ in range(weeks):
        model.step()
        demand += np.array(model.demand) - 0  # planned and discovery spend
    return time.perf_counter() - started, demand / demand.sum()


def channel_shares_agree(n: int, weeks: int) -> dict:
    """Planned-choice shares of the two implementations at the same inputs, with a tolerance of
    five standard errors of a share estimated from n x weeks choices."""
    from benchmarks.mesa_reference import MesaShopperModel
    from sim.core.market import shoppers_shop, spread_app_adoption

    sh, offer, cfg, launched, innovation, wom, transact, social = shopper_inputs(n)
    rng = np.random.default_rng(2)
    numpy_counts = np.zeros(offer.brand_utility.shape[0])
    leak = np.zeros_like(transact)
    for _ in range(weeks):
        spread_app_adoption(sh, launched, innovation, wom, rng)
        draws = {
            k: rng.random(sh.n, dtype=np.float32) for k in ("shop", "impulse", "choice", "leak", "steer")
        }
        numpy_counts += shoppers_shop(
            sh, offer, transact, leak, *no_steering(transact), social, 1.0, cfg, draws
        ).buyers
    sh2, *_ = shopper_inputs(n)
    mesa = MesaShopperModel(sh2, offer, cfg, launched, innovation, wom, transact, social, seed=3)
    mesa_counts = np.zeros_like(numpy_counts)
    for _ in range(weeks):
        mesa.step()
        mesa_counts += mesa.choices
    p_numpy = numpy_counts / numpy_counts.sum()
    p_mesa = mesa_counts / mesa_counts.sum()
    choices = min(numpy_counts.sum(), mesa_counts.sum())
    se = np.sqrt(np.maximum(p_numpy * (1 - p_numpy), 1e-12) * 2 / choices)
    return {
        "numpy_shares": p_numpy.round(4).tolist(),
        "mesa_shares": p_mesa.round(4).tolist(),
        "max_abs_diff": float(np.abs(p_numpy - p_mesa).max()),
        "within_5_se": bool((np.abs(p_numpy - p_mesa) <= 5 * se + 1e-4).all()),
    }


def sweep_speedup(runs: int = 20) -> dict:
    """Wall time of the same sweep with the basic (serial) launcher and with joblib, 2 workers,
    and whether both gave the same numbers."""
    from sim.experiments.aggregate import load_sweep

    common = ["--multirun", "counterfactual=null", "figures=false", f"seed=range({runs})"]
    out: dict = {"runs": runs}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in (
            ("serial_s", []),
            ("joblib_2_workers_s", ["hydra/launcher=parallel", "hydra.launcher.n_jobs=2"]),
        ):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "sim", *common, *extra, f"hydra.sweep.dir={tmp}/{name}"],
                cwd=tmp,
                check=True,
                capture_output=True,
            )
            out[name] = round(time.perf_counter() - started, 1)
        tables = [
            load_sweep(Path(tmp) / name)
            .table.sort_values(["seed", "metric", "entity", "step"])["value"]
            .to_numpy()
            for name in ("serial_s", "joblib_2_workers_s")
        ]
        out["same_numbers"] = bool(np.array_equal(*tables))
    out["speedup"] = round(out["serial_s"] / out["joblib_2_workers_s"], 2)
    return out


def seed_batch(seeds: int = 20) -> dict:
    """The same work, ``seeds`` seeds of the default configuration's scenario (history, 20,000
    shoppers, 5,000 MSMEs, no counterfactual, no figures), done two ways: one command
    (``sim run seeds=N``: one start-up, the seeds at once, one per core, in processes forked from
    it) and ``seeds`` separate commands one after another (``sim run seed=k``, as a shell loop
    does). ``identical`` is true when every seed's table is the same both ways."""
    import pandas as pd

    common = ["counterfactual=null", "figures=false"]
    out: dict = {"seeds": seeds}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "sim", *common, f"seeds={seeds}", f"hydra.run.dir={tmp}/batch"],
            cwd=tmp,
            check=True,
            capture_output=True,
        )
        out["batch_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        for seed in range(seeds):
            subprocess.run(
                [sys.executable, "-m", "sim", *common, f"seed={seed}", f"hydra.run.dir={tmp}/seed{seed}"],
                cwd=tmp,
                check=True,
                capture_output=True,
            )
        out["separate_s"] = round(time.perf_counter() - started, 1)
        batch = pd.read_parquet(Path(tmp) / "batch" / "timeseries.parquet")
        identical = True
        for seed in range(seeds):
            alone = pd.read_parquet(Path(tmp) / f"seed{seed}" / "timeseries.parquet")
            mine = batch[batch["seed"] == seed].reset_index(drop=True)
            identical &= bool(alone["value"].to_numpy().tobytes() == mine["value"].to_numpy().tobytes())
            identical &= bool(
                (alone[["date", "metric", "entity"]] == mine[["date", "metric", "entity"]]).all().all()
            )
        out["identical"] = identical
    for way in ("batch", "separate"):
        out[f"{way}_seed_runs_per_hour"] = round(seeds * 3600 / out[f"{way}_s"])
    return out


# One seed's history and no_policy in one process, as a sweep's or the estimator's worker runs
# them: one after another, and sharing the weeks before their rules first differ.
SHARED_PAST = (
    "import json, sys, time\n"
    "from dataclasses import replace\n"
    "from sim.core.model import EcommerceModel\n"
    "from sim.experiments.compose import compose_config, load_scenario\n"
    "from sim.experiments.run import simulate_sharing_past, simulate_with_history\n"
    "cfg = compose_config(['counterfactual=null', f'end_date={sys.argv[1]}'])\n"
    "pair = [cfg, replace(cfg, scenario=load_scenario('no_policy'))]\n"
    "started = time.perf_counter()\n"
    "separate = [simulate_with_history(c) for c in pair]\n"
    "separate_s = time.perf_counter() - started\n"
    "started = time.perf_counter()\n"
    "shared = simulate_sharing_past(pair)\n"
    "shared_s = time.perf_counter() - started\n"
    "same = all(a[0].equals(b[0]) for a, b in zip(separate, shared))\n"
    "weeks = EcommerceModel(cfg).weeks_shared_with(pair[1].scenario)\n"
    "print(json.dumps({'end_date': sys.argv[1], 'weeks': len(EcommerceModel(cfg).dates), "
    "'shared_weeks': weeks, 'burn_in_weeks': cfg.burn_in_weeks, 'separate_s': round(separate_s, 2), "
    "'shared_s': round(shared_s, 2), 'identical': same}))\n"
)


def shared_past() -> list[dict]:
    """History and no_policy on one seed at default scale, in one process (``SIM_WORKERS=1``, as
    in a sweep's worker): one after another against their shared weeks run once
    (``simulate_sharing_past``), to the end of 2025 (``sim run``'s horizon) and to 2024-03-18
    (the estimator's, ``sim.studies.estimate.ESTIMATION_END``); ``identical`` is true when the
    tables are the same both ways."""
    rows = []
    for end in ("2025-12-31", "2024-03-18"):
        out = subprocess.run(
            [sys.executable, "-c", SHARED_PAST, end],
            cwd=tempfile.gettempdir(),
            capture_output=True,
            text=True,
            env={**os.environ, "SIM_WORKERS": "1"},
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Engine benchmark")
    parser.add_argument("--quick", action="store_true", help="small sizes; under a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument(
        "--sweep", action="store_true", help="only the 20-run sweep, serial against joblib on 2 workers"
    )
    parser.add_argument(
        "--national", action="store_true", help="add the 10M-shopper, 500k-MSME scale row (about ten minutes)"
    )
    args = parser.parse_args()
    if args.sweep:
        report = {"machine": machine(), "sweep": sweep_speedup()}
        print(f"sweep: {report['sweep']}")
        if args.json:
            print(json.dumps(report))
        return

    sizes = (
        [(10_000, 5_000), (100_000, 20_000)]
        if args.quick
        else [(10_000, 5_000), (100_000, 20_000), (1_000_000, 50_000)]
    )
    if args.national:
        sizes.append((10_000_000, 500_000))
    report: dict = {"machine": machine(), "quick": args.quick}
    print(f"machine: {report['machine']}", flush=True)
    report["default_run_runs_s"] = default_run_times()
    report["default_run_s"] = statistics.median(report["default_run_runs_s"])
    print(
        f"default run (python -m sim, history + no_policy, figures): {report['default_run_s']} s", flush=True
    )
    report["scale"] = []
    for shoppers, msmes in sizes:
        row = scale_run(shoppers, msmes)
        report["scale"].append(row)
        print(f"scale: {row}", flush=True)
    # The engine's speed (and the kernel it is compared with) at the largest standard size.
    largest = report["scale"][-2 if args.national else -1]
    shopper_weeks = largest["shoppers"] * (largest["weeks"] + largest["burn_in_weeks"])
    report["engine_shopper_steps_per_s"] = round(shopper_weeks / largest["wall_s"])
    a, b = report["scale"][-2], report["scale"][-1]
    report["linearity"] = {
        "shopper_ratio": b["shoppers"] / a["shoppers"],
        "time_ratio": round(b["wall_s"] / a["wall_s"], 2),
    }

    aggregate_runs = 1_000 if args.quick else 10_000
    report["aggregate_10k"] = aggregate_sweep(aggregate_runs)
    report["aggregate_10k_s"] = report["aggregate_10k"]["wall_s"]
    report["aggregate_10k_peak_mb"] = report["aggregate_10k"]["peak_rss_mb"]
    print(f"aggregate of a synthetic {aggregate_runs}-run sweep: {report['aggregate_10k']}", flush=True)

    if not args.quick:  # about three minutes
        report["seed_batch"] = seed_batch(20)
        report["seed_batch_20_s"] = report["seed_batch"]["batch_s"]
        report["seed_separate_20_s"] = report["seed_batch"]["separate_s"]
        report["seed_batch_identical"] = report["seed_batch"]["identical"]
        print(f"20 seeds, one command against 20 commands: {report['seed_batch']}", flush=True)

    report["shared_past"] = shared_past()
    print(f"a seed's history and no_policy, one after another against sharing: {report['shared_past']}")

    agreement_n, agreement_weeks = (10_000, 4) if args.quick else (20_000, 6)
    report["mesa_agreement"] = channel_shares_agree(agreement_n, agreement_weeks)
    print(f"mesa vs numpy channel shares: {report['mesa_agreement']}", flush=True)

    mesa_n, mesa_weeks = (10_000, 2) if args.quick else (100_000, 2)
    mesa_s, _ = mesa_reference(mesa_n, mesa_weeks)
    report["mesa_reference_shopper_steps_per_s"] = round(mesa_n * mesa_weeks / mesa_s)
    report["ratio_vs_mesa"] = round(
        report["engine_shopper_steps_per_s"] / report["mesa_reference_shopper_steps_per_s"], 1
    )

    kernel_n, kernel_weeks = (largest["shoppers"], 20)
    kernel_s, _ = numpy_kernel(kernel_n, kernel_weeks)
    report["numpy_kernel_shopper_steps_per_s"] = round(kernel_n * kernel_weeks / kernel_s)
    report["ratio_vs_numpy_kernel"] = round(
        report["numpy_kernel_shopper_steps_per_s"] / report["engine_shopper_steps_per_s"], 2
    )
    for key in (
        "engine_shopper_steps_per_s",
        "mesa_reference_shopper_steps_per_s",
        "ratio_vs_mesa",
        "numpy_kernel_shopper_steps_per_s",
        "ratio_vs_numpy_kernel",
        "linearity",
    ):
        print(f"{key}: {report[key]}")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
