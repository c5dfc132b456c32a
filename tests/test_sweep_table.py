"""The sweep's table is read from the runs' own files: the same contents as concatenating every
run's table in pandas, whole, in slices, or written into one sweep.parquet; the aggregate checks
the files and refuses a sweep whose tables do not match, having written nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
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
    """The sweep's table the plain way: concatenate every run's table in memory."""
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


def _assert_is_the_concatenation(table: pd.DataFrame, sweep: Path, runs: pd.DataFrame) -> None:
    expected = _pandas_aggregate(sweep, runs)
    assert list(table.columns) == list(expected.columns)
    assert len(table) == len(expected)
    pd.testing.assert_frame_equal(_as_text(table), _as_text(expected))
    # The table has the types the pandas aggregate gave its own columns.
    for col in ("run", "scenario", "metric", "entity"):
        assert isinstance(table[col].dtype, pd.CategoricalDtype)
    assert table["date"].dtype == expected["date"].dtype
    assert (table[["seed", "step", "value"]].dtypes == expected[["seed", "step", "value"]].dtypes).all()


def test_the_sweep_table_read_from_the_runs_files_equals_the_pandas_concatenation(template, tmp_path):
    sweep = _sweep(template, tmp_path)
    result = aggregate(sweep, figures=False)
    runs = pd.read_csv(sweep / "runs.csv")
    assert sorted(runs["status"]) == ["failed"] + ["incomplete"] + ["ok"] * 10
    assert runs["ov.extra"].notna().sum() == 2
    rows_per_run = len(pd.read_parquet(template / TIMESERIES))
    assert result.table_rows == 10 * rows_per_run
    assert f"({10 * rows_per_run:,} rows in their tables)" in result.report()
    assert result.files == ["runs.csv"] and not (sweep / agg.SWEEP_TABLE).exists()  # nothing copied
    _assert_is_the_concatenation(load_sweep(sweep).table, sweep, result.runs)


def test_table_true_writes_the_same_table_into_one_file_and_a_later_aggregate_removes_it(template, tmp_path):
    sweep = _sweep(template, tmp_path)
    result = aggregate(sweep, figures=False, table=True)
    assert result.files == ["runs.csv", "sweep.parquet"]
    one_file = pd.read_parquet(sweep / agg.SWEEP_TABLE)
    _assert_is_the_concatenation(one_file, sweep, result.runs)
    assert pq.ParquetFile(sweep / agg.SWEEP_TABLE).num_row_groups == 10  # one per run
    # A run finishing later changes the sweep: the old file would no longer be its table.
    again = aggregate(sweep, figures=False)
    assert not (sweep / agg.SWEEP_TABLE).exists()
    assert "removed the sweep.parquet of an earlier aggregate" in again.report()


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
    assert result.files == ["runs.csv"]
    assert "figures not drawn" in result.report()
    assert not (sweep / "market_share.png").exists()


@pytest.mark.parametrize("fault", ["lacks a column", "is missing"])
def test_a_run_whose_table_lacks_a_column_or_is_missing_is_refused_naming_its_file(template, tmp_path, fault):
    """The aggregate reads each finished run's footer before it writes anything: a run whose
    table does not have the others' columns, or has no table, stops it with its file named,
    and no runs.csv or sweep.parquet is left that looks complete."""
    sweep = _sweep(template, tmp_path)
    _, files = agg.collect_runs(sweep)
    broken = files[2]
    if fault == "is missing":
        broken.unlink()
        message = rf"{broken} cannot be read as a run's table"
    else:
        pd.read_parquet(broken).drop(columns="entity").to_parquet(broken, index=False)
        message = rf"{broken} does not have the columns of the sweep's other runs \(.*entity.*\): it has"
    with pytest.raises(agg.SweepError, match=message):
        aggregate(sweep, table=True)
    assert not (sweep / agg.SWEEP_TABLE).exists() and not (sweep / "runs.csv").exists()


@pytest.mark.parametrize("change", ["drops a column", "is removed"])
def test_a_table_changed_after_the_aggregate_is_refused_when_read(template, tmp_path, change):
    """The table is read from the runs' files when asked for: a file changed or removed since
    the aggregate checked it is named, not read into wrong columns."""
    sweep = _sweep(template, tmp_path)
    aggregate(sweep, figures=False)
    _, files = agg.collect_runs(sweep)
    if change == "is removed":
        files[5].unlink()
        message = rf"{files[5]} cannot be read as a run's table"
    else:
        pd.read_parquet(files[5]).drop(columns="entity").to_parquet(files[5], index=False)
        message = rf"{files[5]} does not have the columns"
    for read in (lambda sweep: sweep.table, lambda sweep: sweep.rows("gmv_share", "Shopee")):
        with pytest.raises(agg.SweepError, match=message):
            read(load_sweep(sweep))
