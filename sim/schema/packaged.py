"""The packaged configs (``conf/``) read onto the schema, without Hydra.

``default_config(policy)`` is what ``python -m sim scenario=<policy>`` composes from the packaged
files: ``config.yaml``'s top-level values, ``market/default.yaml`` and ``scenario/<policy>.yaml``,
merged onto ``Config`` with OmegaConf (the schema library under Hydra). The model core builds its
defaults from here, so it needs neither Hydra nor OmegaConf itself.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import cast

from sim.schema.config import Config, ConfigError, ScenarioConfig


def config_dir() -> Path:
    """The ``conf/`` folder, from a checkout (editable install) or from the installed package."""
    return Path(str(files("sim.conf")))


def policies() -> list[str]:
    """The named policy scenarios shipped in ``conf/scenario/``."""
    return sorted(p.stem for p in (config_dir() / "scenario").glob("*.yaml"))


def default_config(policy: str = "history") -> Config:
    """The packaged defaults with scenario ``policy``: what ``python -m sim scenario=<policy>``
    composes (market ``default``, ``config.yaml``'s top-level values)."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if policy not in policies():
        raise ConfigError("policy", f"{policy!r} is not a scenario; choose one of {', '.join(policies())}")
    conf = config_dir()
    top = cast(DictConfig, OmegaConf.load(conf / "config.yaml"))
    for key in ("defaults", "hydra"):
        top.pop(key, None)
    try:
        merged = OmegaConf.merge(
            OmegaConf.structured(Config),
            top,
            {
                "market": OmegaConf.load(conf / "market" / "default.yaml"),
                "scenario": OmegaConf.load(conf / "scenario" / f"{policy}.yaml"),
            },
        )
        config = OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:  # a broken packaged file, not a user error
        raise ConfigError(str(getattr(err, "full_key", "") or "config"), str(err).splitlines()[0]) from None
    assert isinstance(config, Config)
    return config


def scenario_config(values: dict) -> ScenarioConfig:
    """A scenario recorded as plain values (a run's ``summary.json``) back as a ``ScenarioConfig``."""
    from omegaconf import OmegaConf

    merged = OmegaConf.merge(OmegaConf.structured(ScenarioConfig), values)
    return cast(ScenarioConfig, OmegaConf.to_object(merged))
