"""Run orchestration: build a model from a config, step it, and write the run's files atomically.

Imports neither Hydra nor the CLI; the figures are drawn from the tidy table by ``sim.views.figures``.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

import sim
from sim.experiments.processes import forking_pool, may_fork, model_pool
from sim.schema.config import Config, ConfigError, MarketConfig, ScenarioConfig, horizon_dates
from sim.schema.errors import RunError
from sim.schema.tables import annual_gmv_share, annual_msme_revenue, annual_total_gmv_usd_bn, paired_effects

SUMMARY = "summary.json"
TIMESERIES = "timeseries.parquet"
ERROR = "error.json"  # a failed run's record (sweeps)
AGENTS = "agents.parquet"


def _concat(frames: list[pd.DataFrame], categorical: tuple[str, ...]) -> pd.DataFrame:
    out = pd.concat(frames, ignore_index=True)
    for col in categorical:
        out[col] = out[col].astype("category")
    return out


def simulate(cfg: Config, show_progress: bool = False) -> pd.DataFrame:
    """Run one scenario to the end of the horizon and return its tidy long table."""
    return simulate_with_history(cfg, show_progress)[0]


def simulate_with_history(
    cfg: Config, show_progress: bool = False, position: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Run one scenario; return its tidy table and, if enabled, its agent history. ``position``
    is the line of its progress bar among runs shown at once. A large run shops half its blocks
    in a second process when this one may fork (``may_fork``: not in a forked worker running
    beside others, nor beside other threads)."""
    from sim.core.model import EcommerceModel  # Mesa takes seconds to import: not for a refused run

    model = EcommerceModel(cfg, shopper_processes=min(may_fork(), 2))
    with _progress(cfg, [cfg.scenario.name], show_progress, position) as advance:
        while model.running:
            model.step()
            advance()
    return _results(model)


