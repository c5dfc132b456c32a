"""Config schema: plain dataclasses, the single source of every parameter's type and default.

The model core reads these dataclasses only; Hydra registers them in its ConfigStore (see
``sim.hydra_app``) so that a typo or a wrong type fails when the config is composed. Semantic checks
that a type cannot express (counts, probabilities, dates, roster names, shares that add up) live in
``validate``. Units are in the field names or the comments; sources are in ``conf/market/default.yaml``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any


class ConfigError(ValueError):
    """A config value that is not allowed; the message names the key and what is allowed."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass
class RateChange:
    """A dated change of a platform rate (for example a commission)."""

    date: str = "2023-06-01"
    rate: float = 0.0


@dataclass
class PlatformConfig:
    name: str = "Platform"
    kind: str = "marketplace"  # marketplace | social
    operator: str = "Operator"  # operator group that owns the storefront before any deal
    launch_date: str = "2000-01-01"
    commission: float = 0.05  # share of GMV kept by the platform (take rate)
    commission_changes: list[RateChange] = field(default_factory=list)
    subsidy: float = 0.02  # buyer subsidy, share of list price paid by the platform
    subsidy_min: float = 0.0
    subsidy_max: float = 0.10
    subsidy_budget_idr_per_year: float = 5.0e12
    brand_utility: float = 0.0  # alternative-specific constant of the channel logit (utils)
    discovery_strength: float = 0.0  # content-driven exposure a user of the app gets per week
    reach: float = 1.0  # share of shoppers who can ever adopt the app
    initial_adoption: float = 0.0  # share of shoppers using the app on the start date
    adoption_innovation_per_week: float = 0.002  # Bass p: adoption without word of mouth
    adoption_wom_per_week: float = 0.03  # Bass q: adoption per unit share of ties using the app
    initial_seller_share: float = 0.3  # share of online-ready sellers listed on the start date


@dataclass
class ShopperConfig:
    n_agents: int = 20_000
    population: float = 210.0e6  # people the shoppers stand for
    budget_median_idr: float = 230_000.0  # spend per shopping occasion, IDR
    budget_sigma: float = 0.7  # lognormal sigma of the budget across shoppers
    shop_prob_mean: float = 0.5  # mean weekly probability of a planned shopping occasion
    shop_prob_concentration: float = 4.0  # beta-distribution concentration of that probability
    price_sensitivity_mean: float = 6.0  # utils per unit of log effective price
    price_sensitivity_sd: float = 1.5
    discovery_taste_a: float = 1.2  # beta(a, b) taste for entertainment / discovery
    discovery_taste_b: float = 2.0
    local_preference_a: float = 2.0  # beta(a, b) preference for local goods
    local_preference_b: float = 3.0
    network_degree: int = 8  # ties per shopper in the social network
    network_rewire_prob: float = 0.1  # Watts-Strogatz rewiring probability
    variety_weight: float = 0.3  # utils per unit of log share of sellers listed on a platform
    discovery_weight: float = 2.0  # utils per unit of discovery exposure x taste
    local_weight: float = 0.5  # utils per unit of local-goods share x local preference
    online_nest_lambda: float = 0.5  # nested logit: storefronts are closer substitutes (1 = plain logit)
    habit_weight: float = 2.0  # utils per unit of habit stock
    habit_learning_rate: float = 0.15  # weight of this week's choice in the habit stock
    impulse_rate: float = 0.4  # weekly discovery-purchase probability per unit exposure x taste
    impulse_spend_share: float = 0.5  # discovery purchase size relative to the budget
    offline_utility: float = 0.0  # alternative-specific constant of the offline channel


