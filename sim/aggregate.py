"""One tidy table and comparison figures for a whole sweep.

    python -m sim.aggregate SWEEP_DIR

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
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from sim.run import ERROR, SUMMARY, TIMESERIES, atomic_path


class SweepError(RuntimeError):
    """Some runs of the sweep failed or did not finish."""


@dataclass
class SweepResult:
    sweep_dir: Path
    runs: pd.DataFrame
    files: list[str] = field(default_factory=list)

    @property
    def failed(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] != "ok"]

    def report(self) -> str:
        ok = int((self.runs["status"] == "ok").sum())
        lines = [f"[aggregate] {ok} of {len(self.runs)} runs ok in {self.sweep_dir}; wrote "
                 + ", ".join(self.files)]
        for row in self.failed.itertuples():
            lines.append(f"[aggregate] {row.status}: {row.run}: {row.error}")
        return "\n".join(lines)


def _overrides(run_dir: Path) -> dict[str, str]:
    items = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or []
    pairs = (item.lstrip("+~").split("=", 1) for item in items)
    return {key: value for key, value in pairs if not key.startswith("hydra")}


def run_dirs(sweep_dir: Path) -> list[Path]:
    return sorted((p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")),
                  key=lambda p: (len(p.name), p.name))


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
        if summary_path.is_file():
            summary = json.loads(summary_path.read_text())
            row.update(status="ok", error="", wall_time_s=summary["wall_time_s"],
                       scenario=summary["scenario"], seed=summary["seed"],
                       counterfactual=summary.get("counterfactual"), **_annual_columns(summary))
            table = pd.read_parquet(run_dir / TIMESERIES)
            table.insert(0, "run", run_dir.name)
            tables.append(table)
        elif error_path.is_file():
            row.update(status="failed", error=json.loads(error_path.read_text())["error"])
        else:
            row.update(status="incomplete", error="no summary.json: the run did not finish")
        rows.append(row)
    return pd.DataFrame(rows), tables


def aggregate(sweep_dir: Path, figures: bool = True) -> SweepResult:
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
        result.files.append("sweep.parquet")
        if figures:
            from sim.plotting import plot_sweep

            result.files += plot_sweep(table, runs, sweep_dir)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m sim.aggregate SWEEP_DIR", file=sys.stderr)
        return 2
    sweep_dir = Path(args[0])
    if not sweep_dir.is_dir():
        print(f"error: SWEEP_DIR: {sweep_dir} is not a directory", file=sys.stderr)
        return 2
    try:
        result = aggregate(sweep_dir)
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(result.report())
    return 1 if len(result.failed) else 0


if __name__ == "__main__":
    sys.exit(main())
