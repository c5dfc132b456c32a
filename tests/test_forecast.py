"""The forecast of the unfitted years: from the study's best trials, with bands."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.calibrate import calibrate, load_config
from sim.forecast import main

TINY = ["market.shoppers.n_agents=1500", "market.msmes.n_agents=400"]


def test_forecast_uses_the_best_trials_and_reports_bands(tmp_path: Path):
    store = tmp_path / "cal"
    calibrate(load_config([f"storage_dir={store}", f"market_out={tmp_path / 'm.yaml'}", "trials=2",
                           "seeds=1", "workers=1", 'model_overrides=["market.shoppers.n_agents=1500",'
                           '"market.msmes.n_agents=400","burn_in_weeks=10"]']))
    out = tmp_path / "fc"
    assert main(["--top", "2", "--seeds", "2", "--storage-dir", str(store), "--out", str(out),
                 "--workers", "2", *TINY]) == 0
    table = pd.read_csv(out / "forecast.csv")
    assert sorted(table["year"].unique()) == [2023, 2024, 2025]
    assert (table["runs"] == 4).all()  # 2 parameter sets x 2 seeds
    assert ((table["p5"] <= table["mean"]) & (table["mean"] <= table["p95"])).all()
    sums = table.groupby("year")["mean"].sum()
    assert ((sums - 1).abs() < 1e-9).all()
    runs = pd.read_csv(out / "forecast_runs.csv")
    assert runs["parameter_set"].nunique() == 2
    assert (out / "forecast.png").stat().st_size > 20_000
