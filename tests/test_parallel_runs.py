"""A run's scenario and counterfactual (and its seeds) are independent models: run at once in
forked processes they give the numbers they give one after another."""

from __future__ import annotations

import threading
from dataclasses import replace

import pandas as pd

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
