"""Build a model's ``Config`` from the packaged defaults and named policy levers, without Hydra.

``EcommerceModel(rng=3, policy="ban_only", ban_compliance=0.6)`` lands here: the packaged
``conf/config.yaml`` top-level values, ``conf/market/default.yaml`` and
``conf/scenario/<policy>.yaml`` are merged onto the schema (as ``python -m sim scenario=<policy>``
composes them), then each lever that is not ``None`` replaces one config key (``LEVER_KEYS``).
Reading the YAML is ``sim.schema.packaged``'s (OmegaConf, the schema library under Hydra); the
model core imports neither, so it stays usable from a plain script, a test, ``mesa.batch_run`` or a
Solara page.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from sim.schema.config import Config, ConfigError, ScenarioConfig
from sim.schema.packaged import default_config


@dataclass(frozen=True)
class Levers:
    """Named levers; ``None`` keeps the value of the chosen policy scenario and market."""

    ban: bool | None = None
    ban_date: str | None = None
    ban_compliance: float | None = None
    link_follow_share: float | None = None
    floor: bool | None = None
    floor_date: str | None = None
    floor_usd: float | None = None
    pilot: bool | None = None
    relaunch_date: str | None = None
    local_priority: float | None = None
    trial_weeks: int | None = None
    migration_date: str | None = None
    kppu_conditions: bool | None = None
    kppu_date: str | None = None
    tiktok_commission_scale: float | None = None
    n_shoppers: int | None = None
    n_msmes: int | None = None
    burn_in_weeks: int | None = None
    end_date: str | None = None


# The config key each lever sets (documentation, error messages and tests read this table).
LEVER_KEYS = {
    "ban": "scenario.social_commerce_ban.enabled",
    "ban_date": "scenario.social_commerce_ban.date",
    "ban_compliance": "scenario.social_commerce_ban.compliance",
    "link_follow_share": "market.shoppers.link_follow_share",
    "floor": "scenario.cross_border_floor.enabled",
    "floor_date": "scenario.cross_border_floor.date",
    "floor_usd": "scenario.cross_border_floor.min_unit_price_usd",
    "pilot": "scenario.tiktok_tokopedia_pilot.enabled",
    "relaunch_date": "scenario.tiktok_tokopedia_pilot.relaunch_date",
    "local_priority": "scenario.tiktok_tokopedia_pilot.local_priority",
    "trial_weeks": "scenario.tiktok_tokopedia_pilot.trial_weeks",
    "migration_date": "scenario.tiktok_tokopedia_pilot.migration_date",
    "kppu_conditions": "scenario.kppu_conditions.enabled",
    "kppu_date": "scenario.kppu_conditions.date",
    # Multiplies TikTok Shop's whole take-rate schedule (1% -> 3% on 2023-06-01 -> 10% on
    # 2024-09-16 by default); 1.0 is the real schedule.
    "tiktok_commission_scale": "market.platforms.<pilot storefront>.commission (x, and its changes)",
    "n_shoppers": "market.shoppers.n_agents",
    "n_msmes": "market.msmes.n_agents",
    "burn_in_weeks": "burn_in_weeks",
    "end_date": "end_date",
}
LEVER_TYPES = {
    "ban": bool,
    "floor": bool,
    "pilot": bool,
    "kppu_conditions": bool,
    "trial_weeks": int,
    "n_shoppers": int,
    "n_msmes": int,
    "burn_in_weeks": int,
    "ban_date": str,
    "floor_date": str,
    "relaunch_date": str,
    "migration_date": str,
    "kppu_date": str,
    "end_date": str,
}


def _checked(name: str, value: Any) -> Any:
    kind = LEVER_TYPES.get(name, float)
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is str:
        ok = isinstance(value, str)
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok:
        raise ConfigError(name, f"must be {kind.__name__} (sets {LEVER_KEYS[name]}), got {value!r}")
    return float(value) if kind is float else value


def apply_levers(cfg: Config, levers: Levers) -> Config:
    """A copy of ``cfg`` with every lever that is not None applied (``cfg`` is not changed)."""
    given = {f.name: getattr(levers, f.name) for f in fields(levers) if getattr(levers, f.name) is not None}
    given = {name: _checked(name, value) for name, value in given.items()}
    sc = cfg.scenario
    ban = replace(
        sc.social_commerce_ban,
        **_pick(given, {"ban": "enabled", "ban_date": "date", "ban_compliance": "compliance"}),
    )
    floor = replace(
        sc.cross_border_floor,
        **_pick(given, {"floor": "enabled", "floor_date": "date", "floor_usd": "min_unit_price_usd"}),
    )
    pilot = replace(
        sc.tiktok_tokopedia_pilot,
        **_pick(
            given,
            {
                "pilot": "enabled",
                "relaunch_date": "relaunch_date",
                "local_priority": "local_priority",
                "trial_weeks": "trial_weeks",
                "migration_date": "migration_date",
            },
        ),
    )
    kppu = replace(sc.kppu_conditions, **_pick(given, {"kppu_conditions": "enabled", "kppu_date": "date"}))
    scenario = replace(
        sc,
        social_commerce_ban=ban,
        cross_border_floor=floor,
        tiktok_tokopedia_pilot=pilot,
        kppu_conditions=kppu,
    )
    if scenario != sc:
        scenario = replace(scenario, name=_custom_name(sc))
    market = cfg.market
    shoppers = replace(
        market.shoppers, **_pick(given, {"n_shoppers": "n_agents", "link_follow_share": "link_follow_share"})
    )
    msmes = replace(market.msmes, **_pick(given, {"n_msmes": "n_agents"}))
    platforms = dict(market.platforms)
    if "tiktok_commission_scale" in given:
        scale = given["tiktok_commission_scale"]
        key = _platform_key(cfg, pilot.storefront)
        p = platforms[key]
        platforms[key] = replace(
            p,
            commission=p.commission * scale,
            commission_changes=[replace(change, rate=change.rate * scale) for change in p.commission_changes],
        )
    market = replace(market, shoppers=shoppers, msmes=msmes, platforms=platforms)
    return replace(
        cfg,
        scenario=scenario,
        market=market,
        **_pick(given, {"burn_in_weeks": "burn_in_weeks", "end_date": "end_date"}),
    )


def _pick(given: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    return {field_name: given[lever] for lever, field_name in mapping.items() if lever in given}


def _custom_name(scenario: ScenarioConfig) -> str:
    """A scenario changed by levers is no longer the named one: its table rows say so."""
    return scenario.name if scenario.name.endswith("+levers") else f"{scenario.name}+levers"


def _platform_key(cfg: Config, name: str) -> str:
    for key, p in cfg.market.platforms.items():
        if p.name == name:
            return key
    raise ConfigError("tiktok_commission_scale", f"no storefront named {name!r} in the roster")


def model_config(cfg: Config | None, rng: Any, policy: str | None, levers: Levers) -> Config:
    """The config ``EcommerceModel`` runs: ``cfg`` (or the packaged defaults), the named ``policy``
    scenario if one is given, the seed ``rng`` if given, then the levers."""
    if cfg is None:
        cfg = default_config(policy or "history")
    elif policy is not None:
        cfg = replace(cfg, scenario=default_config(policy).scenario)
    if rng is not None:
        if isinstance(rng, bool) or not isinstance(rng, int | np.integer):
            raise ConfigError(
                "rng",
                f"give an integer seed (the model spawns its own streams from it), got {type(rng).__name__}",
            )
        cfg = replace(cfg, seed=int(rng))
    return apply_levers(cfg, levers)
