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

from sim.config import ConfigError
from sim.hydra_app import config_dir, load_scenario, register_configs, to_config
from sim.run import run_job

log = logging.getLogger("sim")
register_configs()


def _show_progress(setting: str, multirun: bool) -> bool:
    if setting == "auto":
        return not multirun and sys.stderr.isatty()
    return setting == "on"


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def main(cfg: DictConfig) -> dict:
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        config = to_config(cfg)
        counterfactual = load_scenario(config.counterfactual) if config.counterfactual else None
    except ConfigError as err:
        if multirun:  # let Hydra record the failed job and go on with the others
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    out_dir = Path(hydra_cfg.runtime.output_dir)
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
