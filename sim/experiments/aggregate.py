"""One tidy table and comparison figures for a whole sweep.

    sim aggregate sweep_dir=SWEEP_DIR

Reads every run directory under SWEEP_DIR (those with ``.hydra/overrides.yaml``) and writes:
- ``sweep.parquet``: every run's time series with ``run``, ``variant`` and one column per
  overridden key (``ov.<key>``, as given on the command line or in the experiment), streamed run
  by run into one file, so that a sweep of thousands of runs aggregates in bounded memory;
- ``runs.csv``: one row per run: its overrides, status (ok, failed, incomplete), error, wall time
  and annual figures (GMV shares, total GMV, MSME revenue by origin);
- ``market_share.png``, ``msme_revenue.png``, ``policy_effect.png``: per variant (the overrides
  other than the seed), the mean across seeds and a 90% band (5th to 95th percentile), drawn from
  the rows of the metrics they show (kept while streaming, up to ``FIGURE_ROWS_MAX`` rows).
Exits non-zero if any run failed or did not finish.

``SweepResult.rows`` reads a slice of ``sweep.parquet`` (some metrics, entities, dates) with DuckDB
without loading the rest; ``SweepResult.table`` loads all of it, for small sweeps.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from sim.experiments.run import ERROR, SUMMARY, TIMESERIES, atomic_path
from sim.experiments.sweep import current_jobs
from sim.schema.tables import MAX_VARIANTS, SWEEP_FIGURE_METRICS, own_rows, paired_counterfactual

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.schema.config import ScenarioConfig


class SweepError(RuntimeError):
    """Some runs of the sweep failed or did not finish."""


SWEEP_TABLE = "sweep.parquet"
# The rows of the metrics the comparison figures read are kept in memory while the runs stream into
# sweep.parquet, up to this many rows; past it the figures are not drawn.
FIGURE_ROWS_MAX = 5_000_000
# Text columns of a run's table; sweep.parquet stores them, and run, variant and ov.<key>, as
# dictionaries (pandas reads them as categoricals, as it wrote them).
TEXT_COLUMNS = ("scenario", "metric", "entity")
DICTIONARY = pa.dictionary(pa.int32(), pa.string())


@dataclass
class SweepResult:
    """A sweep's aggregate: ``runs`` (one row per run, as ``runs.csv``), ``table`` (every run's
    time series, as ``sweep.parquet``) and ``figures()`` (the comparison figures)."""

    sweep_dir: Path
    runs: pd.DataFrame
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _table: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def failed(self) -> pd.DataFrame:
        """The rows of ``runs`` whose status is not ok, with their error."""
        return self.runs[self.runs["status"] != "ok"]

    @property
    def table(self) -> pd.DataFrame:
        """The tidy table of every finished run, with ``run``, ``variant`` and ``ov.<key>``, all
        in memory: for a large sweep read a slice with ``rows`` instead."""
        if self._table is None:
            self._table = pd.read_parquet(self._table_path())
        return self._table

    def _table_path(self) -> Path:
        path = self.sweep_dir / SWEEP_TABLE
        if not path.is_file():
            raise SweepError(f"{path} does not exist: no run of the sweep finished")
        return path

    def rows(
        self,
        metric: str | Sequence[str] | None = None,
        entity: str | Sequence[str] | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> pd.DataFrame:
        """The rows of ``table`` for some metrics and entities (a name or a list; None: all) and
        dates in [start, end), in the table's order and with its columns and types. Read from
        ``sweep.parquet`` with DuckDB (only the matching rows are loaded) unless the whole table
        is in memory already."""
        if self._table is not None:
            table = self._table
            keep = pd.Series(True, index=table.index)
            for column, wanted in (("metric", metric), ("entity", entity)):
                if wanted is not None:
                    keep &= table[column].isin([wanted] if isinstance(wanted, str) else list(wanted))
            if start is not None:
                keep &= table["date"] >= pd.Timestamp(start)
            if end is not None:
                keep &= table["date"] < pd.Timestamp(end)
            return table[keep.to_numpy()]
        return read_rows(self._table_path(), metric, entity, start, end)

    def effects(self, metric: str, entity: str, start: str, end: str) -> pd.DataFrame:
        """Each run's policy effect: the weekly mean of ``metric`` for ``entity`` over the dates
        [start, end), in the run's scenario (``value``) and in its counterfactual on the same
        seed (``counterfactual``), with ``difference`` and ``effect_pct`` (100 x value / cf - 1).
        Runs without a counterfactual are left out. Reads only those rows of the sweep."""
        rows = self.rows(metric, entity, start, end)
        if rows.empty:
            raise SweepError(f"no rows of metric {metric!r}, entity {entity!r} from {start} to {end}")
        own = own_rows(rows, self.runs)
        paired = paired_counterfactual(rows, own, self.runs)
        if paired.empty:
            raise SweepError(
                "no run of the sweep has a counterfactual (counterfactual=null and no "
                "no_policy run with the same seed)"
            )
        value = own.groupby("run", observed=True)["value"].mean()
        counterfactual = paired.groupby("pair_run")["value"].mean()
        paired_runs = [run for run in self.runs["run"] if run in counterfactual.index]  # sweep order
        out = self.runs.set_index("run").loc[paired_runs, ["variant", "seed"]]
        out["value"] = value.reindex(paired_runs).to_numpy()
        out["counterfactual"] = counterfactual.reindex(paired_runs).to_numpy()
        out["difference"] = out["value"] - out["counterfactual"]
        out["effect_pct"] = 100 * (out["value"] / out["counterfactual"] - 1)
        return out.rename_axis("run").reset_index()

    def scenarios(self) -> dict[str, ScenarioConfig]:
        """Each finished variant's resolved scenario (its policy dates, for the figures), read from
        the record of its first finished run."""
        from sim.schema.packaged import scenario_config

        ok = self.runs[self.runs["status"] == "ok"].drop_duplicates("variant")
        return {
            variant: scenario_config(
                json.loads((self.sweep_dir / run / SUMMARY).read_text())["config"]["scenario"]
            )
            for variant, run in zip(ok["variant"], ok["run"], strict=True)
        }

    def figures(self) -> dict[str, Figure]:
        """The comparison figures keyed by file name (none past MAX_VARIANTS variants), drawn from
        the rows of the metrics they show."""
        from sim.views.figures import sweep_figures

        return sweep_figures(self.rows(SWEEP_FIGURE_METRICS), self.runs, self.scenarios())

    def report(self) -> str:
        """The aggregation's summary lines: runs ok, files written, and each failed run."""
        ok = int((self.runs["status"] == "ok").sum())
        lines = [
            f"[aggregate] {ok} of {len(self.runs)} runs ok in {self.sweep_dir}; wrote "
            + ", ".join(self.files)
        ]
        lines += [f"[aggregate] {note}" for note in self.notes]
        for row in self.failed.itertuples():
            lines.append(f"[aggregate] {row.status}: {row.run}: {row.error}")
        return "\n".join(lines)


