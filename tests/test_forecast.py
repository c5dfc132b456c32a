"""The forecast of the unfitted years: parameter draws from the estimate times seeds, with bands."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.faces.commands import main
from sim.studies.estimate import PARAMETERS, from_free, to_free
from sim.studies.forecast import parameter_draws

TINY = ["market.shoppers.n_agents=1500", "market.msmes.n_agents=400", "burn_in_weeks=10"]


def write_estimate(path: Path, sd: float) -> dict[str, float]:
    """An estimate file in the format sim.studies.estimate writes: priors as the estimate, given spread."""
    rows = [{"key": p.key, "free": to_free(p, p.prior)} for p in PARAMETERS]
    cov = np.eye(len(rows)) * sd**2
    path.write_text(json.dumps({"parameters": rows, "free_covariance": cov.tolist()}))
    return {p.key: p.prior for p in PARAMETERS}


def test_draws_follow_the_estimates_sampling_distribution(tmp_path: Path):
    write_estimate(tmp_path / "e.json", sd=0.3)
    draws = parameter_draws(str(tmp_path / "e.json"), 400)
    assert len(draws) == 400
    by_key = {p.key: p for p in PARAMETERS}
    # Every draw sets every parameter; on the estimation scale the spread is the given sd.
    free = np.array(
        [
            [to_free(by_key[k], float(v)) for k, v in (o.split("=") for o in overrides)]
            for _, overrides in draws
        ]
    )
    assert free.shape == (400, len(PARAMETERS))
    np.testing.assert_allclose(free.std(axis=0), 0.3, rtol=0.15)
    np.testing.assert_allclose(
        free.mean(axis=0), [to_free(p, p.prior) for p in PARAMETERS], atol=0.3 * 4 / math.sqrt(400)
    )
    logit = next(p for p in PARAMETERS if p.transform == "logit")
    values = [float(dict(o.split("=") for o in overrides)[logit.key]) for _, overrides in draws]
    assert min(values) > 0 and max(values) < 1  # bounded parameters stay in their domain
    assert abs(from_free(logit, to_free(logit, 0.3)) - 0.3) < 1e-12


def test_without_an_estimate_the_forecast_says_it_has_no_parameter_uncertainty(tmp_path: Path):
    assert parameter_draws(str(tmp_path / "missing.json"), 5) == [("default market", [])]


@pytest.mark.slow
def test_forecast_reports_storefront_and_group_bands_and_resumes(tmp_path: Path, capsys):
    write_estimate(tmp_path / "e.json", sd=0.2)
    out, runs_dir = tmp_path / "fc", tmp_path / "runs"
    args = [
        "forecast",
        "draws=2",
        "seeds=1",
        f"estimate={tmp_path / 'e.json'}",
        "accept_q=inf",
        f"out={out}",
        f"runs_dir={runs_dir}",
        f"model_overrides={json.dumps(TINY)}",
    ]
    assert main([*args, "launcher=parallel", "workers=2"]) == 0
    assert "[forecast] 2 jobs: 2 run, 0 finished before (skipped)" in capsys.readouterr().out
    table = pd.read_csv(out / "forecast.csv")
    assert sorted(table["year"].unique()) == [2023, 2024, 2025]
    assert set(table["level"]) == {"storefront", "group"}
    assert (table["runs"] == 2).all()  # 2 parameter draws x 1 seed
    assert ((table["p5"] <= table["mean"]) & (table["mean"] <= table["p95"])).all()
    sums = table.groupby(["level", "year"])["mean"].sum()
    assert ((sums - 1).abs() < 1e-9).all()
    groups = table[(table["level"] == "group") & (table["year"] == 2025)].set_index("name")["mean"]
    storefronts = table[(table["level"] == "storefront") & (table["year"] == 2025)].set_index("name")["mean"]
    # In 2025 TikTok Shop is in the Tokopedia group for the whole year.
    assert abs(groups["Tokopedia group"] - storefronts["Tokopedia"] - storefronts["TikTok Shop"]) < 1e-9
    runs = pd.read_csv(out / "forecast_runs.csv")
    assert runs["parameter_set"].nunique() == 2
    assert runs["seed"].nunique() == 2  # each draw on its own seed
    # The runs went through the launcher, one job directory each, recorded for resumption.
    records = sorted(runs_dir.glob("*/job.json"))
    assert len(records) == 2
    stamps = [p.stat().st_mtime_ns for p in records]
    # Run again (through another launcher): both jobs finished before, so neither runs, and the
    # forecast is the same.
    assert main([*args, "launcher=serial"]) == 0
    again = capsys.readouterr().out
    assert again.count("[sweep] skipped") == 2 and "[sweep] done" not in again
    assert "2 jobs: 0 run, 2 finished before (skipped)" in again
    assert [p.stat().st_mtime_ns for p in records] == stamps
    pd.testing.assert_frame_equal(pd.read_csv(out / "forecast.csv"), table)


@pytest.mark.slow
def test_runs_that_contradict_the_record_are_left_out_of_the_bands():
    from sim.studies.forecast import summarise

    runs = pd.DataFrame(
        {
            "level": "storefront",
            "year": 2024,
            "name": "Shopee",
            "share": [0.40, 0.42, 0.90],
            "parameter_set": ["a", "b", "c"],
            "seed": [0, 1, 2],
            "fit_q": [3.0, 9.0, 120.0],
        }
    )
    kept = summarise(runs, accept_q=15.99)
    assert kept["runs"].item() == 2 and kept["mean"].item() == pytest.approx(0.41)
    assert summarise(runs)["runs"].item() == 3


@pytest.mark.slow
def test_the_fit_to_the_record_is_small_for_the_estimated_market_and_large_far_from_it():
    from sim.experiments.compose import compose_config
    from sim.experiments.run import simulate
    from sim.studies.forecast import fit_to_the_record

    small = [
        "market.shoppers.n_agents=4000",
        "market.msmes.n_agents=1000",
        "counterfactual=null",
        "end_date=2024-03-18",
    ]
    estimated = simulate(compose_config(["scenario=history", *small]))
    far = simulate(compose_config(["scenario=history", *small, "market.platforms.shopee.brand_utility=4.0"]))
    assert fit_to_the_record(estimated, 15_500.0) < 15.99 < fit_to_the_record(far, 15_500.0)
