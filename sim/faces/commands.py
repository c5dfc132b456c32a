"""The ``sim`` command: one console script, a verb per task, Hydra ``key=value`` overrides for all.

    sim [run] [--multirun] [key=value ...]    one scenario and its counterfactual, or a sweep
    sim validate|estimate|forecast|calibrate|sensitivity [key=value ...]    the studies
    sim aggregate sweep_dir=DIR                 a finished sweep's table and figures
    sim measure [key=value ...]                 wall time and peak memory of one run

A verb is a first argument without ``=`` that does not start with ``-``. Without one, ``sim`` runs
the model: ``sim scenario=ban_only`` is ``sim run scenario=ban_only``, and ``python -m sim ...`` is
``sim ...`` (this module is behind both). ``run`` is Hydra's main (``sim.faces.cli``); every other
verb's keys are a dataclass registered in Hydra's ConfigStore and composed with the overrides by
Hydra's compose API (``sim.experiments.compose.compose_study``); a study takes the model's own
overrides as one list, ``model_overrides=[...]``, and its fan-out's launcher as
``launcher=serial|parallel|slurm|cluster_local``. ``sim VERB --help`` says what the verb does, with
examples and its keys and defaults; ``--cfg job`` prints the composed config; ``--debug`` keeps
tracebacks. Bad input exits 2 with one line naming the key.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import textwrap
import threading
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, NoReturn

from sim.schema.config import ConfigError
from sim.schema.errors import EXIT_CONFIG, debugging, report

WIDTH = 100


@dataclass(frozen=True)
class Verb:
    """A verb of ``sim``: what ``--help`` says about it, and where its config and action live."""

    name: str
    summary: str  # its line in ``sim --help``
    description: str  # the paragraph of ``sim VERB --help``
    examples: tuple[str, ...]
    # Its config dataclass and the function run with the composed config, or "module:name" for
    # each (imported only when the verb runs or shows its help, so that ``sim --help`` is quick).
    schema: str | type = ""
    action: str | Callable[..., int] = ""
    usage: str = "[key=value ...]"
    prog: str = ""  # how it is started, if not ``sim NAME``

    @property
    def command(self) -> str:
        return self.prog or f"sim {self.name}"


@dataclass
class AggregateConfig:
    """``sim aggregate``: its keys."""

    sweep_dir: str = field(default="???", metadata={"help": "the sweep folder (required)"})
    figures: bool = field(
        default=True, metadata={"help": "draw market_share.png, msme_revenue.png and policy_effect.png too"}
    )
    table: bool = field(
        default=False,
        metadata={
            "help": "also write sweep.parquet, the sweep's table in one file (otherwise it is read "
            "from the runs' own timeseries.parquet)"
        },
    )


def aggregate_sweep(cfg: AggregateConfig) -> int:
    """``sim aggregate``: write ``runs.csv`` and the figures of a sweep (and ``sweep.parquet``)."""
    from sim.experiments.aggregate import SweepError, aggregate

    sweep_dir = Path(cfg.sweep_dir)
    if not sweep_dir.is_dir():
        raise ConfigError("sweep_dir", f"{sweep_dir} is not a directory")
    try:
        result = aggregate(sweep_dir, figures=cfg.figures, table=cfg.table)
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(result.report())
    return 1 if len(result.failed) else 0


def measure(overrides: list[str]) -> int:
    """``sim measure``: one run of the composed config in a fresh process; print its JSON."""
    import json

    from sim.experiments.compose import compose_config
    from sim.experiments.measure import measure_run
    from sim.schema.errors import RunError

    compose_config([*overrides, "counterfactual=null"])  # bad input fails here, exit 2
    try:
        print(json.dumps(measure_run(overrides)))
    except RuntimeError as err:
        raise RunError(str(err)) from None
    return 0


LAUNCH_EXAMPLE = "launcher=slurm 'launcher_overrides=[\"hydra.launcher.partition=short\"]'"

VERBS: dict[str, Verb] = {
    verb.name: verb
    for verb in (
        Verb(
            "run",
            "one scenario and its counterfactual on the same seed, or a sweep (--multirun)",
            "Runs one policy scenario and its counterfactual on the same seed (common random numbers: "
            "the difference is the policy, not noise) and writes timeseries.parquet (one tidy table), "
            "summary.json (annual figures and policy effects; written last), market_share.png and "
            "msme_revenue.png into the run directory, with the resolved config. Every key of the "
            "config (docs/parameters.md) is a Hydra override. With --multirun (put it first) "
            "comma-separated values and range(N) sweep, each run writes its own directory under "
            "hydra.sweep.dir, finished runs with the same config and code are skipped on a rerun, and "
            "the sweep ends with its aggregate table and figures. `sim KEY=VALUE ...` without a verb is "
            "the same as `sim run KEY=VALUE ...`, and so is `python -m sim ...`.",
            (
                "sim run scenario=ban_only seed=3 counterfactual=null hydra.run.dir=results/ban_only",
                "sim run market.shoppers.n_agents=100000 scenario.social_commerce_ban.compliance=0.5",
                "sim run --multirun scenario=no_policy,history 'seed=range(3)' hydra/launcher=parallel",
                "sim run --multirun experiment=policy_comparison     # a sweep preset of conf/experiment/",
            ),
            usage="[--multirun] [key=value ...]",
        ),
        Verb(
            "validate",
            "the validation report: every pattern against its public source",
            "Runs history and no_policy on the same seeds, measures each pattern the model should "
            "reproduce (shares, growth, the ban window, sellers' losses, multi-homing, ...) against "
            "the numeric band beside its public source, and writes validation.md with its figures "
            "and the estimation's tables into `out`. The seeds are a fan-out through Hydra's "
            "launchers: one job per seed into runs_dir, skipped on a rerun once finished, and on a "
            "cluster with launcher=slurm.",
            (
                "sim validate                                        # 5 seeds, default scale: docs/",
                "sim validate seeds=2 out=results/validation 'model_overrides=[\"market.shoppers."
                'n_agents=4000","market.msmes.n_agents=1000"]\'',
                f"sim validate {LAUNCH_EXAMPLE}",
            ),
            "sim.studies.validate:ValidateConfig",
            "sim.studies.validate:run",
        ),
        Verb(
            "estimate",
            "estimate the decisive parameters by simulated moments (record through 2023)",
            "Estimates the parameters that decide the answers by the method of simulated moments "
            "with common random numbers: history and its same-seed no_policy on `seeds` seeds per "
            "evaluation, level constants matched by a log-share contraction, then "
            "Levenberg-Marquardt steps on a finite-difference Jacobian. Writes estimate.json "
            "(estimate, sandwich standard errors, identification, noise floor) into `out`; "
            "promote=true writes the estimate into conf/market/default.yaml. Each batch of "
            "evaluations is a fan-out through Hydra's launchers into runs_dir, resumed on a rerun.",
            (
                "sim estimate seeds=2 out=docs/estimation/full promote=true   # ~30 evaluations",
                "sim estimate seeds=2 before=2023-10-01 from_priors=true out=docs/estimation/backtest",
                f"sim estimate {LAUNCH_EXAMPLE}",
            ),
            "sim.studies.estimate:EstimateConfig",
            "sim.studies.estimate:run",
        ),
        Verb(
            "forecast",
            "2024-2025 storefront and group shares with bands over draws and seeds",
            "Draws parameter vectors from the estimate's sampling distribution, runs history on "
            "`seeds` seeds for each, keeps the runs consistent with the record through 2023 "
            "(accept_q) and writes forecast.csv (mean and 90% band per year, storefront and operator "
            "group), forecast_runs.csv and forecast.png into `out`. The runs are a fan-out through "
            "Hydra's launchers into runs_dir, resumed on a rerun.",
            (
                "sim forecast draws=96 seeds=1                       # docs/forecast.csv's bands",
                "sim forecast draws=4 seeds=1 accept_q=inf 'model_overrides=[\"market.shoppers."
                "n_agents=4000\"]'",
                f"sim forecast {LAUNCH_EXAMPLE}",
            ),
            "sim.studies.forecast:ForecastConfig",
            "sim.studies.forecast:run",
        ),
        Verb(
            "calibrate",
            "Optuna calibration to the pre-ban targets; promote=PATH copies it to conf/",
            "Fits the parameters declared in conf/calibration/default.yaml to the public figures "
            "before 2023-10 with Optuna (TPE), on no_policy to fit_end. The study lives in SQLite "
            "under `out`, so an interrupted calibration resumes; `workers` Optuna workers are jobs of "
            "a fan-out through Hydra's launchers. It writes OUT/STUDY/calibrated.yaml (a market "
            "config), best.json, report.md and fit.png, and nothing into the package's conf/. "
            "Promoting the result is a step of its own: promote=PATH copies that file into "
            "conf/market/, after which `sim run market=calibrated` uses it.",
            (
                "sim calibrate trials=60 seeds=3 workers=2",
                "sim calibrate trials=4 seeds=1 launcher=serial 'model_overrides=[\"market.shoppers."
                "n_agents=4000\"]'",
                "sim calibrate promote=results/calibrate/default/calibrated.yaml   # then: sim run "
                "market=calibrated",
            ),
            "sim.studies.calibrate:CalibrateConfig",
            "sim.studies.calibrate:run",
        ),
        Verb(
            "sensitivity",
            "Morris screening, then Sobol indices of the most influential parameters",
            "Screens every calibration parameter (conf/calibration/) with Morris elementary effects, "
            "then computes Sobol first-order and total indices of the `top` most influential, for "
            "Shopee's and the Tokopedia group's 2024 shares and the ban's effects on local "
            "producers' revenue and online GMV. Every sample point is a model run of an ordinary "
            "multirun (point_file, point=range(N)) through the launcher, resumed on a rerun; writes "
            "morris.csv, sobol.csv and their figures into `out`.",
            (
                "sim sensitivity trajectories=6 sobol_n=32 top=4",
                "sim sensitivity trajectories=2 sobol_n=4 top=2 'model_overrides=[\"market.shoppers."
                'n_agents=5000","market.msmes.n_agents=1500"]\'',
                f"sim sensitivity {LAUNCH_EXAMPLE}",
            ),
            "sim.studies.sensitivity:SensitivityConfig",
            "sim.studies.sensitivity:run",
        ),
        Verb(
            "aggregate",
            "one tidy table and comparison figures for a finished sweep folder",
            "Reads every run directory of a sweep (the latest multirun into it), checks each "
            "finished run's timeseries.parquet and writes runs.csv (one row per run: status, error, "
            "wall time, annual figures) and, with figures=true, market_share.png, msme_revenue.png "
            "and policy_effect.png (mean across seeds, 90% band). The sweep's table (every run's time "
            "series with run, variant and one ov.KEY column per override) is read from the runs' "
            "own files (load_sweep(DIR).table or .rows(...)); table=true also writes it into "
            "sweep.parquet. A sweep does this itself when it ends; this verb does it again on "
            "demand. Exits 1 if a run failed or did not finish.",
            (
                "sim aggregate sweep_dir=results/sweeps/policy_comparison",
                "sim aggregate sweep_dir=results/multirun/2026-11-30/10-00-00-000000 figures=false",
                "sim aggregate sweep_dir=results/sweeps/policy_comparison table=true",
            ),
            "sim.faces.commands:AggregateConfig",
            "sim.faces.commands:aggregate_sweep",
            usage="sweep_dir=DIR [key=value ...]",
        ),
        Verb(
            "measure",
            "wall time and peak memory of one run, in a fresh process",
            "Runs the composed config once (the scenario alone, no counterfactual, no files) in a "
            "fresh process and prints one JSON object: shoppers, msmes, weeks, burn_in_weeks, wall_s "
            "and peak_rss_mb (the child's own high-water mark). Its overrides are the model's own "
            "keys, as for run.",
            (
                "sim measure                                         # the default scale",
                "sim measure market.shoppers.n_agents=500000 market.msmes.n_agents=20000",
            ),
            "",
            "sim.faces.commands:measure",
        ),
    )
}

# The keys ``sim run --help`` and ``sim measure --help`` show; every other key of the config is
# in docs/parameters.md.
MODEL_KEYS = {
    "scenario": "the policy scenario (conf/scenario/): {scenarios}",
    "counterfactual": "the scenario run beside it on the same seed, or null (run only)",
    "seed": "the first seed",
    "seeds": "seeds seed..seed+N-1 in one run: one table, figures with 90% bands",
    "market": "the market config (conf/market/)",
    "market.shoppers.n_agents": "shopper agents (each stands for population / n_agents people)",
    "market.msmes.n_agents": "MSME agents",
    "start_date": "first week",
    "end_date": "last week",
    "figures": "draw market_share.png and msme_revenue.png",
    "progress": "auto (a bar on a terminal), on or off",
    "force": "run again a run that finished before with the same config and code",
    "experiment": "a sweep preset of conf/experiment/, with --multirun: {experiments}",
    "hydra.run.dir": "where a run writes",
    "hydra.sweep.dir": "where a sweep writes (--multirun)",
    "hydra/launcher": "with --multirun: basic (one after another), parallel (joblib), slurm, cluster_local",
}


def _load(target: str | Any) -> Any:
    if not isinstance(target, str):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return '""' if value == "" else ("(required)" if value == "???" else value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{...}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _default(f: Any) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return "???"


def _model_keys() -> list[tuple[str, str, str]]:
    from sim.schema.config import config_value
    from sim.schema.packaged import config_dir, default_config, policies

    cfg = default_config()
    experiments = ", ".join(sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml")))
    defaults = {
        "scenario": cfg.scenario.name,
        "market": "default",
        "experiment": "null",
        "hydra.run.dir": "results/runs/DATE/TIME_SCENARIO_seedN",
        "hydra.sweep.dir": "results/multirun/DATE/TIME",
        "hydra/launcher": "basic",
    }
    rows = []
    for key, text in MODEL_KEYS.items():
        value = defaults[key] if key in defaults else _show(config_value(cfg, key))
        rows.append((key, value, text.format(scenarios=", ".join(policies()), experiments=experiments)))
    return rows


def _schema_keys(schema: type) -> list[tuple[str, str, str]]:
    from sim.experiments.fanout import Launch

    shared = {f.name for f in fields(Launch)}
    ordered = sorted(fields(schema), key=lambda f: f.name in shared)  # the study's own keys first
    return [(f.name, _show(_default(f)), f.metadata.get("help", "")) for f in ordered]


def _key_lines(keys: list[tuple[str, str, str]]) -> list[str]:
    width = min(max(len(f"{k}={v}") for k, v, _ in keys) + 2, 30)
    indent = " " * (width + 2)
    lines = []
    for key, value, text in keys:
        item = f"  {key}={value}"
        wrapped = textwrap.wrap(text, WIDTH - width - 2) or [""]
        if len(item) >= width + 2:
            lines.append(item)
            lines += [indent + part for part in wrapped]
        else:
            lines.append(item.ljust(width + 2) + wrapped[0])
            lines += [indent + part for part in wrapped[1:]]
    return lines


def help_text(verb: Verb) -> str:
    """What ``sim VERB --help`` prints: usage, a paragraph, examples and the keys with defaults."""
    if verb.schema:
        schema = _load(verb.schema)
        assert isinstance(schema, type) and is_dataclass(schema)
        keys = _schema_keys(schema)
    else:
        keys = _model_keys()
    lines = [
        f"usage: {verb.command} {verb.usage}",
        "",
        textwrap.fill(verb.description, WIDTH),
        "",
        "examples:",
    ]
    lines += [f"  {example}" for example in verb.examples]
    lines += ["", "keys (default):", *_key_lines(keys)]
    if verb.name in ("run", "measure"):
        lines.append("  ...and every key of docs/parameters.md (market.*, scenario.*, ...)")
    flags = (
        "--multirun/-m (first), --cfg job (the composed config), --hydra-help (Hydra's own), "
        if verb.name == "run"
        else "--cfg job (print the composed config), "
    )
    lines += ["", textwrap.fill(f"flags: {flags}--debug (tracebacks), --help", WIDTH)]
    return "\n".join(lines)


def overview() -> str:
    """What ``sim --help`` (and ``python -m sim --help``) prints: the verbs, examples, and the
    keys of ``run``, the verb ``sim`` takes when given none."""
    lines = [
        "usage: sim [VERB] [key=value ...] [--help]",
        "",
        textwrap.fill(
            "An agent-based model of Indonesian e-commerce under the 2023 social-commerce ban, "
            "the US$100 import floor and the TikTok-Tokopedia pilot. A verb says what to do and "
            "Hydra-style key=value overrides say how. Without a verb sim runs the model: `sim "
            "scenario=ban_only` is `sim run scenario=ban_only`, and `python -m sim` is `sim`. "
            "`sim VERB --help` describes a verb, with examples and its keys.",
            WIDTH,
        ),
        "",
        "verbs:",
    ]
    lines += [f"  {verb.name:<12} {verb.summary}" for verb in VERBS.values()]
    lines += [
        "",
        "examples:",
        "  sim                                            # history vs no_policy, seed 0",
        "  sim scenario=ban_only seed=3 hydra.run.dir=results/ban_only",
        "  sim --multirun experiment=policy_comparison hydra/launcher=parallel",
        "  sim validate seeds=2 launcher=serial",
        "  sim estimate --help                            # a verb's description, examples and keys",
        "",
        "keys of sim run (default):",
        *_key_lines(_model_keys()),
        "  ...and every key of docs/parameters.md (market.*, scenario.*, ...)",
        "",
        *textwrap.wrap(
            "flags: --multirun/-m (first; run), --cfg job (the composed config), "
            "--debug (tracebacks), --hydra-help (Hydra's own; run), --help",
            WIDTH,
        ),
    ]
    return "\n".join(lines)


def split_verb(argv: list[str]) -> tuple[str | None, list[str]]:
    """The verb (a first argument without ``=`` that does not start with ``-``, nor with ``~``,
    which deletes a config key) and the rest."""
    if argv and "=" not in argv[0] and not argv[0].startswith(("-", "~")):
        return argv[0], argv[1:]
    return None, argv


def _print_help(text: str) -> None:
    """Print a help text; a reader that stops early (``sim --help | head``) is no error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _wants_help(argv: list[str]) -> bool:
    return "--help" in argv or "-h" in argv


