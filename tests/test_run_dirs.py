"""Honest run directories: a run is swapped in whole or not at all, one run at a time, no file of an
earlier run survives, a finished run is reused only for the same config and code, summary.json is
strict JSON and non-finite outputs fail the run; expected failures are one message and a code."""

from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path

import pandas as pd
import pytest

import sim
import sim.experiments.run as run_module
from sim.experiments.compose import compose_config, load_scenario
from sim.experiments.run import (
    check_finite,
    completed_summary,
    locked,
    resolve_counterfactual,
    run_job,
    write_json,
)
from sim.schema.config import ConfigError
from sim.schema.errors import RunError, describe, exit_cleanly
from tests.conftest import run_cli, small_config

TINY = [
    "scenario=no_policy",
    "start_date=2023-09-04",
    "end_date=2023-12-25",
    "burn_in_weeks=0",
    "market.shoppers.n_agents=150",
    "market.msmes.n_agents=24",
    "counterfactual=null",
]


def tiny(*overrides: str):
    return compose_config([*TINY, *overrides])


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


@pytest.fixture
def finished(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    run_job(tiny("figures=false"), out, None)
    return out


def _strict(text: str) -> dict:
    def refuse(token: str) -> None:
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_a_finished_run_holds_exactly_its_files_and_strict_json(finished: Path):
    assert sorted(snapshot(finished)) == ["run.log", "summary.json", "timeseries.parquet"]
    summary = _strict((finished / "summary.json").read_text())
    assert summary["package_version"] == sim.__version__ and summary["code_digest"]
    assert summary["counterfactual"] is None
    assert sorted(p.name for p in finished.parent.iterdir()) == ["run"]  # no lock, no staging


@pytest.mark.parametrize("failure", [RuntimeError("boom"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_a_failed_or_interrupted_rerun_leaves_the_finished_run_as_it_was(finished, monkeypatch, failure):
    before = snapshot(finished)

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(run_module, "simulate_with_history", fail)
    with pytest.raises(type(failure)):
        run_job(tiny("seed=5", "force=true"), finished, None)
    assert snapshot(finished) == before
    assert sorted(p.name for p in finished.parent.iterdir()) == ["run"]


def test_a_full_disk_leaves_the_finished_run_and_reads_as_one_line(finished, monkeypatch):
    before = snapshot(finished)

    def full(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    with pytest.raises(OSError) as caught:
        run_job(tiny("seed=6"), finished, None)
    assert snapshot(finished) == before
    message, code = describe(caught.value)
    assert code == 1 and "No space left on device" in message and "\n" not in message


def test_a_second_run_into_a_busy_directory_is_refused(finished):
    before = snapshot(finished)
    with locked(finished), pytest.raises(RunError, match="another run is writing into"):
        run_job(tiny("seed=7"), finished, None)
    assert snapshot(finished) == before


@pytest.mark.slow
def test_the_command_line_refuses_a_busy_directory_without_a_traceback(finished, tmp_path):
    before = snapshot(finished)
    with locked(finished):
        result = run_cli(*TINY, f"hydra.run.dir={finished}", "seed=8", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "another run is writing into" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(finished) == before


def test_a_new_run_leaves_no_file_of_the_earlier_one(finished):
    (finished / "notes.txt").write_text("from an earlier run")
    (finished / "market_share.png").write_bytes(b"a figure of an earlier run with figures=true")
    run_job(tiny("seed=9", "figures=false"), finished, None)
    assert sorted(snapshot(finished)) == ["run.log", "summary.json", "timeseries.parquet"]


def test_a_finished_run_is_reused_only_for_the_same_config_version_code_and_files(finished, monkeypatch):
    cfg = tiny("figures=false")
    assert completed_summary(finished, cfg) is not None
    before = snapshot(finished)
    assert run_job(cfg, finished, None, reuse_finished=True)["skipped"] is True
    assert snapshot(finished) == before
    assert completed_summary(finished, tiny("figures=false", "seed=1")) is None
    monkeypatch.setattr(sim, "__version__", "99.0")
    assert completed_summary(finished, cfg) is None
    monkeypatch.undo()
    monkeypatch.setattr(run_module, "code_digest", lambda: "changed-code")
    assert completed_summary(finished, cfg) is None
    monkeypatch.undo()
    (finished / "timeseries.parquet").unlink()
    assert completed_summary(finished, cfg) is None


def test_non_finite_outputs_fail_the_run_naming_metric_and_week(tmp_path, monkeypatch):
    real = run_module.simulate_with_history

    def poisoned(cfg, show_progress=False, position=0):
        table, history = real(cfg, show_progress, position)
        rows = table.index[(table["metric"] == "hhi") & (table["step"] == 3)]
        table.loc[rows, "value"] = math.inf
        return table, history

    monkeypatch.setattr(run_module, "simulate_with_history", poisoned)
    with pytest.raises(
        RunError,
        match=r"metric hhi \[market\] of scenario no_policy in week 3 "
        r"\(2023-09-25\)",
    ):
        run_job(tiny(), tmp_path / "run", None)
    assert not (tmp_path / "run").exists()
    with pytest.raises(RunError, match="non-finite"):
        check_finite(
            pd.DataFrame(
                {
                    "scenario": ["s"],
                    "step": [0],
                    "date": ["2023-01-02"],
                    "metric": ["m"],
                    "entity": ["e"],
                    "value": [math.nan],
                }
            )
        )


def test_summary_json_writes_null_never_nan(tmp_path):
    write_json(tmp_path / "x.json", {"a": math.nan, "b": [1.0, -math.inf], "c": {"d": 2.5}})
    assert _strict((tmp_path / "x.json").read_text()) == {"a": None, "b": [1.0, None], "c": {"d": 2.5}}


def test_a_counterfactual_named_like_a_modified_scenario_is_refused_or_dropped_when_identical():
    modified = small_config("scenario=history", "scenario.social_commerce_ban.compliance=0.5")
    with pytest.raises(ConfigError, match=r"^counterfactual: 'history' is also the name"):
        resolve_counterfactual(modified, load_scenario("history"))
    renamed = small_config(
        "scenario=history", "scenario.social_commerce_ban.compliance=0.5", "scenario.name=history_loose"
    )
    assert resolve_counterfactual(renamed, load_scenario("history")).name == "history"
    assert resolve_counterfactual(small_config("scenario=history"), load_scenario("history")) is None


def test_ctrl_c_is_one_line_and_exit_130(capsys, monkeypatch):
    monkeypatch.setenv("SIM_DEBUG", "0")
    with pytest.raises(SystemExit) as caught:
        exit_cleanly(KeyboardInterrupt())
    assert caught.value.code == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err


def test_a_bug_keeps_its_traceback(monkeypatch):
    monkeypatch.setenv("SIM_DEBUG", "0")
    with pytest.raises(ZeroDivisionError):
        exit_cleanly(ZeroDivisionError("a real bug"))


def test_debug_shows_the_traceback_of_an_expected_failure(monkeypatch):
    monkeypatch.setenv("SIM_DEBUG", "1")
    with pytest.raises(RunError):
        exit_cleanly(RunError("busy"))


CLI_CASES = [
    (["experiment=commission"], 2, "--multirun experiment=commission"),
    (["market.platforms.tiktok_shop.commission=0.05"], 2, "commission_changes=[]"),
    (["hydra.run.dir=a_file"], 1, "File exists"),
    (["counterfactual=''"], 2, "counterfactual: is empty"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "code", "fragment"), CLI_CASES, ids=[c[2] for c in CLI_CASES])
def test_the_command_line_says_what_it_refuses(tmp_path, args, code, fragment):
    (tmp_path / "a_file").write_text("not a directory")
    result = run_cli(*TINY, *args, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2, result.stderr
    assert not list(tmp_path.rglob("summary.json")) and not list(tmp_path.rglob(".hydra"))


ANALYSIS = [
    (["forecast", "seeds=0"], 2, "seeds: must be >= 1"),
    (["validate", "seeds=0"], 2, "seeds: must be >= 1"),
    (["sensitivity", "trajectories=0"], 2, "trajectories: must be >= 1"),
    (["sensitivity", 'model_overrides=["market.shoppers.n_agentz=3"]'], 2, "market.shoppers.n_agentz"),
    (["forecast", 'model_overrides=["market.shoppers.population=nan"]'], 2, "market.shoppers.population"),
    (["calibrate", "trialz=3"], 2, "trialz"),
    (["aggregate", "sweep_dir=/no/such/sweep"], 2, "not a directory"),
]


@pytest.mark.parametrize(("argv", "code", "fragment"), ANALYSIS, ids=[" ".join(a[0]) for a in ANALYSIS])
def test_analysis_commands_turn_bad_arguments_into_a_message(
    argv, code, fragment, capsys, monkeypatch, tmp_path
):
    from sim.faces.commands import main

    monkeypatch.setenv("SIM_DEBUG", "0")
    monkeypatch.chdir(tmp_path)
    assert main(argv) == code
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_the_lock_file_goes_with_the_run(tmp_path):
    out = tmp_path / "run"
    with locked(out):
        assert (tmp_path / ".run.lock").is_file()
        assert int((tmp_path / ".run.lock").read_text()) == os.getpid()
    assert not (tmp_path / ".run.lock").exists()


@pytest.mark.slow
def test_a_refused_rerun_leaves_a_finished_command_line_run_and_its_hydra_record(tmp_path):
    first = run_cli(*TINY, "figures=false", "hydra.run.dir=out", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = snapshot(tmp_path / "out")
    assert ".hydra/overrides.yaml" in before and "summary.json" in before
    refused = run_cli(
        *TINY, "figures=false", "hydra.run.dir=out", "market.shoppers.habit_weight=nan", cwd=tmp_path
    )
    assert refused.returncode == 2 and "market.shoppers.habit_weight" in refused.stderr
    assert snapshot(tmp_path / "out") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
