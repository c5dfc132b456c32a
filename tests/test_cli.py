"""The command line as a user runs it: outputs, schema, run directories, overrides."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.conftest import run_cli

# Every test here starts `python -m sim` in a subprocess (Python, Hydra and a run each): the
# slow tier. The fast tier keeps two command-line cases in test_bad_input.py.
pytestmark = pytest.mark.slow

SMALL = ["market.shoppers.n_agents=2000", "market.msmes.n_agents=500"]
COLUMNS = ["scenario", "seed", "step", "date", "metric", "entity", "value"]
STOREFRONTS = ["Shopee", "Tokopedia", "TikTok Shop", "Lazada", "Bukalapak", "Blibli"]


@pytest.fixture(scope="module")
def history_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("cli")
    result = run_cli(*SMALL, "seed=3", "hydra.run.dir=out", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cwd / "out"


def test_run_writes_the_documented_files(history_run: Path):
    for name in (
        "timeseries.parquet",
        "summary.json",
        "market_share.png",
        "msme_revenue.png",
        "resolved_config.yaml",
        ".hydra/config.yaml",
    ):
        assert (history_run / name).is_file(), name
    assert not list(history_run.glob(".*.tmp"))


def test_timeseries_follows_the_schema(history_run: Path):
    table = pd.read_parquet(history_run / "timeseries.parquet")
    assert list(table.columns) == COLUMNS
    assert set(table["scenario"].unique()) == {"history", "no_policy"}
    assert set(table["seed"].unique()) == {3}
    assert table["step"].min() == 0 and table["step"].max() == 260
    assert pd.Timestamp(table["date"].min()) == pd.Timestamp("2021-01-04")
    assert pd.Timestamp(table["date"].max()) == pd.Timestamp("2025-12-29")
    entities = table.groupby("metric", observed=True)["entity"].apply(lambda s: set(s.astype(str)))
    for metric in ("gmv_idr", "gmv_share"):
        assert entities[metric] == set(STOREFRONTS)
    assert {"Tokopedia group", "Sea Group"} <= entities["group_gmv_share"]
    assert entities["offline_sales_idr"] == {"offline"}
    assert entities["msme_revenue_idr"] == {
        "all",
        "local",
        "import_reseller",
        "cross_border",
        "online",
        "offline",
    }
    assert entities["msme_active"] >= {"all"} and entities["msmes_online"] == {"all"}
    assert entities["hhi"] == {"market"}
    assert np.isfinite(table["value"]).all()


def test_summary_has_annual_shares_revenue_and_provenance(history_run: Path):
    summary = json.loads((history_run / "summary.json").read_text())
    assert summary["scenario"] == "history" and summary["seed"] == 3
    assert summary["counterfactual"] == "no_policy"
    shares = summary["results"]["history"]["annual_gmv_share"]
    assert set(shares) == {"2021", "2022", "2023", "2024", "2025"}
    # The summary's shares against shares recomputed from the run's weekly GMV in its table.
    table = pd.read_parquet(history_run / "timeseries.parquet")
    gmv = table[(table["metric"] == "gmv_idr") & (table["scenario"] == "history")]
    yearly = gmv.groupby([pd.to_datetime(gmv["date"]).dt.year, "entity"], observed=True)["value"].sum()
    for year, by_name in shares.items():
        assert set(by_name) == set(STOREFRONTS)
        total = yearly.loc[int(year)].sum()
        for name, share in by_name.items():
            assert share == pytest.approx(yearly.loc[(int(year), name)] / total, abs=1e-5)
    revenue = summary["results"]["history"]["annual_msme_revenue_idr"]["2023"]
    assert revenue["all"] == pytest.approx(
        revenue["local"] + revenue["import_reseller"] + revenue["cross_border"], rel=1e-9
    )
    assert summary["wall_time_s"] > 0 and summary["package_version"]
    assert summary["config"]["market"]["shoppers"]["n_agents"] == 2000


def test_figures_are_real_images(history_run: Path):
    for name in ("market_share.png", "msme_revenue.png"):
        with Image.open(history_run / name) as image:
            assert image.width >= 1000 and image.height >= 700
            colours = np.asarray(image.convert("RGB")).reshape(-1, 3)
            assert len(np.unique(colours[::97], axis=0)) > 20  # curves, not a blank canvas


def test_counterfactual_null_runs_the_scenario_alone(workdir: Path):
    result = run_cli(
        *SMALL, "scenario=ban_only", "counterfactual=null", "figures=false", "hydra.run.dir=solo", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_parquet(workdir / "solo" / "timeseries.parquet")
    assert set(table["scenario"].unique()) == {"ban_only"}
    assert not (workdir / "solo" / "market_share.png").exists()


def test_two_runs_started_together_get_their_own_directories(workdir: Path):
    import subprocess
    import sys

    args = [sys.executable, "-m", "sim", *SMALL, "scenario=no_policy", "figures=false", "end_date=2021-06-28"]
    procs = [
        subprocess.Popen(args, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
    ]
    for proc in procs:
        assert proc.wait(timeout=300) == 0
    runs = sorted((workdir / "results" / "runs").glob("*/*"))
    assert len(runs) == 2
    assert all((run / "summary.json").is_file() for run in runs)


def test_overrides_reach_the_model(workdir: Path):
    result = run_cli(
        *SMALL,
        "scenario=history",
        "counterfactual=null",
        "figures=false",
        "scenario.social_commerce_ban.compliance=0.5",
        "hydra.run.dir=loose",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_parquet(workdir / "loose" / "timeseries.parquet")
    tiktok = table[(table["metric"] == "gmv_idr") & (table["entity"] == "TikTok Shop")]
    during_ban = tiktok[(tiktok["date"] >= "2023-10-09") & (tiktok["date"] < "2023-12-11")]
    assert (during_ban["value"] > 0).all()
    config = (workdir / "loose" / "resolved_config.yaml").read_text()
    assert "compliance: 0.5" in config


def test_multirun_sweeps_scenarios_and_seeds(workdir: Path):
    result = run_cli(
        "--multirun",
        *SMALL,
        "scenario=no_policy,ban_only",
        "seed=0,1",
        "counterfactual=null",
        "figures=false",
        "hydra.sweep.dir=sweep",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    summaries = sorted((workdir / "sweep").glob("*/summary.json"))
    assert len(summaries) == 4
    seen = {(json.loads(p.read_text())["scenario"], json.loads(p.read_text())["seed"]) for p in summaries}
    assert seen == {("no_policy", 0), ("no_policy", 1), ("ban_only", 0), ("ban_only", 1)}


def test_the_hydra_job_is_named_sim_not_main(history_run: Path):
    hydra_yaml = (history_run / ".hydra" / "hydra.yaml").read_text()
    assert "\n    name: sim\n" in hydra_yaml and "__main__" not in hydra_yaml
    assert (history_run / "run.log").is_file() and not (history_run / "__main__.log").exists()


def test_sim_without_a_verb_is_python_m_sim_and_sim_run(workdir: Path, monkeypatch):
    """The console script's entry with overrides only, and with the verb run, in this process,
    against ``python -m sim`` in a subprocess: the same run, the same table."""
    from sim.faces.commands import main

    tiny = [
        "market.shoppers.n_agents=300",
        "market.msmes.n_agents=100",
        "burn_in_weeks=4",
        "end_date=2022-06-27",
        "scenario=no_policy",
        "counterfactual=null",
        "figures=false",
        "seed=2",
    ]
    result = run_cli(*tiny, "hydra.run.dir=module", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert f"results in {workdir / 'module'}" in result.stdout
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    monkeypatch.setenv("SIM_DEBUG", "0")
    assert main([*tiny, "hydra.run.dir=script"]) == 0
    assert main(["run", *tiny, "hydra.run.dir=verb"]) == 0
    expected = pd.read_parquet(workdir / "module" / "timeseries.parquet")
    for name in ("script", "verb"):
        pd.testing.assert_frame_equal(pd.read_parquet(workdir / name / "timeseries.parquet"), expected)
        summary = json.loads((workdir / name / "summary.json").read_text())
        assert summary["results"] == json.loads((workdir / "module" / "summary.json").read_text())["results"]


def test_no_progress_bar_when_not_on_a_terminal_and_no_mesa_step_logging(history_run: Path):
    log = (history_run / "run.log").read_text()
    assert "Step " not in log  # Mesa's per-step INFO lines are silenced
    assert "simulating history" in log


def test_agent_history_is_opt_in_and_bounded(workdir: Path):
    result = run_cli(
        *SMALL,
        "counterfactual=null",
        "figures=false",
        "agent_history.every_weeks=13",
        "agent_history.shopper_fields=[apps]",
        "hydra.run.dir=hist",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    agents = pd.read_parquet(workdir / "hist" / "agents.parquet")
    assert sorted(agents["step"].unique()) == list(range(0, 261, 13))
    msme = agents[agents["agent_type"] == "MSME"]
    assert set(msme["field"].unique()) == {"revenue_idr", "price", "cash_idr", "storefronts"}
    assert msme["agent_index"].nunique() == 500
    large = agents[agents["agent_type"] == "LargeFirm"]
    assert sorted(large["agent_index"].unique()) == list(range(500, 550))  # conf: 50 after the MSMEs
    shopper = agents[agents["agent_type"] == "Shopper"]
    assert set(shopper["field"].unique()) == {"apps"} and shopper["value"].between(0, 6).all()
    # Off by default: no agents.parquet in the default run.
    assert not (workdir / "out" / "agents.parquet").exists()
    too_big = run_cli(
        *SMALL,
        "agent_history.every_weeks=1",
        "agent_history.shopper_fields=[apps]",
        "agent_history.max_mb=1",
        cwd=workdir,
    )
    assert too_big.returncode != 0 and "agent_history.max_mb" in too_big.stderr