def _overrides(items: list[str]) -> dict[str, str]:
    pairs = (item.lstrip("+~").split("=", 1) for item in items)
    return {key: value for key, value in pairs if not key.startswith("hydra")}


def run_dirs(sweep_dir: Path) -> list[Path]:
    """The run directories of the sweep's latest multirun: job number and overrides must match
    it, so a smaller sweep into the directory of a larger one leaves out the larger one's runs."""
    return list(_runs_with_overrides(sweep_dir))


def _runs_with_overrides(sweep_dir: Path) -> dict[Path, list[str]]:
    """``run_dirs`` with each run's override list (each ``overrides.yaml`` read once)."""
    dirs = sorted(
        (
            p.parent.parent
            for p in sweep_dir.glob("*/.hydra/overrides.yaml")
            if not p.parent.parent.name.startswith(".")
        ),  # a run's staging directory
        key=lambda p: (len(p.name), p.name),
    )
    listed = {d: _override_list(d) for d in dirs}
    jobs = current_jobs(sweep_dir)
    if jobs is None:
        return listed
    return {
        d: items
        for d, items in listed.items()
        if (num := _job_num(d)) is not None and jobs.get(num) == tuple(sorted(items))
    }


def _job_num(run_dir: Path) -> int | None:
    """``hydra.job.num`` of a run, read without parsing the whole of ``hydra.yaml``."""
    hydra_yaml = run_dir / ".hydra" / "hydra.yaml"
    if not hydra_yaml.is_file():
        return None
    match = re.search(r"^    num: (\d+)$", hydra_yaml.read_text(), re.MULTILINE)
    return int(match.group(1)) if match else None


