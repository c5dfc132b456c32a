"""Hydra glue: the ConfigStore schema, composing configs, and turning them into checked dataclasses.

This is the only module besides the CLI that imports Hydra; the model core takes plain ``Config``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, cast

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sim.schema.config import Config, ConfigError, ScenarioConfig, validate
from sim.schema.packaged import config_dir


def register_configs() -> None:
    ConfigStore.instance().store(name="base_config", node=Config)


@functools.cache
def _structured(schema: type) -> DictConfig:
    """The schema as an OmegaConf node, built once (merging copies it; it is never modified)."""
    return OmegaConf.structured(schema)


def _as_dataclass(node: DictConfig, schema: type, key: str = "") -> object:
    """Merge into the schema (unknown keys and wrong types fail there, including ``+key=``)."""
    try:
        merged = OmegaConf.merge(_structured(schema), node)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        full_key = ".".join(k for k in (key, str(getattr(err, "full_key", "") or "")) if k)
        raise ConfigError(full_key or "config", str(err).splitlines()[0]) from None


def to_config(cfg: DictConfig, overrides: list[str] | None = None) -> Config:
    """A composed Hydra config (``hydra`` node dropped) as a validated ``Config``; ``overrides``
    (the command line's) are checked against what the config would silently ignore."""
    plain = cast(DictConfig, OmegaConf.create(OmegaConf.to_container(cfg, resolve=True)))
    plain.pop("hydra", None)
    apply_point(plain)
    config = _as_dataclass(plain, Config)
    assert isinstance(config, Config)
    validate(config)
    check_overrides(overrides or [], config)
    return config


def check_overrides(overrides: list[str], config: Config) -> None:
    """Refuse an override that the config would silently undo: an explicit platform commission
    that its dated ``commission_changes`` schedule replaces within the horizon."""
    keys = {item.split("=", 1)[0].lstrip("+~") for item in overrides}
    for name, platform in config.market.platforms.items():
        key = f"market.platforms.{name}.commission"
        schedule = [c for c in platform.commission_changes if c.date <= config.end_date]
        if key in keys and schedule and f"{key}_changes" not in keys:
            dates = ", ".join(f"{c.date}: {c.rate:g}" for c in schedule)
            raise ConfigError(
                key,
                f"the dated schedule {key}_changes ({dates}) replaces this rate "
                f"from {min(c.date for c in schedule)}; for a flat rate add "
                f"{key}_changes=[], or override the schedule itself",
                (f"{key}_changes",),
            )


def apply_point(node: DictConfig) -> None:
    """Override the config with row ``point`` of ``point_file``: how a sampled design (Morris,
    Sobol) runs through an ordinary Hydra multirun, ``point=range(N)``."""
    path, point = node.get("point_file", ""), node.get("point", -1)
    if not path:
        return
    import pandas as pd

    if not Path(path).is_file():
        raise ConfigError("point_file", f"{path} is not a file")
    points = pd.read_csv(path)
    if not 0 <= point < len(points):
        raise ConfigError("point", f"{point} is not a row of {path} (0 to {len(points) - 1})")
    for key, value in points.iloc[point].items():
        if OmegaConf.select(node, str(key), default="__missing__") == "__missing__":
            raise ConfigError(str(key), f"column of {path} is not a config key")
        OmegaConf.update(node, str(key), float(value), merge=False)


def load_scenario(name: str) -> ScenarioConfig:
    """A named scenario from ``conf/scenario/NAME.yaml`` (used for the counterfactual)."""
    available = sorted(p.stem for p in (config_dir() / "scenario").glob("*.yaml"))
    if name not in available:
        raise ConfigError(
            "counterfactual", f"{name!r} is not a scenario; choose one of {', '.join(available)} or null"
        )
    node = cast(DictConfig, OmegaConf.load(config_dir() / "scenario" / f"{name}.yaml"))
    scenario = _as_dataclass(node, ScenarioConfig, "scenario")
    assert isinstance(scenario, ScenarioConfig)
    return scenario


def compose_config(overrides: list[str] | None = None) -> Config:
    """Compose ``conf/config.yaml`` with overrides, as the CLI does, for notebooks and tests.

    Any bad override raises ``ConfigError`` naming the key and what is allowed."""
    register_configs()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
            cfg = compose("config", overrides=overrides or [])
    except HydraException as err:
        raise as_config_error(err) from None
    return to_config(cfg, overrides)


def compose_scenarios(names: Sequence[str], overrides: Sequence[str]) -> list[Config]:
    """The configs of the scenarios ``names`` under the same ``overrides``, as
    ``compose_config([f"scenario={name}", *overrides])`` gives them: the first composed, the
    others with its scenario swapped (``load_scenario``, as a run's counterfactual is made),
    which spares a composition (a third of a second) each. An override of a ``scenario`` key
    would apply to every scenario, so then each is composed."""
    first = compose_config([f"scenario={names[0]}", *overrides])
    if any(item.lstrip("+~").startswith("scenario") for item in overrides):
        return [first, *(compose_config([f"scenario={name}", *overrides]) for name in names[1:])]
    others = [replace(first, scenario=load_scenario(name)) for name in names[1:]]
    for config in others:
        validate(config)
    return [first, *others]


def compose_study(name: str, schema: type, overrides: Sequence[str], command: str = "") -> Any:
    """A study's config, composed as the model's is: ``schema`` (a dataclass, registered in Hydra's
    ConfigStore as ``NAME_schema``), under ``conf/NAME.yaml`` where there is one (the
    calibration's search space), with ``overrides`` (``key=value``) on top. A key the study does
    not have, a wrong type or a missing required value raises ``ConfigError`` naming the key
    (and ``command``, ``sim NAME`` unless given, for its ``--help``)."""
    command = command or f"sim {name}"
    ConfigStore.instance().store(name=f"{name}_schema", node=schema)
    primary = name if (config_dir() / f"{name}.yaml").is_file() else f"{name}_schema"
    own = set(getattr(schema, "__annotations__", {}))  # the study's own keys first
    keys = sorted((f.name for f in fields(schema)), key=lambda name: name not in own)
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
            cfg = compose(primary, overrides=list(overrides))
        # As plain values into the schema once more: a key added with ``+key=`` is refused there.
        plain = OmegaConf.to_container(cfg, resolve=True)
        return OmegaConf.to_object(OmegaConf.merge(_structured(schema), plain))
    except HydraException as err:
        error = as_config_error(err)
        unknown = "is not a key" in error.message or "not in struct" in str(err.__cause__ or err)
    except OmegaConfBaseException as err:
        key = str(getattr(err, "full_key", "") or "overrides")
        text = str(err).splitlines()[0]
        missing = "missing mandatory" in text.lower()
        error = ConfigError(key, f"is required: give {key}=..." if missing else text)
        unknown = "not in struct" in text
    if unknown or error.key.lstrip("+~").split(".")[0] not in [*keys, "overrides"]:
        key = error.key.lstrip("+~")
        raise ConfigError(
            key, f"is not a key of {command}; its keys are {', '.join(keys)} ({command} --help)"
        ) from None
    raise error


def as_config_error(err: HydraException) -> ConfigError:
    """Hydra's composition errors in the project's one format: the key, then what is wrong."""
    text = str(err)
    if match := re.search(r"Could not find '([^'/]+)/([^']+)'", text):
        group, option = match.groups()
        options = re.findall(r"^\t(\S+)$", text.split("Config search path")[0], re.MULTILINE)
        return ConfigError(group, f"{option!r} is not an option; choose one of {', '.join(options)}")
    if match := re.search(r"Could not override '([^']+)'", text):
        return ConfigError(match.group(1), "is not a key of the config (see docs/parameters.md)")
    if match := re.search(r"Error merging override ([^=]+)=", text):
        cause = str(err.__cause__ or err).splitlines()[0]
        return ConfigError(match.group(1), cause)
    if match := re.search(
        r"^In '([^']+)': \w+ raised while composing config:\n(.*)\n\s+full_key: (\S+)", text, re.MULTILINE
    ):
        where, cause, key = match.groups()
        return ConfigError(key, f"{cause} (in conf/{where}.yaml)")
    return ConfigError("overrides", text.splitlines()[0])
