"""One tidy table and comparison figures for a whole sweep.

    sim aggregate sweep_dir=SWEEP_DIR [figures=false] [table=true]

Reads every run directory under SWEEP_DIR (those with ``.hydra/overrides.yaml``) and writes:
- ``runs.csv``: one row per run: its overrides, status (ok, failed, incomplete), error, wall time
  and annual figures (GMV shares, total GMV, MSME revenue by origin);
- ``market_share.png``, ``msme_revenue.png``, ``policy_effect.png``: per variant (the overrides
  other than the seed), the mean across seeds and a 90% band (5th to 95th percentile), drawn from
  the rows of the metrics they show (read up to ``FIGURE_ROWS_MAX`` rows);
- with ``table=true``, ``sweep.parquet``: the sweep's table in one file, streamed run by run.
Exits non-zero if any run failed or did not finish.

The sweep's table is every finished run's time series with ``run``, ``variant`` and one column
per overridden key (``ov.<key>``, as given on the command line or in the experiment). It is not
copied: the runs' own ``timeseries.parquet`` files are the table, and the aggregate only checks
their footers (each file is there, with the same columns). ``SweepResult.rows`` scans them for
some metrics, entities and dates (two files at a time, a file's other columns read only where a
row matches), so a sweep of thousands of runs aggregates in seconds and bounded memory;
``SweepResult.table`` loads all of it, for small sweeps; ``SweepResult.write_table`` writes it
into one file.
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
# The comparison figures read the rows of the metrics they show, up to this many; past it they are
# not drawn (and the scan stops there).
FIGURE_ROWS_MAX = 5_000_000
# Text columns of a run's table; the sweep's table has them, and run, variant and ov.<key>, as
# dictionaries (pandas categoricals).
TEXT_COLUMNS = ("scenario", "metric", "entity")
DICTIONARY = pa.dictionary(pa.int32(), pa.string())
# Runs' files read at once by a scan of the sweep's table (Parquet reads release the GIL).
SCAN_THREADS = 2


@dataclass
class SweepResult:
    """A sweep's aggregate: ``runs`` (one row per run, as ``runs.csv``), ``table`` (every run's
    time series, read from the runs' own files), ``rows`` (a slice of it) and ``figures()`` (the
    comparison figures)."""

    sweep_dir: Path
    runs: pd.DataFrame
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    table_rows: int | None = None  # rows of the finished runs' tables, as the aggregate counted them
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
            self._table = self.rows()
        return self._table

    def table_files(self) -> list[Path]:
        """The finished runs' ``timeseries.parquet``, in the order of their rows of ``runs``."""
        ok = self.runs.loc[self.runs["status"] == "ok", "run"]
        return [self.sweep_dir / str(run) / TIMESERIES for run in ok]

    def rows(
        self,
        metric: str | Sequence[str] | None = None,
        entity: str | Sequence[str] | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> pd.DataFrame:
        """The rows of ``table`` for some metrics and entities (a name or a list; None: all) and
        dates in [start, end), in the table's order (runs in sweep order, then each run's rows)
        and with its columns and types. Scanned from the runs' files (only the matching rows are
        kept) unless the whole table is in memory already."""
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
        keep = RowFilter(metric, entity, start, end)
        rows = read_rows(self.runs, self.table_files(), keep if keep.columns else None)
        assert rows is not None  # no row limit
        return rows

    def write_table(self, path: Path) -> int:
        """Write ``table`` into one Parquet file at ``path`` (streamed run by run, atomically);
        returns the rows written."""
        with atomic_path(Path(path)) as tmp:
            return write_sweep_table(tmp, self.runs, self.table_files())

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
        rows = "" if self.table_rows is None else f" ({self.table_rows:,} rows in their tables)"
        lines = [
            f"[aggregate] {ok} of {len(self.runs)} runs ok in {self.sweep_dir}{rows}; wrote "
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


def _prefetched[T, R](
    read: Callable[[T], R], items: Iterable[T], ahead: int, workers: int = 1
) -> Iterator[R]:
    """``read(item)`` for each item in order, up to ``ahead`` of them read by ``workers``
    background threads while the caller works on the current one (Parquet reads release the GIL)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(read, item))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _is_in(column: pa.ChunkedArray, wanted: str | Sequence[str]) -> pa.ChunkedArray:
    """True where ``column`` holds one of the ``wanted`` names. A dictionary column is matched on
    its few entries, then on its rows' indices: a tenth of the time of matching every row's
    text."""
    names = pa.array([wanted] if isinstance(wanted, str) else list(wanted), pa.string())
    if not pa.types.is_dictionary(column.type):
        return pc.is_in(column, value_set=names)
    chunks = []
    for chunk in column.chunks:
        hits = np.flatnonzero(pc.is_in(chunk.dictionary, value_set=names).to_numpy(zero_copy_only=False))
        if len(hits) == 1:
            chunks.append(pc.equal(chunk.indices, pa.scalar(int(hits[0]), chunk.indices.type)))
        else:
            chunks.append(pc.is_in(chunk.indices, value_set=pa.array(hits, chunk.indices.type)))
    return pa.chunked_array(chunks, pa.bool_())


@dataclass(frozen=True)
class RowFilter:
    """The rows of the sweep's table to keep: some metrics and entities (a name or a list; None:
    all) and dates in [start, end)."""

    metric: str | Sequence[str] | None = None
    entity: str | Sequence[str] | None = None
    start: str | None = None
    end: str | None = None

    @property
    def columns(self) -> list[str]:
        """The columns of a run's table the filter reads."""
        named = [c for c, wanted in (("metric", self.metric), ("entity", self.entity)) if wanted is not None]
        return named + (["date"] if self.start is not None or self.end is not None else [])

    def mask(self, table: pa.Table) -> pa.ChunkedArray:
        """True where a row of ``table`` (which has the filter's ``columns``) is kept."""
        keep: list[pa.ChunkedArray] = []
        for column, wanted in (("metric", self.metric), ("entity", self.entity)):
            if wanted is not None:
                keep.append(_is_in(table.column(column), wanted))
        for op, bound in ((pc.greater_equal, self.start), (pc.less, self.end)):
            if bound is not None:
                date = table.column("date")
                keep.append(op(date, pa.scalar(pd.Timestamp(bound)).cast(date.type)))
        mask = keep[0]
        for more in keep[1:]:
            mask = pc.and_(mask, more)
        return mask


def check_tables(files: list[Path]) -> int:
    """Read each finished run's table footer: the file is there and has the columns of the
    first. Returns the rows of all of them."""
    names: list[str] | None = None
    rows = 0
    for path in files:
        try:
            meta = pq.read_metadata(path)
        except (OSError, pa.ArrowInvalid) as err:
            raise SweepError(f"{path} cannot be read as a run's table: {err}") from None
        if names is None:
            names = meta.schema.names
        elif meta.schema.names != names:
            raise SweepError(
                f"{path} does not have the columns of the sweep's other runs ({', '.join(names)}): "
                f"it has {', '.join(meta.schema.names)}"
            )
        rows += meta.num_rows
    return rows


def _constant(value: str | None, n: int) -> pa.DictionaryArray:
    """A run-level value repeated over the run's ``n`` rows, as a one-entry dictionary column."""
    if value is None:
        return pa.DictionaryArray.from_arrays(pa.nulls(n, pa.int32()), pa.array([], pa.string()))
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value], pa.string()))