# PyYAML's C loader when it was built with libyaml: a sweep of thousands of runs reads as many files.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _override_list(run_dir: Path) -> list[str]:
    return yaml.load((run_dir / ".hydra" / "overrides.yaml").read_text(), Loader=_YAML_LOADER) or []


def _variant(overrides: dict[str, str], varying: list[str]) -> str:
    """A short label of what sets this run apart, seeds aside: ``history`` or
    ``compliance=0.5``; ``default`` if only the seed varies."""
    parts = [
        overrides.get(k, "-") if k == "scenario" else f"{k.rsplit('.', 1)[-1]}={overrides.get(k, '-')}"
        for k in varying
    ]
    return ", ".join(parts) if parts else "default"


def _varying_keys(all_overrides: list[dict[str, str]]) -> list[str]:
    keys = list(dict.fromkeys(k for o in all_overrides for k in o if k != "seed"))
    return [k for k in keys if len({o.get(k) for o in all_overrides}) > 1]


def _annual_columns(summary: dict) -> dict[str, float]:
    scenario = summary["scenario"]
    results = summary["results"][scenario]
    out: dict[str, float] = {}
    for year, shares in results["annual_gmv_share"].items():
        out.update({f"share_{year}_{name}": value for name, value in shares.items()})
    for year, total in results["annual_gmv_usd_bn"].items():
        out[f"gmv_{year}_usd_bn"] = total
    for year, revenue in results["annual_msme_revenue_idr"].items():
        out.update({f"msme_revenue_{year}_{k}_idr": v for k, v in revenue.items()})
    return out


def collect_runs(sweep_dir: Path) -> tuple[pd.DataFrame, list[Path]]:
    """One row per run of the sweep (as ``runs.csv``), and the time-series file of each finished
    run, in the same order."""
    rows, tables = [], []
    listed = _runs_with_overrides(sweep_dir)
    dirs = list(listed)
    all_overrides = [_overrides(items) for items in listed.values()]
    varying = _varying_keys(all_overrides)
    for run_dir, overrides in zip(dirs, all_overrides, strict=True):
        row: dict = {
            "run": run_dir.name,
            "variant": _variant(overrides, varying),
            **{f"ov.{k}": v for k, v in overrides.items()},
        }
        summary_path, error_path = run_dir / SUMMARY, run_dir / ERROR
        if error_path.is_file():  # the latest attempt failed, even beside an older complete run
            row.update(status="failed", error=json.loads(error_path.read_text())["error"])
        elif summary_path.is_file():
            summary = json.loads(summary_path.read_text())
            row.update(
                status="ok",
                error="",
                wall_time_s=summary["wall_time_s"],
                scenario=summary["scenario"],
                seed=summary["seed"],
                counterfactual=summary.get("counterfactual"),
                **_annual_columns(summary),
            )
            tables.append(run_dir / TIMESERIES)
        else:
            row.update(status="incomplete", error="no summary.json: the run did not finish")
        rows.append(row)
    return pd.DataFrame(rows), tables


def _prefetched[T, R](read: Callable[[T], R], items: Iterable[T], ahead: int) -> Iterator[R]:
    """``read(item)`` for each item in order, up to ``ahead`` of them read in a background
    thread while the caller works on the current one (Parquet reads release the GIL)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(read, item))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _read_run_table(path: Path) -> pa.Table:
    return pq.ParquetFile(path).read(use_threads=False)


def _constant(value: str | None, n: int) -> pa.DictionaryArray:
    """A run-level value repeated over the run's ``n`` rows, as a one-entry dictionary column."""
    if value is None:
        return pa.DictionaryArray.from_arrays(pa.nulls(n, pa.int32()), pa.array([], pa.string()))
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value], pa.string()))