@dataclass
class MSMEConfig:
    n_agents: int = 5_000
    firms: float = 64.2e6  # national MSME count the local and import-reseller agents stand for
    cross_border_firms: float = 200_000.0  # foreign sellers the cross-border agents stand for
    origin_agent_shares: dict[str, float] = field(
        default_factory=lambda: {"local": 0.6, "import_reseller": 0.3, "cross_border": 0.1}
    )
    import_reseller_firm_share: float = 0.3  # share of domestic MSMEs that resell imports
    categories: list[str] = field(
        default_factory=lambda: ["fashion", "beauty", "electronics", "household", "food"]
    )
    unit_cost_local: float = 0.75  # unit cost relative to the reference price 1.0
    unit_cost_import_reseller: float = 0.65
    unit_cost_cross_border: float = 0.5
    markup: float = 0.3  # initial price = cost x (1 + markup)
    min_markup: float = 0.02
    max_markup: float = 1.0
    quality_sd: float = 0.3
    size_sigma: float = 1.2  # lognormal sigma of firm scale: the heavy tail of revenue
    capacity_slack: float = 1.6  # capacity / expected sales at start
    price_elasticity: float = 3.0  # seller attractiveness ~ price^-elasticity
    price_adjust_rate: float = 0.05  # weekly markup change per unit of (utilisation - target)
    capacity_adjust_rate: float = 0.02  # weekly capacity growth per unit of (utilisation - target)
    target_utilisation: float = 0.7
    stall_share: float = 0.85  # share of domestic MSMEs with an offline stall
    online_ready_share: float = 0.1  # share of MSMEs with a stall that also sell online at start
    listing_cost_share: float = 0.01  # weekly cost of one storefront, share of weekly capacity
    stall_cost_share: float = 0.08  # weekly cost of an offline stall, share of weekly capacity
    join_rate: float = 0.004  # weekly base probability of joining a platform
    peer_weight: float = 1.0  # weight of peers (same category) listed on the platform
    leave_rate: float = 0.05  # weekly probability of leaving an unprofitable platform
    profit_memory: float = 0.2  # weight of this week in the profit moving average
    exit_weeks_of_cost: float = 13.0  # exit when cash < -(weeks x (stall + one storefront) cost)
    initial_cash_weeks: float = 8.0  # starting cash, in weeks of fixed cost
    entry_rate_per_week: float = 0.02  # weekly chance a vacant slot is taken by a new firm
    cross_border_unit_price_median_usd: float = 8.0
    cross_border_unit_price_sigma: float = 1.2


@dataclass
class PlatformRule:
    subsidy_response: float = 0.05  # subsidy rise per unit relative share loss vs trailing mean
    subsidy_reversion: float = 0.05  # weekly pull of the subsidy back toward its base rate
    share_memory_weeks: int = 13


@dataclass
class MarketConfig:
    platforms: dict[str, PlatformConfig] = field(default_factory=dict)
    shoppers: ShopperConfig = field(default_factory=ShopperConfig)
    msmes: MSMEConfig = field(default_factory=MSMEConfig)
    platform_rule: PlatformRule = field(default_factory=PlatformRule)
    usd_idr: float = 15_500.0


@dataclass
class BanConfig:
    enabled: bool = False
    date: str = "2023-10-04"
    compliance: float = 1.0  # share of social-platform transactions that stop
    link_leak_share: float = 0.45  # share of discovery demand that reaches marketplaces via links
    platforms: list[str] = field(default_factory=list)  # empty: every social platform


@dataclass
class FloorConfig:
    enabled: bool = False
    date: str = "2023-09-26"
    min_unit_price_usd: float = 100.0
    positive_list_share: float = 0.05  # share of cross-border goods exempt (books, films, music)


@dataclass
class PilotConfig:
    enabled: bool = False
    storefront: str = "TikTok Shop"
    partner: str = "Tokopedia"
    deal_date: str = "2023-12-11"  # announcement (TikTok buys 75.01% of Tokopedia)
    close_date: str = "2024-01-31"  # legal close: one operator group from here
    relaunch_date: str = "2023-12-12"
    relaunch_ramp_weeks: int = 6  # weeks over which the relaunched checkout reaches all its users
    trial_weeks: int = 16
    local_priority: float = 0.3  # ranking boost of local producers during the trial
    migration_date: str = "2024-03-12"
    backend_join_boost: float = 5.0  # joining-rate multiplier for partner sellers after migration


@dataclass
class KppuConfig:
    """KPPU's conditional approval of the TikTok-Tokopedia merger (2025-06-17): open payment and
    logistics, no self-preferencing between the group's storefronts."""

    enabled: bool = False
    date: str = "2025-06-17"


