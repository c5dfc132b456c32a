"""Shared helpers: compose configs as the CLI does and run small models, cached per session."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.core.model import EcommerceModel
from sim.experiments.compose import compose_config
from sim.schema.config import Config

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["market.shoppers.n_agents=4000", "market.msmes.n_agents=1000", "counterfactual=null"]


def small_config(*overrides: str) -> Config:
    return compose_config([*SMALL, *overrides])


@functools.lru_cache(maxsize=64)
def _run(overrides: tuple[str, ...]) -> pd.DataFrame:
    model = EcommerceModel(small_config(*overrides))
    model.run()
    return model.recorder.table()


def run_table(*overrides: str) -> pd.DataFrame:
    """The tidy table of a small run (cached: tests must not modify it)."""
    return _run(tuple(overrides))


def series(table: pd.DataFrame, metric: str, entity: str) -> pd.Series:
    rows = table[(table["metric"] == metric) & (table["entity"] == entity)]
    return rows.set_index("date")["value"]


def window_mean(table: pd.DataFrame, metric: str, entity: str, start: str, end: str) -> float:
    s = series(table, metric, entity)
    return float(s[(s.index >= pd.Timestamp(start)) & (s.index < pd.Timestamp(end))].mean())


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty working directory outside the checkout: the CLI must not depend on the cwd."""
    return tmp_path


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished sweep folder (two variants, two seeds, each with its no-policy counterfactual)
    at a tiny scale, for the dashboard's sweep browser."""
    cwd = tmp_path_factory.mktemp("tiny_sweep")
    result = run_cli("--multirun", "scenario=history,ban_only", "seed=0,1",
                     "market.shoppers.n_agents=1500", "market.msmes.n_agents=400",
                     "burn_in_weeks=8", "end_date=2024-12-30", "figures=false",
                     "hydra.sweep.dir=sweep", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cwd / "sweep"