def _sweep_schema(first: pa.Schema, run_columns: list[str]) -> pa.Schema:
    """sweep.parquet's columns: run, variant, the run table's own, then ov.<key>; text columns
    as dictionaries."""
    own = [
        pa.field(f.name, DICTIONARY if f.name in TEXT_COLUMNS or pa.types.is_dictionary(f.type) else f.type)
        for f in first
    ]
    head = [pa.field(c, DICTIONARY) for c in run_columns if not c.startswith("ov.")]
    tail = [pa.field(c, DICTIONARY) for c in run_columns if c.startswith("ov.")]
    return pa.schema([*head, *own, *tail])


def _writer_options(schema: pa.Schema) -> dict:
    """Text as dictionaries (written from the runs' own), whole numbers and times delta-encoded,
    min/max statistics only where they are cheap: a third less time than the writer's defaults
    on a sweep of thousands of runs, for the same values."""
    whole = [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_timestamp(f.type)]
    return {
        "use_dictionary": [f.name for f in schema if pa.types.is_dictionary(f.type)],
        "column_encoding": dict.fromkeys(whole, "DELTA_BINARY_PACKED"),
        "write_statistics": whole,
    }


def write_sweep_table(
    path: Path, runs: pd.DataFrame, files: list[Path], keep_metrics: Sequence[str] = ()
) -> tuple[int, pd.DataFrame | None]:
    """Stream the finished runs' tables (``files``, in the order of the ok rows of ``runs``) into
    one Parquet file at ``path``, each with its run's ``run``, ``variant`` and ``ov.<key>``
    columns: a few runs in memory at a time. Returns the rows written and, with ``keep_metrics``,
    those metrics' rows as a pandas table (None past ``FIGURE_ROWS_MAX`` rows)."""
    ok = runs[runs["status"] == "ok"]
    run_columns = ["run", "variant", *[c for c in runs.columns if c.startswith("ov.")]]
    # Per run, its values of those columns as text (an override the run does not have is null).
    values = {c: [None if pd.isna(v) else str(v) for v in ok[c]] for c in run_columns}
    keep_set = pa.array(list(keep_metrics), pa.string())
    kept: list[pa.Table] | None = [] if keep_metrics else None
    kept_rows = 0
    written = 0
    first = _read_run_table(files[0])
    schema = _sweep_schema(first.schema, run_columns)

    def prepare(k: int) -> pa.Table:
        """Run k's table with its run-level columns, in the sweep's schema (built in the
        background while the caller writes the run before it: both release the GIL)."""
        table = first if k == 0 else _read_run_table(files[k])
        n = table.num_rows
        columns = {c: _constant(values[c][k], n) for c in run_columns}
        try:
            columns.update(
                {name: table.column(name).cast(schema.field(name).type) for name in table.column_names}
            )
            return pa.table([columns[f.name] for f in schema], schema=schema)
        except (KeyError, pa.ArrowInvalid) as err:
            raise SweepError(
                f"{files[k]} does not have the columns of the sweep's other runs "
                f"({', '.join(schema.names)}): {err}"
            ) from None

    writer = pq.ParquetWriter(path, schema, **_writer_options(schema))
    try:
        for batch in _prefetched(prepare, range(len(files)), ahead=4):
            n = batch.num_rows
            writer.write_table(batch, row_group_size=max(n, 1))
            written += n
            if kept is not None:
                metric = batch.column("metric")
                mask = pc.is_in(metric, value_set=keep_set)
                rows = batch.filter(mask)
                kept_rows += rows.num_rows
                if kept_rows > FIGURE_ROWS_MAX:
                    kept = None
                else:
                    kept.append(rows)
    finally:
        writer.close()
    if kept is None or not kept:
        return written, None
    return written, pa.concat_tables(kept).to_pandas()