def run_model(argv: list[str]) -> int:
    """``sim run``: Hydra's main (``sim.faces.cli``) on these arguments, as ``python -m sim``. A
    single run (only ``key=value`` arguments: no sweep, no Hydra flag) first starts the model's
    fork server, which imports the model on another core while Hydra is imported and composes
    the config (``sim.experiments.processes.start_model_server``)."""
    if all(not a.startswith("-") for a in argv):
        from sim.experiments.processes import start_model_server

        start_model_server()
    from sim.faces.cli import cli

    saved = sys.argv
    sys.argv = [saved[0] if saved else "sim", *argv]
    try:
        cli()
    finally:
        sys.argv = saved
    return 0


def execute(verb: Verb, argv: list[str]) -> int:
    """Run a verb other than ``run`` on its arguments: ``--help``, ``--cfg``, or compose its
    config and call its action; an expected failure becomes a message and its exit code."""
    if _wants_help(argv):
        _print_help(help_text(verb))
        return 0
    try:
        show_config = "--cfg" in argv
        arguments = [a for a in argv if a != "--cfg" and not (show_config and a in ("job", "all"))]
        for item in arguments:
            if item.startswith("-"):
                name = item.lstrip("-").split("=")[0]
                raise ConfigError(
                    item.split("=")[0],
                    f"flags are not options of {verb.command}; "
                    f"give {name.replace('-', '_')}=VALUE "
                    f"({verb.command} --help)",
                )
        action = _load(verb.action)
        if not verb.schema:  # measure: the model's own config
            if show_config:
                from omegaconf import OmegaConf

                from sim.experiments.compose import compose_config

                print(OmegaConf.to_yaml(OmegaConf.structured(compose_config(arguments))), end="")
                return 0
            return int(action(arguments))
        for item in arguments:
            if "=" not in item:
                raise ConfigError(
                    item, f"is not a key=value override of {verb.command} ({verb.command} --help)"
                )
        from sim.experiments.compose import compose_study

        cfg = compose_study(verb.name, _load(verb.schema), arguments, verb.command)
        if show_config:
            from omegaconf import OmegaConf

            print(OmegaConf.to_yaml(OmegaConf.structured(cfg)), end="")
            return 0
        return int(action(cfg))
    except (Exception, KeyboardInterrupt) as err:
        return report(err)


def main(argv: list[str] | None = None) -> int:
    """The ``sim`` console script (and ``python -m sim``): dispatch on the verb."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debugging(argv)  # takes --debug off wherever it is
    verb, rest = split_verb(argv)
    if verb is None or verb == "run":
        if _wants_help(rest):
            _print_help(help_text(VERBS["run"]) if verb else overview())
            return 0
        return run_model(rest)
    if verb not in VERBS:
        print(
            f"error: {verb}: is not a verb of sim; choose one of {', '.join(VERBS)}, or give "
            "key=value overrides to run the model (sim --help)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    return execute(VERBS[verb], rest)


def cli() -> NoReturn:
    """The ``sim`` console script and ``python -m sim``: ``main`` on the process's arguments, then
    the exit. Once the exit handlers have run (logs closed, helpers stopped) and the output is
    flushed, the process leaves without the interpreter's teardown, which frees every module and
    object one by one: 0.6 to 0.8 s after a default run on 2 cores, measured. Beside other
    threads it exits the usual way, which waits for them."""
    code = main()
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    cli()
