"""Sampled designs run as multiruns (point_file, point), and the Morris/Sobol pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.experiments.fanout import Launch
from sim.schema.config import ConfigError
from sim.studies.calibrate import ParameterRange
from sim.studies.sensitivity import OUTPUTS, morris, most_influential, sobol
from tests.conftest import run_cli, small_config

TINY = ["market.shoppers.n_agents=1500", "market.msmes.n_agents=400", "burn_in_weeks=8"]


@pytest.mark.slow
def test_a_point_file_row_overrides_the_config(tmp_path: Path):
    points = tmp_path / "points.csv"
    pd.DataFrame(
        {"market.shoppers.habit_weight": [0.5, 3.5], "market.msmes.join_rate": [0.001, 0.02]}
    ).to_csv(points, index=False)
    cfg = small_config(f"point_file={points}", "point=1")
    assert cfg.market.shoppers.habit_weight == 3.5 and cfg.market.msmes.join_rate == 0.02
    with pytest.raises(ConfigError, match="point"):
        small_config(f"point_file={points}", "point=2")
    pd.DataFrame({"market.shoppers.habit_wieght": [1.0]}).to_csv(points, index=False)
    with pytest.raises(ConfigError, match="habit_wieght"):
        small_config(f"point_file={points}", "point=0")
    result = run_cli(f"point_file={points}", "point=0", cwd=tmp_path)
    assert result.returncode != 0 and "habit_wieght" in result.stderr


@pytest.mark.slow
def test_morris_then_sobol_through_the_sweep_machinery(tmp_path: Path):
    parameters = {
        "market.shoppers.impulse_rate": ParameterRange(0.05, 0.8, True),
        "market.shoppers.habit_weight": ParameterRange(0.5, 4.0, False),
    }
    screen = morris(parameters, 2, tmp_path / "morris", Launch(launcher="parallel"), TINY)
    assert set(screen["output"]) == set(OUTPUTS) and len(screen) == 2 * len(OUTPUTS)
    assert np.isfinite(screen["mu_star"]).all() and (screen["mu_star"] >= 0).all()
    runs = pd.read_csv(tmp_path / "morris" / "runs" / "runs.csv")
    assert len(runs) == 6 and (runs["status"] == "ok").all()  # (2 params + 1) x 2 trajectories
    top = most_influential(screen, 1)
    assert top[0] in parameters
    indices = sobol(parameters, list(parameters), 2, tmp_path / "sobol", Launch(launcher="parallel"), TINY)
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(indices.columns)
    assert len(pd.read_csv(tmp_path / "sobol" / "runs" / "runs.csv")) == 2 * (2 + 2)
