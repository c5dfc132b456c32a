"""One tidy table and comparison figures for a whole sweep.

    sim aggregate sweep_dir=SWEEP_DIR

Reads every run directory under SWEEP_DIR (those with ``.hydra/overrides.yaml``) and writes:
- ``sweep.parquet``: every run's time series with ``run``, ``variant`` and one column per
  overridden key (``ov.<key>``, as given on the command line or in the experiment);
- ``runs.csv``: one row per run: its overrides, status (ok, failed, incomplete), error, wall time
  and annual figures (GMV shares, total GMV, MSME revenue by origin);
- ``market_share.png``, ``msme_revenue.png``, ``policy_effect.png``: per variant (the overrides
  other than the seed), the mean across seeds and a 90% band (5th to 95th percentile).
Exits non-zero if any run failed or did not finish.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from sim.experiments.run import ERROR, SUMMARY, TIMESERIES, atomic_path
from sim.experiments.sweep import current_jobs
from sim.schema.tables import own_rows, paired_counterfactual

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class SweepError(RuntimeError):
    """Some runs of the sweep failed or did not finish."""


@dataclass
class SweepResult:
    """A sweep's aggregate: ``runs`` (one row per run, as ``runs.csv``), ``table`` (every run's
    time series, as ``sweep.parquet``) and ``figures()`` (the comparison figures)."""

    sweep_dir: Path
    runs: pd.DataFrame
    files: list[str] = field(default_factory=list)
    _table: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def failed(self) -> pd.DataFrame:
        """The rows of ``runs`` whose status is not ok, with their error."""
        return self.runs[self.runs["status"] != "ok"]

    @property
    def table(self) -> pd.DataFrame:
        """The tidy table of every finished run, with ``run``, ``variant`` and ``ov.<key>``."""
        if self._table is None:
            path = self.sweep_dir / "sweep.parquet"
            if not path.is_file():
                raise SweepError(f"{path} does not exist: no run of the sweep finished")
            self._table = pd.read_parquet(path)
        return self._table

    def effects(self, metric: str, entity: str, start: str, end: str) -> pd.DataFrame:
        """Each run's policy effect: the weekly mean of ``metric`` for ``entity`` over the dates
        [start, end), in the run's scenario (``value``) and in its counterfactual on the same
        seed (``counterfactual``), with ``difference`` and ``effect_pct`` (100 x value / cf - 1).
        Runs without a counterfactual are left out."""
        window = (self.table["metric"] == metric) & (self.table["entity"] == entity) & (
            self.table["date"] >= pd.Timestamp(start)) & (self.table["date"] < pd.Timestamp(end))
        if not window.any():
            raise SweepError(f"no rows of metric {metric!r}, entity {entity!r} from {start} to {end}")
        rows = self.table[window]
        own = own_rows(rows, self.runs)
        paired = paired_counterfactual(rows, own, self.runs)
        if paired.empty:
            raise SweepError("no run of the sweep has a counterfactual (counterfactual=null and no "
                             "no_policy run with the same seed)")
        value = own.groupby("run", observed=True)["value"].mean()
        counterfactual = paired.groupby("pair_run")["value"].mean()
        paired_runs = [run for run in self.runs["run"] if run in counterfactual.index]  # sweep order
        out = self.runs.set_index("run").loc[paired_runs, ["variant", "seed"]]
        out["value"] = value.reindex(paired_runs).to_numpy()
        out["counterfactual"] = counterfactual.reindex(paired_runs).to_numpy()
        out["difference"] = out["value"] - out["counterfactual"]
        out["effect_pct"] = 100 * (out["value"] / out["counterfactual"] - 1)
        return out.rename_axis("run").reset_index()

    def figures(self) -> dict[str, Figure]:
        """The comparison figures keyed by file name (none past MAX_VARIANTS variants)."""
        from sim.views.figures import sweep_figures

        return sweep_figures(self.table, self.runs, self.sweep_dir)

    def report(self) -> str:
        """The aggregation's summary lines: runs ok, files written, and each failed run."""
        ok = int((self.runs["status"] == "ok").sum())
        lines = [f"[aggregate] {ok} of {len(self.runs)} runs ok in {self.sweep_dir}; wrote "
                 + ", ".join(self.files)]
        for row in self.failed.itertuples():
            lines.append(f"[aggregate] {row.status}: {row.run}: {row.error}")
        return "\n".join(lines)


def _overrides(run_dir: Path) -> dict[str, str]:
    pairs = (item.lstrip("+~").split("=", 1) for item in _override_list(run_dir))
    return {key: value for key, value in pairs if not key.startswith("hydra")}


