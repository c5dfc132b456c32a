"""Command line: ``python -m sim [hydra overrides]`` runs one scenario and its counterfactual.

Examples::

    python -m sim                                   # history vs no_policy, seed 0
    python -m sim scenario=ban_only seed=3 counterfactual=null
    python -m sim market.shoppers.n_agents=100000 scenario.social_commerce_ban.compliance=0.5
    python -m sim --multirun scenario=no_policy,ban_only,history 'seed=range(3)'
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sim.config import Config, ConfigError, ScenarioConfig
from sim.hydra_app import config_dir, load_scenario, register_configs, to_config
from sim.run import run_job
from sim.sweep import clear_failure, completed_summary, record_failure, report_progress

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
    if not multirun:
        try:
            config, counterfactual = _checked(cfg)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        return _run(config, counterfactual, out_dir, multirun=False)
    # In a sweep a failing run is recorded and reported, and the others go on; the aggregate
    # step at the end lists the failures and makes the sweep exit non-zero.
    sweep_dir = Path(hydra_cfg.sweep.dir)
    try:
        config, counterfactual = _checked(cfg)
        summary = _run(config, counterfactual, out_dir, multirun=True)
    except Exception as err:
        record_failure(out_dir, err)
        log.error("run failed: %s", err)
        print(report_progress(sweep_dir, out_dir.name, "FAILED"), flush=True)
        return None
    print(report_progress(sweep_dir, out_dir.name, "skipped" if summary.get("skipped") else "done"),
          flush=True)
    return summary


def _checked(cfg: DictConfig) -> tuple[Config, ScenarioConfig | None]:
    config = to_config(cfg)
    counterfactual = load_scenario(config.counterfactual) if config.counterfactual else None
    return config, counterfactual


def _run(config: Config, counterfactual: ScenarioConfig | None, out_dir: Path,
         multirun: bool) -> dict:
    finished = None if config.force else completed_summary(out_dir, config)
    if finished is not None:
        log.info("skipping %s: finished before with the same config (force=true reruns it)",
                 out_dir)
        return {**finished, "skipped": True}
    clear_failure(out_dir)
    log.info("running %s (seed %s) into %s", config.scenario.name, config.seed, out_dir)
    resolved = OmegaConf.to_yaml(OmegaConf.structured(config))
    summary = run_job(config, out_dir, counterfactual,
                      show_progress=_show_progress(config.progress, multirun),
                      resolved_config_yaml=resolved)
    log.info("wrote %s in %.1f s", ", ".join(summary["files"] + ["summary.json"]),
             summary["wall_time_s"])
    if not multirun:
        print(f"results in {out_dir}")
    return summary


if __name__ == "__main__":
    main()
