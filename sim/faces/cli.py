"""``sim run [hydra overrides]`` (also ``sim`` without a verb, and ``python -m sim``): Hydra's main,
which runs one scenario and its counterfactual, or a sweep with ``--multirun``.

Examples::

    sim run                                         # history vs no_policy, seed 0
    sim run scenario=ban_only seed=3 counterfactual=null
    sim run market.shoppers.n_agents=100000 scenario.social_commerce_ban.compliance=0.5
    sim run --multirun scenario=no_policy,ban_only,history 'seed=range(3)'

The ``sim`` command itself (its verbs and their ``--help``) is ``sim.faces.commands``.

Bad input exits 2 with one line naming the key; an unusable run directory, a full disk or
outputs that are not finite exit 1; Ctrl-C exits 130. ``--debug`` (or ``HYDRA_FULL_ERROR=1``)
shows the traceback as well.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.conf import HydraConf
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sim.experiments.compose import as_config_error, config_dir, load_scenario, register_configs, to_config
from sim.experiments.run import resolve_counterfactual, run_job
from sim.experiments.sweep import record_failure, report_progress, say
from sim.schema.config import Config, ConfigError, ScenarioConfig, estimate_resources
from sim.schema.errors import debugging, describe, exit_cleanly

log = logging.getLogger("sim")
register_configs()


def _show_progress(setting: str, multirun: bool) -> bool:
    if setting == "auto":
        return not multirun and sys.stderr.isatty()
    return setting == "on"


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def main(cfg: DictConfig) -> dict | None:
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    out_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = list(hydra_cfg.overrides.task)
    # Hydra's own .hydra/ record (hydra.output_subdir is null) is written with the run, so that a
    # refused or failed rerun does not rewrite the record of a finished one.
    record = {
        ".hydra/config.yaml": OmegaConf.to_yaml(cfg),
        ".hydra/hydra.yaml": OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra_cfg})),
        ".hydra/overrides.yaml": OmegaConf.to_yaml(OmegaConf.create(overrides)),
    }
    if not multirun:
        try:
            _refuse_unswept_experiment(hydra_cfg)
            config, counterfactual = _checked(cfg, overrides)
            return _run(config, counterfactual, out_dir, multirun=False, record=record)
        except (Exception, KeyboardInterrupt) as err:
            _remove_if_empty(out_dir)
            exit_cleanly(err)
    # In a sweep a failing run is recorded and reported, and the others go on; the aggregate
    # step at the end lists the failures and makes the sweep exit non-zero.
    sweep_dir = Path(hydra_cfg.sweep.dir)
    try:
        config, counterfactual = _checked(cfg, overrides)
        summary = _run(config, counterfactual, out_dir, multirun=True, record=record)
    except KeyboardInterrupt as err:
        exit_cleanly(err)
    except Exception as err:
        if describe(err) is None and debugging([]):
            raise
        record_failure(out_dir, err, record)
        log.error("run failed: %s", err)
        say(report_progress(sweep_dir, out_dir.name, "FAILED"))
        return None
    say(report_progress(sweep_dir, out_dir.name, "skipped" if summary.get("skipped") else "done"))
    return summary


def _refuse_unswept_experiment(hydra_cfg: HydraConf) -> None:
    """An experiment is a sweep preset: without --multirun Hydra would run one job and drop it."""
    params = hydra_cfg.sweeper.get("params") or {}
    if params:
        name = hydra_cfg.runtime.choices.get("experiment") or "..."
        raise ConfigError(
            "experiment",
            f"{name!r} is a sweep over {', '.join(params)}; run it with sim run --multirun experiment={name}",
        )


def _remove_if_empty(out_dir: Path) -> None:
    """Hydra makes the run directory before the run starts; a refused run leaves none behind."""
    with contextlib.suppress(OSError):  # not empty (an earlier run), or not there
        out_dir.rmdir()


def _checked(cfg: DictConfig, overrides: list[str]) -> tuple[Config, ScenarioConfig | None]:
    config = to_config(cfg, overrides)
    counterfactual = load_scenario(config.counterfactual) if config.counterfactual else None
    return config, resolve_counterfactual(config, counterfactual)


def _run(
    config: Config,
    counterfactual: ScenarioConfig | None,
    out_dir: Path,
    multirun: bool,
    record: dict[str, str],
) -> dict:
    span = dt.date.fromisoformat(config.end_date) - dt.date.fromisoformat(config.start_date)
    n_weeks = span.days // 7 + 1
    memory, seconds = estimate_resources(config, n_weeks)
    log.info(
        "running %s (seed %s) into %s; estimated %.1f GB, %.0f s",
        config.scenario.name,
        config.seed,
        out_dir,
        memory / 2**30,
        seconds,
    )
    resolved = OmegaConf.to_yaml(OmegaConf.structured(config))
    summary = run_job(
        config,
        out_dir,
        counterfactual,
        show_progress=_show_progress(config.progress, multirun),
        resolved_config_yaml=resolved,
        extra_files=record,
        reuse_finished=not config.force,
    )
    if summary.get("skipped"):
        log.info("skipped %s: finished before with the same config and code (force=true reruns it)", out_dir)
    else:
        log.info("wrote %s in %.1f s", ", ".join(summary["files"] + ["summary.json"]), summary["wall_time_s"])
    if not multirun:
        print(
            f"results in {out_dir}"
            + (" (finished before; force=true reruns it)" if summary.get("skipped") else "")
        )
    return summary


def cli() -> None:
    """``sim run``: Hydra's main on ``sys.argv``, with ``--debug`` taken off the arguments; Ctrl-C
    and what Hydra raises itself (a bad override, a run directory that is a file) become a
    message."""
    debugging()
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing a traceback
    try:
        main()
    except HydraException as err:
        exit_cleanly(as_config_error(err))
    except (Exception, KeyboardInterrupt) as err:
        exit_cleanly(err)


if __name__ == "__main__":
    cli()