def run_dirs(sweep_dir: Path) -> list[Path]:
    """The run directories of the sweep's latest multirun: job number and overrides must match
    it, so a smaller sweep into the directory of a larger one leaves out the larger one's runs."""
    dirs = sorted((p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")
                   if not p.parent.parent.name.startswith(".")),  # a run's staging directory
                  key=lambda p: (len(p.name), p.name))
    jobs = current_jobs(sweep_dir)
    if jobs is None:
        return dirs
    return [d for d in dirs if (num := _job_num(d)) is not None
            and jobs.get(num) == tuple(sorted(_override_list(d)))]


def _job_num(run_dir: Path) -> int | None:
    """``hydra.job.num`` of a run, read without parsing the whole of ``hydra.yaml``."""
    hydra_yaml = run_dir / ".hydra" / "hydra.yaml"
    if not hydra_yaml.is_file():
        return None
    match = re.search(r"^    num: (\d+)$", hydra_yaml.read_text(), re.MULTILINE)
    return int(match.group(1)) if match else None


def _override_list(run_dir: Path) -> list[str]:
    return yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or []


def _variant(overrides: dict[str, str], varying: list[str]) -> str:
    """A short label of what sets this run apart, seeds aside: ``history`` or
    ``compliance=0.5``; ``default`` if only the seed varies."""
    parts = [overrides.get(k, "-") if k == "scenario" else f"{k.rsplit('.', 1)[-1]}={overrides.get(k, '-')}"
             for k in varying]
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


def collect_runs(sweep_dir: Path) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    rows, tables = [], []
    dirs = run_dirs(sweep_dir)
    all_overrides = [_overrides(d) for d in dirs]
    varying = _varying_keys(all_overrides)
    for run_dir, overrides in zip(dirs, all_overrides, strict=True):
        row: dict = {"run": run_dir.name, "variant": _variant(overrides, varying),
                     **{f"ov.{k}": v for k, v in overrides.items()}}
        summary_path, error_path = run_dir / SUMMARY, run_dir / ERROR
        if error_path.is_file():  # the latest attempt failed, even beside an older complete run
            row.update(status="failed", error=json.loads(error_path.read_text())["error"])
        elif summary_path.is_file():
            summary = json.loads(summary_path.read_text())
            row.update(status="ok", error="", wall_time_s=summary["wall_time_s"],
                       scenario=summary["scenario"], seed=summary["seed"],
                       counterfactual=summary.get("counterfactual"), **_annual_columns(summary))
            table = pd.read_parquet(run_dir / TIMESERIES)
            table.insert(0, "run", run_dir.name)
            tables.append(table)
        else:
            row.update(status="incomplete", error="no summary.json: the run did not finish")
        rows.append(row)
    return pd.DataFrame(rows), tables


def aggregate(sweep_dir: Path, figures: bool = True) -> SweepResult:
    """Aggregate a finished sweep folder: write ``runs.csv`` (one row per run) and
    ``sweep.parquet`` (every run's tidy table, with ``run``, ``variant`` and ``ov.<key>``) into
    it, and with ``figures`` its comparison figures; return them as a ``SweepResult``. Raises
    ``SweepError`` when the folder holds no runs. ``sim aggregate sweep_dir=DIR`` runs it."""
    sweep_dir = Path(sweep_dir)
    runs, tables = collect_runs(sweep_dir)
    if runs.empty:
        raise SweepError(f"no runs under {sweep_dir} (looked for */.hydra/overrides.yaml)")
    result = SweepResult(sweep_dir, runs)
    with atomic_path(sweep_dir / "runs.csv") as tmp:
        runs.to_csv(tmp, index=False)
    result.files.append("runs.csv")
    if tables:
        table = pd.concat(tables, ignore_index=True)
        for col in ("run", "scenario", "metric", "entity"):
            table[col] = table[col].astype("category")
        # Per-run columns by mapping the categorical run column: cheap even for many runs.
        by_run = runs.set_index("run")
        table.insert(1, "variant", table["run"].map(by_run["variant"]))
        for col in [c for c in runs.columns if c.startswith("ov.")]:
            table[col] = table["run"].map(by_run[col].astype(str))
        with atomic_path(sweep_dir / "sweep.parquet") as tmp:
            table.to_parquet(tmp, index=False)
        result._table = table
        result.files.append("sweep.parquet")
        if figures:
            from sim.views.figures import plot_sweep

            result.files += plot_sweep(table, runs, sweep_dir)
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