def _run_columns(runs: pd.DataFrame) -> list[str]:
    return ["run", "variant", *[c for c in runs.columns if c.startswith("ov.")]]


def sweep_schema(runs: pd.DataFrame, files: list[Path]) -> pa.Schema:
    """The sweep table's columns: run, variant, the first run table's own, then ov.<key>; text
    as dictionaries."""
    run_columns = _run_columns(runs)
    own = [
        pa.field(f.name, DICTIONARY if f.name in TEXT_COLUMNS or pa.types.is_dictionary(f.type) else f.type)
        for f in pq.read_schema(files[0])
    ]
    head = [pa.field(c, DICTIONARY) for c in run_columns if not c.startswith("ov.")]
    tail = [pa.field(c, DICTIONARY) for c in run_columns if c.startswith("ov.")]
    return pa.schema([*head, *own, *tail])


def sweep_tables(
    runs: pd.DataFrame, files: list[Path], schema: pa.Schema, keep: RowFilter | None = None
) -> Iterator[pa.Table]:
    """Each finished run's rows (those ``keep`` keeps; all without it) with its ``run``,
    ``variant`` and ``ov.<key>`` values, in the sweep's ``schema``, run by run in the order of
    ``files`` (the ok rows of ``runs``): ``SCAN_THREADS`` files read at a time, a few runs in
    memory. A file's other columns are read only if a row matches."""
    ok = runs[runs["status"] == "ok"]
    run_columns = _run_columns(runs)
    # Per run, its values of those columns as text (an override the run does not have is null).
    values = {c: [None if pd.isna(v) else str(v) for v in ok[c]] for c in run_columns}

    def read(k: int) -> pa.Table:
        try:
            parquet = pq.ParquetFile(files[k])
        except (OSError, pa.ArrowInvalid) as err:  # removed or rewritten since the aggregate checked it
            raise SweepError(f"{files[k]} cannot be read as a run's table: {err}") from None
        try:
            if keep is None or not keep.columns:
                own = parquet.read(use_threads=False)
            else:  # the filter's columns first, the others only for the rows it keeps
                own = parquet.read(columns=keep.columns, use_threads=False)
                mask = keep.mask(own)
                own = own.filter(mask)
                if not own.num_rows:
                    own = parquet.schema_arrow.empty_table()
                others = [name for name in parquet.schema_arrow.names if name not in own.column_names]
                if others:
                    rest = parquet.read(columns=others, use_threads=False).filter(mask)
                    for name, column in zip(rest.column_names, rest.columns, strict=True):
                        own = own.append_column(name, column)
            columns = {c: _constant(values[c][k], own.num_rows) for c in run_columns}
            columns.update(
                {name: own.column(name).cast(schema.field(name).type) for name in own.column_names}
            )
            return pa.table([columns[f.name] for f in schema], schema=schema)
        except (KeyError, pa.ArrowInvalid) as err:
            raise SweepError(
                f"{files[k]} does not have the columns of the sweep's other runs "
                f"({', '.join(schema.names)}): {err}"
            ) from None

    return _prefetched(read, range(len(files)), ahead=2 * SCAN_THREADS, workers=SCAN_THREADS)


