"""Sweeps: launchers, experiments, aggregation, failures, resumption, same numbers everywhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from sim.core.model import EcommerceModel
from sim.experiments.aggregate import load_sweep
from sim.experiments.compose import config_dir, register_configs
from sim.experiments.sweep import sweep_jobs
from tests.conftest import run_cli, small_config

TINY = ["market.shoppers.n_agents=1500", "market.msmes.n_agents=400", "figures=false"]
SWEEP = [*TINY, "scenario=no_policy,ban_only", "seed=0,1", "counterfactual=null"]


def _values(sweep_dir: Path) -> pd.DataFrame:
    table = load_sweep(sweep_dir).table
    table = table[["scenario", "seed", "step", "metric", "entity", "value"]].astype(
        {"scenario": str, "metric": str, "entity": str}
    )
    return table.sort_values(["scenario", "seed", "metric", "entity", "step"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def serial_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    cwd = tmp_path_factory.mktemp("serial")
    result = run_cli("--multirun", *SWEEP, "hydra.sweep.dir=sweep", cwd=cwd)
    return cwd / "sweep", result


@pytest.mark.slow
def test_serial_sweep_aggregates_into_one_table_and_figures(serial_sweep):
    sweep, result = serial_sweep
    assert result.returncode == 0, result.stderr
    runs = pd.read_csv(sweep / "runs.csv")
    assert len(runs) == 4 and (runs["status"] == "ok").all()
    assert {
        "ov.scenario",
        "ov.seed",
        "wall_time_s",
        "share_2024_Shopee",
        "msme_revenue_2024_local_idr",
    } <= set(runs.columns)
    assert len(set(runs["run"])) == 4  # every run wrote its own directory
    assert not (sweep / "sweep.parquet").exists()  # the table is read from the runs' own files
    table = load_sweep(sweep).table
    assert {"run", "variant", "ov.scenario", "ov.seed", "metric", "entity", "value"} <= set(table.columns)
    assert set(table["ov.scenario"]) == {"no_policy", "ban_only"}
    for name in ("market_share.png", "msme_revenue.png", "policy_effect.png"):
        assert (sweep / name).stat().st_size > 20_000


@pytest.mark.slow
def test_sweep_prints_one_progress_line_per_run(serial_sweep):
    _, result = serial_sweep
    lines = [line for line in result.stdout.splitlines() if line.startswith("[sweep] done")]
    assert len(lines) == 4
    assert "4/4 finished, 0 left" in lines[-1] and "to go" in lines[0]


@pytest.mark.slow
def test_joblib_and_submitit_local_give_the_serial_numbers(serial_sweep, tmp_path: Path):
    serial, _ = serial_sweep
    for launcher in ("parallel", "cluster_local"):
        result = run_cli(
            "--multirun",
            *SWEEP,
            f"hydra/launcher={launcher}",
            "hydra.launcher.n_jobs=2" if launcher == "parallel" else "hydra.launcher.timeout_min=10",
            f"hydra.sweep.dir={launcher}",
            cwd=tmp_path,
        )
        assert result.returncode == 0, (launcher, result.stderr[-2000:])
        pd.testing.assert_frame_equal(_values(tmp_path / launcher), _values(serial))


@pytest.mark.slow
def test_a_failing_run_does_not_stop_the_others_and_fails_the_sweep(tmp_path: Path):
    result = run_cli(
        "--multirun",
        *TINY,
        "scenario=no_policy",
        "counterfactual=null",
        "market.shoppers.network_degree=4,3",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert result.returncode != 0
    runs = pd.read_csv(tmp_path / "sweep" / "runs.csv")
    assert sorted(runs["status"]) == ["failed", "ok"]
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert "market.shoppers.network_degree" in failed["error"]
    again = subprocess.run(
        [sys.executable, "-m", "sim", "aggregate", f"sweep_dir={tmp_path / 'sweep'}"],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1 and "failed" in again.stdout


# Put on PYTHONPATH as sitecustomize, it makes the run of seed SIM_TEST_KILL_SEED die as a killed
# process does (SIGKILL: no cleanup) once it has started writing, so a sweep stops midway through
# that run deterministically, with no sleeping and no race against the run's duration.
KILL_MIDWAY = """
import os