@dataclass
class ScenarioConfig:
    name: str = "no_policy"
    description: str = ""
    social_commerce_ban: BanConfig = field(default_factory=BanConfig)
    cross_border_floor: FloorConfig = field(default_factory=FloorConfig)
    tiktok_tokopedia_pilot: PilotConfig = field(default_factory=PilotConfig)
    kppu_conditions: KppuConfig = field(default_factory=KppuConfig)


MSME_HISTORY_FIELDS = ("revenue_idr", "price", "cash_idr", "capacity_idr", "storefronts", "active")
SHOPPER_HISTORY_FIELDS = ("apps", "budget")


@dataclass
class AgentHistoryConfig:
    """Opt-in agent-level history: chosen fields of every agent, every K weeks, bounded in size."""

    every_weeks: int = 0  # 0 = off; K = record the fields every K weeks
    msme_fields: list[str] = field(
        default_factory=lambda: ["revenue_idr", "price", "cash_idr", "storefronts"])
    shopper_fields: list[str] = field(default_factory=list)
    max_mb: float = 512.0  # refuse a history that would hold more than this in memory


@dataclass
class Config:
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    market: MarketConfig = field(default_factory=MarketConfig)
    seed: int = 0
    seeds: int = 1  # run seeds seed, seed+1, ..., seed+seeds-1: one table, figures with bands
    start_date: str = "2021-01-04"
    end_date: str = "2025-12-29"
    burn_in_weeks: int = 52  # unrecorded weeks under the start date's rules before the start
    counterfactual: str | None = "no_policy"
    progress: str = "auto"  # auto | on | off
    figures: bool = True
    force: bool = False  # rerun even if summary.json shows this run finished with this config
    point_file: str = ""  # CSV of parameter points (columns are config keys), for sampled sweeps
    point: int = -1  # row of point_file whose values override the config (-1 = none)
    agent_history: AgentHistoryConfig = field(default_factory=AgentHistoryConfig)