def read_rows(
    path: Path,
    metric: str | Sequence[str] | None = None,
    entity: str | Sequence[str] | None = None,
    start: str | None = None,
    end: str | None = None,
) -> pd.DataFrame:
    """Rows of a ``sweep.parquet`` by metric, entity and dates in [start, end), in file order,
    with the columns and types ``pd.read_parquet`` gives: DuckDB scans the file and loads only
    the matching rows."""
    import duckdb

    conditions: list[str] = []
    params: dict[str, object] = {"path": str(path)}
    for column, wanted in (("metric", metric), ("entity", entity)):
        if wanted is not None:
            conditions.append(f"{column} IN (SELECT unnest(${column}))")
            params[column] = [wanted] if isinstance(wanted, str) else list(wanted)
    for name, op, value in (("start", ">=", start), ("end", "<", end)):
        if value is not None:
            conditions.append(f"date {op} ${name}::TIMESTAMP")
            params[name] = str(pd.Timestamp(value))
    where = " AND ".join(conditions) or "true"
    schema = pq.read_schema(path)
    query = (
        f"SELECT * EXCLUDE (file_row_number) FROM read_parquet($path, file_row_number = true) "
        f"WHERE {where} ORDER BY file_row_number"
    )  # threads may find the rows in any order
    with duckdb.connect() as con:
        table = con.sql(query, params=params).to_arrow_table()
    # DuckDB gives text as plain strings and times in microseconds: back to the file's own types.
    return table.cast(schema.remove_metadata()).to_pandas()


def aggregate(sweep_dir: Path, figures: bool = True) -> SweepResult:
    """Aggregate a finished sweep folder: write ``runs.csv`` (one row per run) and
    ``sweep.parquet`` (every run's tidy table, with ``run``, ``variant`` and ``ov.<key>``) into
    it, and with ``figures`` its comparison figures; return them as a ``SweepResult``. Raises
    ``SweepError`` when the folder holds no runs. ``sim aggregate sweep_dir=DIR`` runs it.
    The runs' tables are streamed into ``sweep.parquet`` one at a time, so memory stays bounded
    however many runs there are; ``SweepResult.table`` loads the file when first read."""
    sweep_dir = Path(sweep_dir)
    runs, files = collect_runs(sweep_dir)
    if runs.empty:
        raise SweepError(f"no runs under {sweep_dir} (looked for */.hydra/overrides.yaml)")
    result = SweepResult(sweep_dir, runs)
    with atomic_path(sweep_dir / "runs.csv") as tmp:
        runs.to_csv(tmp, index=False)
    result.files.append("runs.csv")
    if files:
        draw = figures and runs.loc[runs["status"] == "ok", "variant"].nunique() <= MAX_VARIANTS
        with atomic_path(sweep_dir / SWEEP_TABLE) as tmp:
            _, figure_rows = write_sweep_table(tmp, runs, files, SWEEP_FIGURE_METRICS if draw else ())
        result.files.append(SWEEP_TABLE)
        if draw and figure_rows is None:
            result.notes.append(
                f"figures not drawn: their rows exceed {FIGURE_ROWS_MAX:,}; draw "
                "them from a subset of the runs"
            )
        elif draw and figure_rows is not None:
            from sim.views.figures import plot_sweep

            result.files += plot_sweep(figure_rows, runs, result.scenarios(), sweep_dir)
    return result


def load_sweep(sweep_dir: str | Path) -> SweepResult:
    """A sweep aggregated before (``runs.csv``), or aggregated now if it was not."""
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / "runs.csv").is_file():
        return aggregate(sweep_dir, figures=False)
    path = sweep_dir / "runs.csv"
    # As aggregate() gives them: the overrides as written on the command line, strings.
    text_columns = [c for c in pd.read_csv(path, nrows=0).columns if c.startswith("ov.")]
    runs = pd.read_csv(path, dtype=dict.fromkeys(["run", "variant", *text_columns], str))
    runs["error"] = runs["error"].astype(object).fillna("")
    return SweepResult(sweep_dir, runs, ["runs.csv"])
