"""The sweep aggregate streams runs into sweep.parquet: the same contents as concatenating every
run's table in pandas, one run in memory at a time; slices are read back with DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from benchmarks.synthetic_sweep import build
from sim.experiments import aggregate as agg
from sim.experiments.aggregate import aggregate, load_sweep
from sim.experiments.compose import compose_config
from sim.experiments.run import ERROR, SUMMARY, TIMESERIES, run_job

TINY = [
    "market.shoppers.n_agents=500",
    "market.msmes.n_agents=100",
    "counterfactual=null",
    "figures=false",
    "scenario=no_policy",
    "end_date=2021-09-27",
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run directory, as run_job writes it."""
    out = tmp_path_factory.mktemp("template") / "run"
    run_job(compose_config(TINY), out, None)
    return out


def _sweep(template: Path, root: Path) -> Path:
    """Twelve runs (three compliance values x four seeds); one failed, one unfinished, two with an
    override the others lack."""
    sweep = root / "sweep"
    build(template, sweep, runs=12, points=3, workers=1)
    (sweep / ".sweep_start.json").unlink()  # every run directory counts (runs below change jobs)
    dirs = sorted((d for d in sweep.iterdir() if d.is_dir()), key=lambda d: int(d.name.split("_")[0]))
    (dirs[4] / ERROR).write_text(json.dumps({"error": "ValueError: broken", "traceback": ""}))
    (dirs[7] / SUMMARY).unlink()
    for run in (dirs[1], dirs[9]):
        overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
        (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([*overrides, "+extra=1"]))
    return sweep


def _pandas_aggregate(sweep: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """The aggregate as it was written before streaming: concatenate every run's table in memory."""
    tables = []
    for run in runs.loc[runs["status"] == "ok", "run"]:
        table = pd.read_parquet(sweep / run / TIMESERIES)
        table.insert(0, "run", run)
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    for col in ("run", "scenario", "metric", "entity"):
        table[col] = table[col].astype("category")
    by_run = runs.set_index("run")
    table.insert(1, "variant", table["run"].map(by_run["variant"]))
    for col in [c for c in runs.columns if c.startswith("ov.")]:
        table[col] = table["run"].map(by_run[col].astype(str))
    return table


def _as_text(table: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain objects (categorical or string dtype aside), missing as None."""
    text = [
        c
        for c in table.columns
        if not pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_datetime64_any_dtype(table[c])
    ]
    out = table.astype(dict.fromkeys(text, object))
    return out.where(out.notna(), None) if text else out


def test_the_streamed_sweep_table_equals_the_pandas_concatenation_row_for_row(template, tmp_path):
    sweep = _sweep(template, tmp_path)
    result = aggregate(sweep, figures=False)
    runs = pd.read_csv(sweep / "runs.csv")
    assert sorted(runs["status"]) == ["failed"] + ["incomplete"] + ["ok"] * 10
    assert runs["ov.extra"].notna().sum() == 2
    streamed = pd.read_parquet(sweep / "sweep.parquet")
    expected = _pandas_aggregate(sweep, result.runs)
    assert list(streamed.columns) == list(expected.columns)
    assert len(streamed) == len(expected) == 10 * len(pd.read_parquet(template / TIMESERIES))
    pd.testing.assert_frame_equal(_as_text(streamed), _as_text(expected))
    # The table reads back with the types the pandas aggregate gave its own columns.
    for col in ("run", "scenario", "metric", "entity"):
        assert isinstance(streamed[col].dtype, pd.CategoricalDtype)
    assert streamed["date"].dtype == expected["date"].dtype
    assert (streamed[["seed", "step", "value"]].dtypes == expected[["seed", "step", "value"]].dtypes).all()


def test_rows_reads_a_slice_with_the_tables_order_and_types(template, tmp_path):
    sweep = _sweep(template, tmp_path)
    aggregate(sweep, figures=False)
    lazy = load_sweep(sweep)
    rows = lazy.rows(["gmv_share", "msme_revenue_idr"], "Shopee", "2021-03-01", "2021-06-01")
    assert lazy._table is None  # the slice did not load the whole table
    table = load_sweep(sweep).table
    window = table[
        table["metric"].isin(["gmv_share", "msme_revenue_idr"])
        & (table["entity"] == "Shopee")
        & (table["date"] >= "2021-03-01")
        & (table["date"] < "2021-06-01")
    ]
    assert len(rows) > 0 and set(rows["metric"]) == {"gmv_share"}
    pd.testing.assert_frame_equal(
        _as_text(rows.reset_index(drop=True)), _as_text(window.reset_index(drop=True))
    )
    for column in window.columns:  # categoricals stay categoricals (of the values in the slice)
        mine, whole = rows[column].dtype, window[column].dtype
        assert (
            mine == whole
            or isinstance(mine, pd.CategoricalDtype) == isinstance(whole, pd.CategoricalDtype) is True
        )
    # The same slice from the table in memory.
    loaded = load_sweep(sweep)
    _ = loaded.table
    pd.testing.assert_frame_equal(
        _as_text(
            loaded.rows(["gmv_share", "msme_revenue_idr"], "Shopee", "2021-03-01", "2021-06-01").reset_index(
                drop=True
            )
        ),
        _as_text(rows.reset_index(drop=True)),
    )


def test_figures_past_the_row_limit_are_left_out_with_a_note(template, tmp_path, monkeypatch):
    sweep = tmp_path / "sweep"
    build(template, sweep, runs=4, points=1, workers=1)
    monkeypatch.setattr(agg, "FIGURE_ROWS_MAX", 10)
    result = aggregate(sweep)
    assert result.files == ["runs.csv", "sweep.parquet"]
    assert "figures not drawn" in result.report()
    assert not (sweep / "market_share.png").exists()


def test_a_run_whose_table_lacks_a_column_is_refused_naming_its_file(template, tmp_path):
    """The runs' tables are read and shaped in the background while the one before is written:
    a run whose table does not have the others' columns still stops the aggregate with its file
    named, and no sweep.parquet is left that looks complete."""
    sweep = _sweep(template, tmp_path)
    _, files = agg.collect_runs(sweep)
    broken = files[2]
    pd.read_parquet(broken).drop(columns="entity").to_parquet(broken, index=False)
    with pytest.raises(agg.SweepError, match=rf"{broken}.*does not have the columns"):
        aggregate(sweep)
    assert not (sweep / agg.SWEEP_TABLE).exists()