def parse_date(key: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ConfigError(key, f"{value!r} is not a date; use YYYY-MM-DD") from None


def _positive(key: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(key, f"must be > 0, got {value}")


def _non_negative(key: str, value: float) -> None:
    if not value >= 0:
        raise ConfigError(key, f"must be >= 0, got {value}")


def _unit_interval(key: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(key, f"must be in [0, 1], got {value}")


def _in_horizon(key: str, value: str, start: dt.date, end: dt.date) -> dt.date:
    day = parse_date(key, value)
    if not start <= day <= end:
        raise ConfigError(key, f"{value} is outside the horizon {start} to {end}")
    return day


PROBABILITY_FIELDS = {
    "PlatformConfig": ["commission", "subsidy", "subsidy_min", "subsidy_max", "reach",
                       "initial_adoption", "adoption_innovation_per_week",
                       "adoption_wom_per_week", "initial_seller_share"],
    "ShopperConfig": ["shop_prob_mean", "network_rewire_prob", "habit_learning_rate",
                      "impulse_rate"],
    "MSMEConfig": ["import_reseller_firm_share", "stall_share", "online_ready_share",
                   "join_rate", "leave_rate", "profit_memory", "entry_rate_per_week",
                   "target_utilisation", "min_markup"],
    "BanConfig": ["compliance", "link_leak_share"],
    "FloorConfig": ["positive_list_share"],
}


def _check_probabilities(prefix: str, node: Any) -> None:
    for name in PROBABILITY_FIELDS.get(type(node).__name__, []):
        _unit_interval(f"{prefix}.{name}", getattr(node, name))


def validate(cfg: Config) -> None:
    """Raise ConfigError for the first value a type cannot rule out but the model cannot use."""
    start = parse_date("start_date", cfg.start_date)
    end = parse_date("end_date", cfg.end_date)
    if end <= start:
        raise ConfigError("end_date", f"{cfg.end_date} must be after start_date {cfg.start_date}")
    if cfg.seeds < 1:
        raise ConfigError("seeds", f"must be >= 1 (the number of seeds in the run), got {cfg.seeds}")
    if cfg.burn_in_weeks < 0:
        raise ConfigError("burn_in_weeks", f"must be >= 0, got {cfg.burn_in_weeks}")
    if cfg.progress not in ("auto", "on", "off"):
        raise ConfigError("progress", f"{cfg.progress!r} is not one of auto, on, off")
    _validate_market(cfg.market, start)
    _validate_scenario(cfg.scenario, cfg.market, start, end)
    _validate_history(cfg, (end - start).days // 7 + 1)


def _validate_history(cfg: Config, n_weeks: int) -> None:
    h = cfg.agent_history
    if h.every_weeks < 0:
        raise ConfigError("agent_history.every_weeks", f"must be >= 0 (0 = off), got {h.every_weeks}")
    for key, given, allowed in (("msme_fields", h.msme_fields, MSME_HISTORY_FIELDS),
                                ("shopper_fields", h.shopper_fields, SHOPPER_HISTORY_FIELDS)):
        for i, name in enumerate(given):
            if name not in allowed:
                raise ConfigError(f"agent_history.{key}.{i}",
                                  f"{name!r} is not one of {', '.join(allowed)}")
    if h.every_weeks:
        snapshots = -(-n_weeks // h.every_weeks)
        values = snapshots * (cfg.market.msmes.n_agents * len(h.msme_fields)
                              + cfg.market.shoppers.n_agents * len(h.shopper_fields))
        megabytes = values * 4 / 2**20
        if megabytes > h.max_mb:
            raise ConfigError("agent_history.every_weeks",
                              f"would hold {megabytes:.0f} MB, above agent_history.max_mb="
                              f"{h.max_mb:g}; record fewer fields or less often")


def _validate_market(market: MarketConfig, start: dt.date) -> None:
    if not market.platforms:
        raise ConfigError("market.platforms", "the roster is empty; give at least one platform")
    names = [p.name for p in market.platforms.values()]
    if len(set(names)) != len(names):
        raise ConfigError("market.platforms", f"storefront names must be unique, got {names}")
    for key, p in market.platforms.items():
        prefix = f"market.platforms.{key}"
        if p.kind not in ("marketplace", "social"):
            raise ConfigError(f"{prefix}.kind", f"{p.kind!r} is not one of marketplace, social")
        parse_date(f"{prefix}.launch_date", p.launch_date)
        _check_probabilities(prefix, p)
        if p.subsidy_min > p.subsidy_max:
            raise ConfigError(f"{prefix}.subsidy_min", "must not exceed subsidy_max")
        _non_negative(f"{prefix}.subsidy_budget_idr_per_year", p.subsidy_budget_idr_per_year)
        _non_negative(f"{prefix}.discovery_strength", p.discovery_strength)
        for i, change in enumerate(p.commission_changes):
            parse_date(f"{prefix}.commission_changes.{i}.date", change.date)
            _unit_interval(f"{prefix}.commission_changes.{i}.rate", change.rate)
    s = market.shoppers
    for name in ("n_agents", "population", "budget_median_idr", "shop_prob_concentration",
                 "discovery_taste_a", "discovery_taste_b", "local_preference_a",
                 "local_preference_b"):
        _positive(f"market.shoppers.{name}", getattr(s, name))
    for name in ("budget_sigma", "price_sensitivity_sd", "impulse_spend_share"):
        _non_negative(f"market.shoppers.{name}", getattr(s, name))
    if s.network_degree < 0 or s.network_degree % 2 or s.network_degree >= s.n_agents:
        raise ConfigError("market.shoppers.network_degree",
                          f"must be an even number >= 0 and below n_agents, got {s.network_degree}")
    _check_probabilities("market.shoppers", s)
    if not 0.0 < s.online_nest_lambda <= 1.0:
        raise ConfigError("market.shoppers.online_nest_lambda",
                          f"must be in (0, 1], got {s.online_nest_lambda}")
    m = market.msmes
    for name in ("n_agents", "firms", "unit_cost_local", "unit_cost_import_reseller",
                 "unit_cost_cross_border", "capacity_slack", "price_elasticity",
                 "cross_border_unit_price_median_usd", "exit_weeks_of_cost"):
        _positive(f"market.msmes.{name}", getattr(m, name))
    for name in ("cross_border_firms", "markup", "quality_sd", "size_sigma",
                 "listing_cost_share", "stall_cost_share", "peer_weight",
                 "price_adjust_rate", "capacity_adjust_rate", "initial_cash_weeks", "max_markup",
                 "cross_border_unit_price_sigma"):
        _non_negative(f"market.msmes.{name}", getattr(m, name))
    _check_probabilities("market.msmes", m)
    allowed = {"local", "import_reseller", "cross_border"}
    if set(m.origin_agent_shares) != allowed:
        raise ConfigError("market.msmes.origin_agent_shares",
                          f"keys must be exactly {sorted(allowed)}, got {sorted(m.origin_agent_shares)}")
    for origin, share in m.origin_agent_shares.items():
        _unit_interval(f"market.msmes.origin_agent_shares.{origin}", share)
    total = sum(m.origin_agent_shares.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError("market.msmes.origin_agent_shares", f"shares must sum to 1, got {total:.6g}")
    if not m.categories:
        raise ConfigError("market.msmes.categories", "give at least one category")
    _positive("market.usd_idr", market.usd_idr)
    _non_negative("market.platform_rule.subsidy_response", market.platform_rule.subsidy_response)
    _unit_interval("market.platform_rule.subsidy_reversion", market.platform_rule.subsidy_reversion)
    if market.platform_rule.share_memory_weeks < 1:
        raise ConfigError("market.platform_rule.share_memory_weeks", "must be >= 1")


def _validate_scenario(sc: ScenarioConfig, market: MarketConfig, start: dt.date,
                       end: dt.date) -> None:
    names = {p.name for p in market.platforms.values()}
    roster = ", ".join(sorted(names))
    ban = sc.social_commerce_ban
    _check_probabilities("scenario.social_commerce_ban", ban)
    for i, platform in enumerate(ban.platforms):
        if platform not in names:
            raise ConfigError(f"scenario.social_commerce_ban.platforms.{i}",
                              f"{platform!r} is not in the roster ({roster})")
    if ban.enabled:
        _in_horizon("scenario.social_commerce_ban.date", ban.date, start, end)
    floor = sc.cross_border_floor
    _check_probabilities("scenario.cross_border_floor", floor)
    _non_negative("scenario.cross_border_floor.min_unit_price_usd", floor.min_unit_price_usd)
    if floor.enabled:
        _in_horizon("scenario.cross_border_floor.date", floor.date, start, end)
    pilot = sc.tiktok_tokopedia_pilot
    for key in ("storefront", "partner"):
        if getattr(pilot, key) not in names:
            raise ConfigError(f"scenario.tiktok_tokopedia_pilot.{key}",
                              f"{getattr(pilot, key)!r} is not in the roster ({roster})")
    _non_negative("scenario.tiktok_tokopedia_pilot.local_priority", pilot.local_priority)
    _non_negative("scenario.tiktok_tokopedia_pilot.backend_join_boost", pilot.backend_join_boost)
    if pilot.trial_weeks < 1:
        raise ConfigError("scenario.tiktok_tokopedia_pilot.trial_weeks",
                          f"must be >= 1, got {pilot.trial_weeks}")
    if pilot.enabled:
        prefix = "scenario.tiktok_tokopedia_pilot"
        relaunch = _in_horizon(f"{prefix}.relaunch_date", pilot.relaunch_date, start, end)
        _in_horizon(f"{prefix}.deal_date", pilot.deal_date, start, end)
        migration = _in_horizon(f"{prefix}.migration_date", pilot.migration_date, start, end)
        if migration < relaunch:
            raise ConfigError(f"{prefix}.migration_date",
                              f"{pilot.migration_date} is before relaunch_date {pilot.relaunch_date}")
        if ban.enabled and relaunch < parse_date("scenario.social_commerce_ban.date", ban.date):
            raise ConfigError(f"{prefix}.relaunch_date",
                              f"{pilot.relaunch_date} is before the ban date {ban.date}")


def dataclass_keys(node: Any, prefix: str = "") -> list[str]:
    """Dotted keys of every leaf field, for documentation and for the parameter table test."""
    keys: list[str] = []
    for f in fields(node):
        value = getattr(node, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(value):
            keys += dataclass_keys(value, key + ".")
        else:
            keys.append(key)
    return keys