def read_rows(
    runs: pd.DataFrame, files: list[Path], keep: RowFilter | None = None, max_rows: int | None = None
) -> pd.DataFrame | None:
    """The rows of the sweep's table that ``keep`` keeps (all without it), as one pandas table
    with the sweep's columns and types (text as categoricals); None once they pass ``max_rows``
    (the scan stops there)."""
    if not files:
        raise SweepError("no run of the sweep finished: the sweep's table is empty")
    schema = sweep_schema(runs, files)
    kept: list[pa.Table] = []
    rows = 0
    for table in sweep_tables(runs, files, schema, keep):
        rows += table.num_rows
        if max_rows is not None and rows > max_rows:
            return None
        if table.num_rows:
            kept.append(table)
    return (pa.concat_tables(kept) if kept else schema.empty_table()).to_pandas()


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


def write_sweep_table(path: Path, runs: pd.DataFrame, files: list[Path]) -> int:
    """Stream the finished runs' tables (``files``, in the order of the ok rows of ``runs``) into
    one Parquet file at ``path``, one row group per run, each with its run's ``run``,
    ``variant`` and ``ov.<key>`` columns. Returns the rows written."""
    if not files:
        raise SweepError("no run of the sweep finished: the sweep's table is empty")
    schema = sweep_schema(runs, files)
    written = 0
    with pq.ParquetWriter(path, schema, **_writer_options(schema)) as writer:
        for table in sweep_tables(runs, files, schema):
            writer.write_table(table, row_group_size=max(table.num_rows, 1))
            written += table.num_rows
    return written


def aggregate(sweep_dir: Path, figures: bool = True, table: bool = False) -> SweepResult:
    """Aggregate a finished sweep folder: check every finished run's table (its file's footer),
    write ``runs.csv`` (one row per run) into it, with ``figures`` its comparison figures and
    with ``table`` the sweep's table in one file (``sweep.parquet``); return them as a
    ``SweepResult``, whose ``table`` and ``rows`` read the runs' own files. Raises
    ``SweepError``, having written nothing, when the folder holds no runs or a finished run's
    table is missing or has other columns. ``sim aggregate sweep_dir=DIR`` runs it."""
    sweep_dir = Path(sweep_dir)
    runs, files = collect_runs(sweep_dir)
    if runs.empty:
        raise SweepError(f"no runs under {sweep_dir} (looked for */.hydra/overrides.yaml)")
    result = SweepResult(sweep_dir, runs, table_rows=check_tables(files))
    with atomic_path(sweep_dir / "runs.csv") as tmp:
        runs.to_csv(tmp, index=False)
    result.files.append("runs.csv")
    one_file = sweep_dir / SWEEP_TABLE
    if table and files:
        result.write_table(one_file)
        result.files.append(SWEEP_TABLE)
    elif one_file.is_file():  # an earlier aggregate's, of other runs perhaps: not left to look current
        one_file.unlink()
        result.notes.append(f"removed the {SWEEP_TABLE} of an earlier aggregate; table=true writes it again")
    if figures and files and runs.loc[runs["status"] == "ok", "variant"].nunique() <= MAX_VARIANTS:
        figure_rows = read_rows(runs, files, RowFilter(SWEEP_FIGURE_METRICS), max_rows=FIGURE_ROWS_MAX)
        if figure_rows is None:
            result.notes.append(
                f"figures not drawn: their rows exceed {FIGURE_ROWS_MAX:,}; draw "
                "them from a subset of the runs"
            )
        else:
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
