"""A run's scenario and counterfactual (and its seeds) are independent models: run at once in
forked processes they give the numbers they give one after another."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import threading
from dataclasses import replace

import pandas as pd
import pytest

from sim.experiments.compose import compose_config, load_scenario
from sim.experiments.run import parallel_workers, simulate_all, simulate_with_history

SHORT = [
    "market.shoppers.n_agents=800",
    "market.msmes.n_agents=200",
    "end_date=2024-03-25",
    "burn_in_weeks=4",
    "agent_history.every_weeks=13",
]


def test_runs_in_forked_workers_equal_runs_one_after_another():
    cfg = compose_config(SHORT)
    jobs = [cfg, replace(cfg, scenario=load_scenario("no_policy"))]
    together = simulate_all(jobs, workers=2)
    for job, (table, history) in zip(jobs, together, strict=True):
        alone, alone_history = simulate_with_history(job)
        pd.testing.assert_frame_equal(table, alone)
        assert history is not None and alone_history is not None
        pd.testing.assert_frame_equal(history, alone_history)
    assert together[0][0]["scenario"].iloc[0] == "history"
    assert together[1][0]["scenario"].iloc[0] == "no_policy"


def test_one_run_or_a_serial_setting_runs_in_this_process(monkeypatch):
    cfg = compose_config(SHORT)
    assert parallel_workers([cfg]) == 1
    two = [cfg, replace(cfg, seed=1)]
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # a notebook kernel's or a server's threads
    other.start()
    try:
        assert parallel_workers(two) == 1
    finally:
        stop.set()
        other.join()
    monkeypatch.setenv("SIM_WORKERS", "1")
    assert parallel_workers(two) == 1


SERVED = """
import os, sys
from dataclasses import replace

import pandas as pd

from sim.experiments import processes
from sim.experiments.compose import compose_config, load_scenario
from sim.experiments.run import simulate_all, simulate_with_history


def parent_and_model():
    return os.getppid(), "mesa" in sys.modules


if __name__ == "__main__":
    assert "mesa" not in sys.modules
    assert processes.start_model_server()
    cfg = compose_config(sys.argv[1:])
    jobs = [cfg, replace(cfg, scenario=load_scenario("no_policy"))]
    with processes.model_pool(2) as pool:
        workers = [pool.submit(parent_and_model).result() for _ in range(2)]
    together = simulate_all(jobs, workers=2)
    assert "mesa" not in sys.modules, "the runs were forked from this process"
    for job, (table, history) in zip(jobs, together, strict=True):
        alone, alone_history = simulate_with_history(job)
        pd.testing.assert_frame_equal(table, alone)
        pd.testing.assert_frame_equal(history, alone_history)
    print(os.getpid(), workers)
"""


def test_runs_forked_from_the_model_server_equal_runs_in_this_process(tmp_path):
    """``sim run`` starts a fork server that imports the model while Hydra composes the config;
    the runs' workers are forked from it, with the model imported, and give the numbers of runs
    made in the process itself."""
    script = tmp_path / "served.py"
    script.write_text(SERVED)
    done = subprocess.run(
        [sys.executable, str(script), *SHORT],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "SIM_WORKERS": "2"},
    )
    assert done.returncode == 0, done.stderr
    pid, workers = done.stdout.split(" ", 1)
    for parent, preloaded in ast.literal_eval(workers):
        assert parent != int(pid) and preloaded  # forked by the server, which has the model


@pytest.mark.parametrize(
    ("argv", "served"),
    [
        (["seed=3", "hydra.run.dir=out"], True),
        ([], True),
        (["--multirun", "seed=1,2"], False),  # a sweep's jobs run in its launcher's processes
        (["--cfg", "job"], False),  # Hydra prints the config: no run
    ],
)
def test_sim_run_starts_the_model_server_for_a_single_run_only(argv, served, monkeypatch):
    import sim.faces.cli
    from sim.experiments import processes
    from sim.faces.commands import run_model

    started: list[bool] = []
    monkeypatch.setattr(processes, "start_model_server", lambda: started.append(True) or True)
    monkeypatch.setattr(sim.faces.cli, "cli", lambda: None)
    assert run_model(argv) == 0
    assert started == ([True] if served else [])