if "SIM_TEST_KILL_SEED" in os.environ:
    import signal

    import sim.experiments.run as run

    simulate = run._simulate_task  # each task of simulate_all: one run, or a run and its counterfactual

    def killed_midway(cfgs, show_progress=False, position=0):
        if cfgs[0].seed == int(os.environ["SIM_TEST_KILL_SEED"]):
            os.kill(os.getpid(), signal.SIGKILL)
        return simulate(cfgs, show_progress, position)

    run._simulate_task = killed_midway
"""


@pytest.mark.slow
def test_rerun_skips_finished_runs_and_redoes_a_killed_one(tmp_path: Path):
    args = [
        sys.executable,
        "-m",
        "sim",
        "--multirun",
        *TINY,
        "scenario=no_policy",
        "counterfactual=null",
        "seed=0,1",
        "hydra.sweep.dir=sweep",
    ]
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(KILL_MIDWAY)
    path = os.pathsep.join(p for p in (str(hooks), os.environ.get("PYTHONPATH", "")) if p)
    killed = subprocess.run(
        args,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": path, "SIM_TEST_KILL_SEED": "1"},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    finished = list((tmp_path / "sweep").glob("*/summary.json"))
    assert len(finished) == 1  # seed 0 finished, seed 1 was killed midway
    assert list((tmp_path / "sweep").glob(".*.partial")), "the killed run left its staging directory"
    first_mtime = finished[0].stat().st_mtime
    resumed = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.count("[sweep] skipped") == 1
    assert resumed.stdout.count("[sweep] done") == 1
    assert finished[0].stat().st_mtime == first_mtime
    assert len(list((tmp_path / "sweep").glob("*/summary.json"))) == 2
    forced = subprocess.run([*args, "force=true"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert forced.returncode == 0 and forced.stdout.count("[sweep] done") == 2


@pytest.mark.parametrize(
    ("experiment", "jobs"),
    [
        ("policy_comparison", 70),
        ("enforcement", 25),
        ("ban_timing", 20),
        ("local_priority", 25),
        ("commission", 20),
    ],
)
def test_experiments_compose_into_their_sweeps(experiment: str, jobs: int):
    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = compose("config", overrides=[f"experiment={experiment}"], return_hydra_config=True)
    assert len(sweep_jobs(cfg)) == jobs
    assert cfg.hydra.sweep.dir == f"results/sweeps/{experiment}"


@pytest.mark.slow
def test_policy_comparison_experiment_runs_end_to_end(tmp_path: Path):
    result = run_cli(
        "--multirun",
        "experiment=policy_comparison",
        *TINY,
        "seed=0",
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=2",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    sweep = tmp_path / "results" / "sweeps" / "policy_comparison"
    runs = pd.read_csv(sweep / "runs.csv")
    assert len(runs) == 7 and (runs["status"] == "ok").all()
    assert (sweep / "policy_effect.png").is_file()


@pytest.mark.slow
def test_common_random_numbers_across_scenarios():
    """Same seed: same population, same adoption path until a policy acts, same weekly shocks in
    every scenario. After the ban, link followers install marketplaces, so history's app users
    include every one of no_policy's (each shopper keeps her own adoption draws, and more users
    among her ties only raise her chance)."""
    history = EcommerceModel(small_config("scenario=history", "seed=5"))
    free = EcommerceModel(small_config("scenario=no_policy", "seed=5"))
    np.testing.assert_array_equal(history.shoppers.budget, free.shoppers.budget)
    np.testing.assert_array_equal(history.shoppers.ties, free.shoppers.ties)
    np.testing.assert_array_equal(history.msmes.scale, free.msmes.scale)
    history.run_to_date("2023-10-02")
    free.run_to_date("2023-10-02")
    np.testing.assert_array_equal(history.shoppers.adopted, free.shoppers.adopted)
    history.run()
    free.run()
    assert (history.shoppers.adopted | ~free.shoppers.adopted).all()
    assert history.shoppers.adopted.sum() > free.shoppers.adopted.sum()
    assert history.shopper_rng.bit_generator.state == free.shopper_rng.bit_generator.state
    assert history.seller_rng.bit_generator.state == free.seller_rng.bit_generator.state