def simulate_sharing_past(
    cfgs: list[Config], show_progress: bool = False, position: int = 0
) -> list[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """``simulate_with_history`` of configs that differ only in their scenario (a policy and its
    counterfactual on one seed, say), with the same numbers, their shared weeks run once
    (``finish_sharing_past``)."""
    names = [c.scenario.name for c in cfgs]
    results: dict[int, tuple[pd.DataFrame, pd.DataFrame | None]] = {}
    with _progress(cfgs[0], names, show_progress, position) as advance:
        for i, model, _ in finish_sharing_past(cfgs, advance=advance):
            results[i] = _results(model)
    return [results[i] for i in range(len(cfgs))]


class Watch(Protocol):
    """What a study gathers from a run as it goes: ``week(model)`` after each step."""

    def week(self, model: Any) -> None: ...


def finish_sharing_past[W: Watch](
    cfgs: list[Config],
    watch: Callable[[Any], W] | None = None,
    advance: Callable[..., object] = lambda weeks=1: None,
) -> Iterator[tuple[int, Any, W | None]]:
    """The models of configs that differ only in their scenario, each stepped to its end and
    yielded as ``(index, model, its watch)`` when it ends. The weeks before their rules first
    differ are run once, in the first config's model, which is then copied under each other
    scenario (``EcommerceModel.branch``) where theirs part: for the default history and
    no_policy, the burn-in and 143 of 261 weeks. A config whose rules differ from the first
    week runs on its own. ``watch(model)``, when given, makes the run's ``Watch``; a branch gets
    a copy of its base's. ``advance(weeks)`` is told every week done, the shared ones once per
    run."""
    from sim.core.model import EcommerceModel

    def build(cfg: Config) -> tuple[Any, W | None]:
        model = EcommerceModel(cfg, shopper_processes=min(may_fork(), 2))
        return model, watch(model) if watch is not None else None

    def step(model: Any, seen: W | None) -> None:
        model.step()
        if seen is not None:
            seen.week(model)
        advance()

    base, base_seen = build(cfgs[0])
    shared = {i: base.weeks_shared_with(c.scenario) for i, c in enumerate(cfgs[1:], start=1)}
    for i in sorted(shared, key=lambda i: shared[i]):
        if shared[i] == 0:
            other, seen = build(cfgs[i])
        else:
            while base.steps < shared[i]:
                step(base, base_seen)
            other, seen = base.branch(cfgs[i].scenario), copy.deepcopy(base_seen)
            advance(other.steps)  # its shared weeks are done too
        while other.running:  # to its end now: two models at most are held at once
            step(other, seen)
        yield i, other, seen
    while base.running:
        step(base, base_seen)
    yield 0, base, base_seen


def _results(model: Any) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    history = model.agent_history.table() if model.agent_history is not None else None
    return model.recorder.table(), history


@contextmanager
def _progress(cfg: Config, names: list[str], show: bool, position: int) -> Iterator[Callable[..., object]]:
    """A progress bar over the weeks of ``cfg``'s run and of the scenarios ``names`` that share
    its past (the function it gives adds weeks done, one by default), or nothing when not
    ``show``."""
    if not show:
        yield lambda weeks=1: None
        return
    from tqdm import tqdm

    with tqdm(
        total=len(names) * len(horizon_dates(cfg)),
        desc=f"{'+'.join(names)} seed {cfg.seed}",
        unit="week",
        file=sys.stderr,
        position=position,
    ) as bar:
        yield bar.update


def sharing_past(cfgs: list[Config]) -> list[list[int]]:
    """The indices of ``cfgs`` in groups that differ only in their scenario, in order of their
    first member (``simulate_sharing_past`` runs a group's shared weeks once)."""
    groups: list[list[int]] = []
    keys: list[Config] = []
    for i, cfg in enumerate(cfgs):
        key = replace(cfg, scenario=ScenarioConfig(), counterfactual=None)
        for group, other in zip(groups, keys, strict=True):
            if key == other:
                group.append(i)
                break
        else:
            groups.append([i])
            keys.append(key)
    return groups


def plan_tasks(cfgs: list[Config], workers: int) -> list[list[int]]:
    """How ``simulate_all`` runs ``cfgs`` on ``workers`` processes: the indices of each task,
    a group that shares its past (``sharing_past``) where that ends sooner (``_wall_weeks``),
    else one run per task."""
    groups = sharing_past(cfgs)
    alone = [[i] for i in range(len(cfgs))]
    if len(groups) == len(cfgs) or _wall_weeks(cfgs, alone, workers) <= _wall_weeks(cfgs, groups, workers):
        return alone
    return groups


def _wall_weeks(cfgs: list[Config], groups: list[list[int]], workers: int) -> float:
    """The weeks ``workers`` processes step, one after another, to run ``groups`` (each a task,
    its shared weeks once): what decides between the two ways ``simulate_all`` may run."""
    from sim.core.policies import build_policy_path, first_difference

    costs = []
    for group in groups:
        first = cfgs[group[0]]
        dates = horizon_dates(first)
        path = build_policy_path(first.market, first.scenario, dates)
        cost = first.burn_in_weeks + len(dates)
        for i in group[1:]:
            shared = first_difference(path, build_policy_path(first.market, cfgs[i].scenario, dates))
            cost += len(dates) - shared + (first.burn_in_weeks if shared == 0 else 0)
        costs.append(cost)
    return max(sum(costs) / max(workers, 1), max(costs))


def simulate_all(
    cfgs: list[Config],
    show_progress: bool = False,
    workers: int | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> list[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """``simulate_with_history`` of each config, in order. The runs are independent (each its own
    seeded model), so with ``workers`` > 1 they run at once in forked processes, with the same
    numbers as one after another; None chooses (``parallel_workers``). Configs that differ only
    in their scenario run their shared weeks once (``simulate_sharing_past``) when that ends
    sooner, counted in weeks stepped per worker (``_wall_weeks``): seeds with their
    counterfactuals do, and so does a pair on one core (in a sweep's or the estimator's worker);
    a single pair on two cores ends sooner as a run on each. ``meanwhile`` is called while they
    run (an import the caller needs next, say)."""
    workers = parallel_workers(cfgs) if workers is None else min(workers, len(cfgs))
    groups = plan_tasks(cfgs, workers)
    tasks = [[cfgs[i] for i in group] for group in groups]
    if workers <= 1 or len(tasks) == 1:
        done = [_simulate_task(task, show_progress) for task in tasks]
    else:
        with model_pool(min(workers, len(tasks))) as pool:
            futures = [pool.submit(_simulate_task, t, show_progress, i) for i, t in enumerate(tasks)]
            if meanwhile is not None:  # after the submits: a forking pool forks no thread
                meanwhile()
            done = [future.result() for future in futures]
    results: dict[int, tuple[pd.DataFrame, pd.DataFrame | None]] = {}
    for group, runs in zip(groups, done, strict=True):
        results.update(zip(group, runs, strict=True))
    return [results[i] for i in range(len(cfgs))]


def _simulate_task(
    cfgs: list[Config], show_progress: bool = False, position: int = 0
) -> list[tuple[pd.DataFrame, pd.DataFrame | None]]:
    if len(cfgs) == 1:
        return [simulate_with_history(cfgs[0], show_progress, position)]
    return simulate_sharing_past(cfgs, show_progress, position)


def parallel_workers(cfgs: list[Config]) -> int:
    """How many runs of ``cfgs`` to run at once (``may_fork``), as many as their estimated
    memory lets fit in what the machine has free."""
    from sim.schema.config import MEMORY_HEADROOM, available_memory, estimate_resources

    workers = min(len(cfgs), may_fork())
    if workers < 2:
        return 1
    per_run, _ = estimate_resources(replace(cfgs[0], counterfactual=None), 1)
    while workers > 1 and workers * per_run > MEMORY_HEADROOM * available_memory():
        workers -= 1
    return workers


def _import_figures() -> None:
    import sim.views.figures  # noqa: F401  (matplotlib's import is a second of the default run)


def draw_run_figures[T](
    table: pd.DataFrame,
    scenarios: list[ScenarioConfig],
    out_dir: Path,
    market: MarketConfig,
    meanwhile: Callable[[], T],
) -> T:
    """``market_share.png`` and ``msme_revenue.png`` of a run; the second, the larger, is drawn in
    a forked process when ``may_fork`` allows, while this one calls ``meanwhile`` (the run's
    other files, say) and draws the first. The same files either way; returns what
    ``meanwhile`` returned."""
    from sim.views.figures import plot_market_share

    if may_fork() < 2:
        done = meanwhile()
        plot_market_share(table, scenarios, out_dir / "market_share.png", market=market)
        _save_msme_revenue(table, scenarios, out_dir / "msme_revenue.png")
        return done
    with forking_pool(1) as pool:
        other = pool.submit(_save_msme_revenue, table, scenarios, out_dir / "msme_revenue.png")
        done = meanwhile()
        plot_market_share(table, scenarios, out_dir / "market_share.png", market=market)
        other.result()
    return done


def _save_msme_revenue(table: pd.DataFrame, scenarios: list[ScenarioConfig], path: Path) -> None:
    from sim.views.figures import plot_msme_revenue

    plot_msme_revenue(table, scenarios, path)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling path; it replaces ``path`` only if the block succeeds."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float as None: JSON that strict readers accept."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def write_json(path: Path, payload: dict) -> None:
    text = json.dumps(strict_json(payload), indent=2, default=str, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


# Run directories. A run writes into a hidden staging sibling and is swapped in whole only when
# complete; a lock file beside the directory keeps a second run out while one is writing.
IRRELEVANT_TO_RESULTS = ("force", "progress")


@cache
def code_digest() -> str:
    """A digest of the package's code and configs: a finished run counts as finished only for
    the code that made it."""
    root = Path(__file__).resolve().parents[1]  # the sim package
    digest = hashlib.sha256()
    conf = Path(str(__import__("sim.conf", fromlist=["_"]).__path__[0]))
    for path in sorted([*root.rglob("*.py"), *conf.rglob("*.yaml")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def comparable(config: Config | dict) -> Any:
    """The config as summary.json stores it, less the keys that do not change results, for
    comparing a finished run with a new request."""
    plain = json.loads(
        json.dumps(strict_json(asdict(config) if isinstance(config, Config) else config), default=str)
    )
    for key in IRRELEVANT_TO_RESULTS:
        plain.pop(key, None)
    return plain


def completed_summary(out_dir: Path, config: Config) -> dict | None:
    """The run's summary if it finished before with exactly this config, this package version
    and this code, and every file it lists is there; else None."""
    path = out_dir / SUMMARY
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    same = (
        "config" in summary
        and comparable(summary["config"]) == comparable(config)
        and summary.get("package_version") == sim.__version__
        and summary.get("code_digest") == code_digest()
    )
    complete = all((out_dir / name).is_file() for name in summary.get("files", [TIMESERIES]))
    return summary if same and complete else None


@contextmanager
def locked(out_dir: Path) -> Iterator[None]:
    """Hold the lock of ``out_dir`` (a file beside it), or refuse if another run holds it."""
    if out_dir.exists() and not out_dir.is_dir():
        raise RunError(f"{out_dir} is a file, not a run directory; choose another hydra.run.dir")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out_dir.parent / f".{out_dir.name}.lock"
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunError(
                f"another run is writing into {out_dir}; wait for it to finish or "
                "choose another directory (hydra.run.dir=...)"
            ) from None
        try:
            if os.stat(lock_path).st_ino == os.fstat(fd).st_ino:
                break  # the lock file we hold is still the one on disk
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        lock_path.unlink(missing_ok=True)
        os.close(fd)


@contextmanager
def staged(out_dir: Path) -> Iterator[Path]:
    """Yield an empty staging directory beside ``out_dir``; when the block succeeds it replaces
    ``out_dir`` whole (no file of an earlier run survives), otherwise it is removed and
    ``out_dir`` is left as it was. Call it holding ``locked(out_dir)``."""
    stage = out_dir.parent / f".{out_dir.name}.partial"
    old = out_dir.parent / f".{out_dir.name}.old"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        yield stage
        if out_dir.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out_dir, old)
            os.replace(stage, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def _log_into(path: Path) -> Iterator[None]:
    """Send the ``sim`` logger's records to ``path`` too (the run's own log)."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    logger = logging.getLogger("sim")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()


def check_finite(table: pd.DataFrame) -> None:
    """Refuse outputs with a non-finite number, naming the first metric and week."""
    values = table["value"].to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row = table.iloc[int(np.argmax(bad))]
        raise RunError(
            f"the run produced a non-finite number ({row['value']}): metric "
            f"{row['metric']} [{row['entity']}] of scenario {row['scenario']} in week "
            f"{row['step']} ({pd.Timestamp(row['date']).date()}); no results were written"
        )


def summarise(table: pd.DataFrame, cfg: Config, counterfactual: str | None = None) -> dict:
    """Annual figures per scenario in the table, plus provenance (the caller adds the wall time)."""
    scenarios = {}
    for name, rows in table.groupby("scenario", observed=True):
        n_seeds = rows["seed"].nunique()  # amounts are means over the run's seeds
        shares = annual_gmv_share(rows)
        revenue = annual_msme_revenue(rows) / n_seeds
        scenarios[str(name)] = {
            "annual_gmv_share": {
                str(y): {k: round(float(v), 5) for k, v in row.items()} for y, row in shares.iterrows()
            },
            "annual_gmv_usd_bn": {
                str(y): round(float(v), 3)
                for y, v in (annual_total_gmv_usd_bn(rows, cfg.market.usd_idr) / n_seeds).items()
            },
            "annual_msme_revenue_idr": {
                str(y): {k: float(v) for k, v in row.items()} for y, row in revenue.iterrows()
            },
        }
    effects = None
    if len(scenarios) == 2 and cfg.scenario.name in scenarios:
        other = next(n for n in scenarios if n != cfg.scenario.name)
        effects = paired_effects(
            table[table["scenario"] == cfg.scenario.name], table[table["scenario"] == other]
        )
    return {
        "scenario": cfg.scenario.name,
        "seed": cfg.seed,
        "seeds": list(range(cfg.seed, cfg.seed + cfg.seeds)),
        "counterfactual": counterfactual,  # the one that ran, None if none did
        "results": scenarios,
        "policy_effects": effects,
        "package_version": sim.__version__,
        "code_digest": code_digest(),
        "files": (
            [TIMESERIES]
            + ([AGENTS] if cfg.agent_history.every_weeks else [])
            + (["market_share.png", "msme_revenue.png"] if cfg.figures else [])
        ),
    }


def resolve_counterfactual(cfg: Config, counterfactual: ScenarioConfig | None) -> ScenarioConfig | None:
    """The counterfactual to run beside ``cfg``: None when it is the scenario itself; refused
    when it shares the scenario's name but the overrides changed the scenario (the comparison
    would be ambiguous in every table keyed by scenario name)."""
    if counterfactual is None or counterfactual.name != cfg.scenario.name:
        return counterfactual
    if counterfactual != cfg.scenario:
        raise ConfigError(
            "counterfactual",
            f"{counterfactual.name!r} is also the name of the "
            "scenario being run, which the overrides change; give the modified "
            "scenario its own name (scenario.name=...) to compare the two, or set "
            "counterfactual=null",
            ("scenario",),
        )
    return None


def run_job(
    cfg: Config,
    out_dir: Path,
    counterfactual: ScenarioConfig | None,
    show_progress: bool = False,
    resolved_config_yaml: str | None = None,
    extra_files: dict[str, str] | None = None,
    reuse_finished: bool = False,
) -> dict:
    """Simulate the scenario (and its counterfactual, same seed) and write the run directory.

    Everything is written into a staging directory that replaces ``out_dir`` only when the run is
    complete (``summary.json`` last), under a lock that refuses a second run into ``out_dir``: a
    failed or interrupted run leaves an earlier complete run as it was, and no file of an
    earlier run survives a new one. ``extra_files`` (relative path to text) are written too.
    With ``reuse_finished`` a run that finished before with this config and code is not rerun:
    its summary comes back with ``skipped: True``.
    """
    counterfactual = resolve_counterfactual(cfg, counterfactual)
    with locked(out_dir):
        if reuse_finished and (finished := completed_summary(out_dir, cfg)) is not None:
            (out_dir / ERROR).unlink(missing_ok=True)  # a later failed attempt no longer counts
            return {**finished, "skipped": True}
        with staged(out_dir) as stage, _log_into(stage / "run.log"):
            return _write_run(
                cfg, stage, counterfactual, show_progress, resolved_config_yaml, extra_files or {}
            )


def _write_run(
    cfg: Config,
    stage: Path,
    counterfactual: ScenarioConfig | None,
    show_progress: bool,
    resolved_config_yaml: str | None,
    extra_files: dict[str, str],
) -> dict:
    started = time.perf_counter()
    logging.getLogger("sim").info(
        "simulating %s, seed %s, %d shoppers, %d MSMEs",
        cfg.scenario.name,
        cfg.seed,
        cfg.market.shoppers.n_agents,
        cfg.market.msmes.n_agents,
    )
    for name, text in extra_files.items():
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        (stage / name).write_text(text)
    if resolved_config_yaml is not None:
        (stage / "resolved_config.yaml").write_text(resolved_config_yaml)
    jobs = []
    for seed in range(cfg.seed, cfg.seed + cfg.seeds):  # seeds=N: one table, bands in the figures
        jobs.append(replace(cfg, seed=seed))
        if counterfactual is not None:
            jobs.append(replace(cfg, seed=seed, scenario=counterfactual))
    runs = simulate_all(jobs, show_progress, meanwhile=_import_figures if cfg.figures else None)
    tables = [table for table, _ in runs]
    table = _concat(tables, ("scenario", "metric", "entity"))
    check_finite(table)

    def tables_and_summary() -> dict:
        table.to_parquet(stage / TIMESERIES, index=False)
        histories = [history for _, history in runs if history is not None]
        if histories:
            _concat(histories, ("scenario", "agent_type", "field")).to_parquet(stage / AGENTS, index=False)
        return summarise(table, cfg, counterfactual.name if counterfactual is not None else None)

    if cfg.figures:  # the figures take longest: the tables and the summary are made meanwhile
        scenarios = [cfg.scenario] + ([counterfactual] if counterfactual is not None else [])
        summary = draw_run_figures(table, scenarios, stage, cfg.market, meanwhile=tables_and_summary)
    else:
        summary = tables_and_summary()
    summary["wall_time_s"] = round(time.perf_counter() - started, 3)  # figures included
    summary["config"] = asdict(cfg)
    write_json(stage / SUMMARY, summary)
    return summary
