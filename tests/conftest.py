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
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


# The suite runs on pytest-xdist workers (pyproject's addopts: ``-n auto``), each a process with
# its own caches and its own module- and session-scoped fixtures. So that an expensive fixture is
# built once, the scheduler below sends the tests of a file to one worker as one unit (as
# ``--dist loadfile`` does), and files that share a cache or a session fixture as one unit too.
# The notebook runs are independent and the longest tests of the suite: they alone are spread one
# by one, and go out first, so that no worker starts one when the other is nearly done.
# (``--dist loadgroup`` with ``xdist_group`` marks would say the same, but pytest 9.2 broke it
# silently: pytest-xdist#1386.) An explicit ``--dist`` choice on the command line stands.
SPREAD_FILES = {"test_notebooks.py"}
SHARED_UNITS = {
    "test_mechanisms.py": "run_table",
    "test_policies.py": "run_table",
    "test_dashboard.py": "tiny_sweep",
    "test_dashboard_browser.py": "tiny_sweep",
}


def work_unit(nodeid: str) -> str:
    """The unit of work a test is scheduled in: its own id, a shared unit's name, or its file."""
    path = nodeid.split("::", 1)[0]
    name = path.rsplit("/", 1)[-1]
    if name in SPREAD_FILES:
        return nodeid
    return SHARED_UNITS.get(name, path)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's; unknown with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    if config.getvalue("dist") != "load":  # load is what -n implies; any other was asked for
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    # Units go out in collection order (not biggest first), with the spread ones moved ahead.
    config.option.loadscopereorder = False
    return SharedFixtureScheduling(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # on an xdist worker: the spread tests first
        items.sort(key=lambda item: item.path.name not in SPREAD_FILES)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty working directory outside the checkout: the CLI must not depend on the cwd."""
    return tmp_path


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished sweep folder (two variants, two seeds, each with its no-policy counterfactual)
    at a tiny scale, for the dashboard's sweep browser."""
    cwd = tmp_path_factory.mktemp("tiny_sweep")
    result = run_cli(
        "--multirun",
        "scenario=history,ban_only",
        "seed=0,1",
        "market.shoppers.n_agents=1500",
        "market.msmes.n_agents=400",
        "burn_in_weeks=8",
        "end_date=2024-12-30",
        "figures=false",
        "hydra.sweep.dir=sweep",
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return cwd / "sweep"
