"""The public API of notebooks: sweeps run the command line's multirun, refuse bad input before
anything starts, resume, and give the per-run policy effects behind the bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from sim.api import (
    ConfigError,
    SweepError,
    compose_config,
    measure_run,
    run_sweep,
    sweep_command,
)
from sim.experiments.compose import config_dir, register_configs

TINY = [
    "market.shoppers.n_agents=1500",
    "market.msmes.n_agents=400",
    "burn_in_weeks=8",
    "figures=false",
    "counterfactual=null",
]
PARAMS = {"scenario": ["no_policy", "ban_only"], "seed": "range(2)"}


def _window_mean(table: pd.DataFrame, scenario: str, seed: int, start: str, end: str) -> float:
    rows = table[
        (table["scenario"] == scenario)
        & (table["ov.scenario"] == scenario)
        & (table["seed"] == seed)
        & (table["metric"] == "msme_revenue_idr")
        & (table["entity"] == "local")
        & (table["date"] >= start)
        & (table["date"] < end)
    ]
    return float(rows["value"].mean())


@pytest.mark.slow
def test_run_sweep_aggregates_resumes_and_forgets_an_earlier_larger_sweep(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the sweep directory is relative, as in the notebooks
    result = run_sweep(PARAMS, overrides=TINY, sweep_dir="sweep", launcher=None)
    assert capsys.readouterr().out.count("[sweep] done") == 4
    assert len(result.runs) == 4 and (result.runs["status"] == "ok").all()
    assert set(result.table["variant"]) == {"no_policy", "ban_only"}
    assert set(result.figures()) == {"market_share.png", "msme_revenue.png", "policy_effect.png"}

    effects = result.effects("msme_revenue_idr", "local", "2024-01-01", "2025-01-01")
    assert sorted(effects["seed"]) == [0, 1] and set(effects["variant"]) == {"ban_only"}
    for row in effects.itertuples():  # paired with the no_policy run of the same seed
        mine = _window_mean(result.table, "ban_only", row.seed, "2024-01-01", "2025-01-01")
        base = _window_mean(result.table, "no_policy", row.seed, "2024-01-01", "2025-01-01")
        assert np.isclose(row.value, mine) and np.isclose(row.counterfactual, base)
        assert np.isclose(row.effect_pct, 100 * (mine / base - 1))

    again = run_sweep(PARAMS, overrides=TINY, sweep_dir="sweep", launcher=None)
    assert capsys.readouterr().out.count("[sweep] skipped") == 4
    pd.testing.assert_frame_equal(again.table, result.table)

    smaller = run_sweep(
        {"scenario": ["ban_only"], "seed": "0"}, overrides=TINY, sweep_dir="sweep", launcher=None
    )
    assert list(smaller.runs["scenario"]) == ["ban_only"]  # not the three runs left from before
    assert set(smaller.table["run"].astype(str)) == set(smaller.runs["run"])


@pytest.mark.parametrize(
    ("params", "kwargs", "key"),
    [
        ({"market.shoppers.n_agentz": [100]}, {}, "market.shoppers.n_agentz"),
        (
            {"scenario.social_commerce_ban.compliance": [0.5, 1.5]},
            {},
            "scenario.social_commerce_ban.compliance",
        ),
        ({"scenario": ["history", "nope"]}, {}, "scenario"),
        ({"seed": []}, {}, "seed"),
        (None, {"experiment": "nope"}, "experiment"),
        (None, {"overrides": ["counterfactual=nope"]}, "counterfactual"),
        (None, {"launcher": "nope"}, "launcher"),
        (None, {"launcher": "slurm", "n_jobs": 2}, "n_jobs"),
    ],
)
def test_run_sweep_refuses_bad_input_before_anything_starts(tmp_path, params, kwargs, key):
    with pytest.raises(ConfigError) as err:
        run_sweep(params, sweep_dir=tmp_path / "sweep", **kwargs)
    assert str(err.value).startswith(f"{key}:")
    assert not (tmp_path / "sweep").exists()


@pytest.mark.slow
def test_a_sweep_that_cannot_start_raises_with_hydras_words(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(SweepError, match="did not run"):
        run_sweep({"seed": "0"}, overrides=TINY, sweep_dir=tmp_path / "file" / "sweep", launcher=None)


def test_the_slurm_command_composes_with_the_submitit_launcher():
    command = sweep_command(
        PARAMS,
        overrides=[*TINY, "hydra.launcher.partition=short"],
        sweep_dir="/shared/sweep",
        launcher="slurm",
    )
    assert command[1:4] == ["-m", "sim", "--multirun"]
    assert "hydra/launcher=slurm" in command and "scenario=no_policy,ban_only" in command
    one_job = [a for a in command[4:] if "," not in a and "range(" not in a]
    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = compose("config", overrides=one_job, return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.launcher.partition == "short" and cfg.hydra.sweep.dir == "/shared/sweep"


def test_compose_config_names_the_key_of_a_bad_override():
    with pytest.raises(ConfigError, match=r"^market\.shoppers\.n_agent: is not a key"):
        compose_config(["market.shoppers.n_agent=5"])
    with pytest.raises(ConfigError, match=r"^scenario: 'nope' is not an option; choose one of .*history"):
        compose_config(["scenario=nope"])
    with pytest.raises(ConfigError, match=r"^seed: .*could not be converted"):
        compose_config(["seed=abc"])


@pytest.mark.slow
def test_measure_run_reports_size_time_and_memory_and_names_a_bad_key():
    small = measure_run(["market.shoppers.n_agents=1000", "market.msmes.n_agents=300"])
    assert (small["shoppers"], small["msmes"], small["weeks"]) == (1000, 300, 261)
    assert small["wall_s"] > 0 and small["peak_rss_mb"] > 50
    assert small["helper_private_mb"] is None  # one block of shoppers: no helper process
    with pytest.raises(RuntimeError, match=r"market\.shoppers\.n_agentz"):
        measure_run(["market.shoppers.n_agentz=3"])
