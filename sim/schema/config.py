"""Config schema: plain dataclasses, the single source of every parameter's type, default and bounds.

The model core reads these dataclasses only; Hydra registers them in its ConfigStore (see
``sim.experiments.compose``) so that a typo or a wrong type fails when the config is composed. ``validate``
is the one place every value is checked before anything is built or written. Units are in the
field names or the comments; sources are in ``conf/market/default.yaml``.

Bounds live beside each field, in its metadata, and ``validate`` checks them generically::

    share: float = field(default=0.5, metadata=bounds(0, 1))             # 0 <= share <= 1
    rate: float = field(default=2.0, metadata=bounds(0, 10, lo_open=True))  # 0 < rate <= 10
    kind: str = field(default="a", metadata=choice("a", "b"))             # one of a, b
    day: str = field(default="2024-01-01", metadata=iso_date())           # YYYY-MM-DD
    label: str = field(default="x", metadata=nonempty())                  # not ""

Every ``int`` and ``float`` field must declare ``bounds`` (tests/test_config_bounds.py fails
otherwise); every number must also be finite. A bound on a ``dict``/``list`` field applies to each
value (``social_affinity: dict[str, float] = field(default_factory=..., metadata=bounds(0, 10))``).
Checks between fields (orderings, caps, dates in the window and in order, names in the roster,
shares that add up) and the resource guard (memory and time estimated from the sizes) follow the
per-field checks in ``validate``: raise ``ConfigError(key, message, related=(other keys,))`` and
state the relation with ``note=`` in the field's metadata (``bounds(0, 1, note="<= reach")``).

To add a field: declare it with its metadata, add its row to docs/parameters.md, then run
``python tools/sync_param_docs.py``, which writes the row's default and bounds columns.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any


class ConfigError(ValueError):
    """A config value that is not allowed; the message names the key and what is allowed.

    ``related`` lists the other keys a consistency check involves (a cap, the other end of an
    ordering), so that a caller can tell which of its changes was refused."""

    def __init__(self, key: str, message: str, related: tuple[str, ...] = ()) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message
        self.keys = (key, *related)

    def __reduce__(self) -> tuple:
        # Picklable, so that an error raised in a worker process reaches the parent as itself.
        return (type(self), (self.key, self.message, self.keys[1:]))


@dataclass(frozen=True)
class Bounds:
    """A closed, half-open or open interval of allowed values of a numeric field."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below

    def text(self) -> str:
        def show(x: float) -> str:
            return str(x) if isinstance(x, int) else f"{x:g}"

        return f"{'(' if self.lo_open else '['}{show(self.lo)}, {show(self.hi)}{')' if self.hi_open else ']'}"


def bounds(
    lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False, note: str = ""
) -> dict[str, Any]:
    """Field metadata: the value must lie between ``lo`` and ``hi`` (inclusive unless open).
    ``note`` states a check against other fields (documentation; ``validate`` makes the check)."""
    return {"bounds": Bounds(lo, hi, lo_open, hi_open), "note": note}


def choice(*options: str, note: str = "") -> dict[str, Any]:
    """Field metadata: the value must be one of ``options``."""
    return {"choices": options, "note": note}


def iso_date(note: str = "") -> dict[str, Any]:
    """Field metadata: the value must be a date written YYYY-MM-DD."""
    return {"date": True, "note": note}


def nonempty(note: str = "") -> dict[str, Any]:
    """Field metadata: the value (or each value of a list) must not be an empty string."""
    return {"nonempty": True, "note": note}


def note(text: str) -> dict[str, Any]:
    """Field metadata for a field with no bounds of its own (a flag, a list): what is checked."""
    return {"note": text}


def allowed_text(meta: Any, kind: str = "") -> str:
    """What a field allows, in words, from its metadata (the bounds column of docs/parameters.md)."""
    parts = []
    if "bounds" in meta:
        parts.append(("integer in " if kind == "int" else "") + meta["bounds"].text())
    if "choices" in meta:
        parts.append("one of " + ", ".join(meta["choices"]))
    if meta.get("date"):
        parts.append("date YYYY-MM-DD")
    if meta.get("nonempty"):
        parts.append("not empty")
    if meta.get("note"):
        parts.append(meta["note"])
    return "; ".join(parts)


MAX_SEED = 2**32 - 1  # numpy seeds any non-negative int; the bound keeps seeds storable everywhere
MAX_BURN_IN_WEEKS = 520
MAX_HORIZON_WEEKS = 2_600  # 50 years of weekly steps


@dataclass
class RateChange:
    """A dated change of a platform rate (for example a commission)."""

    date: str = field(default="2023-06-01", metadata=iso_date())
    rate: float = field(default=0.0, metadata=bounds(0, 1))


@dataclass
class PlatformConfig:
    name: str = field(default="Platform", metadata=nonempty())
    kind: str = field(default="marketplace", metadata=choice("marketplace", "social"))
    # operator group that owns the storefront before any deal
    operator: str = field(default="Operator", metadata=nonempty())
    launch_date: str = field(default="2000-01-01", metadata=iso_date())
    # share of GMV kept by the platform (take rate)
    commission: float = field(default=0.05, metadata=bounds(0, 1))
    commission_changes: list[RateChange] = field(
        default_factory=list, metadata=note("each date once; replaces `commission` from its date")
    )
    # buyer subsidy, share of list price paid by the platform
    subsidy: float = field(
        default=0.02, metadata=bounds(0, 0.95, note="subsidy_min <= subsidy <= subsidy_max")
    )
    subsidy_min: float = field(default=0.0, metadata=bounds(0, 0.95))
    subsidy_max: float = field(default=0.10, metadata=bounds(0, 0.95))
    subsidy_budget_idr_per_year: float = field(default=5.0e12, metadata=bounds(0, 1e16))
    # alternative-specific constant of the channel logit (utils)
    brand_utility: float = field(default=0.0, metadata=bounds(-20, 20))
    # content-driven exposure a user of the app gets per week
    discovery_strength: float = field(default=0.0, metadata=bounds(0, 100))
    reach: float = field(default=1.0, metadata=bounds(0, 1))  # share of shoppers who can ever adopt the app
    # share of shoppers using the app on the start date
    initial_adoption: float = field(default=0.0, metadata=bounds(0, 1, note="<= reach"))
    # Bass p: adoption without word of mouth
    adoption_innovation_per_week: float = field(default=0.002, metadata=bounds(0, 1))
    # Bass q: adoption per unit share of ties using the app
    adoption_wom_per_week: float = field(default=0.03, metadata=bounds(0, 1))
    # share of online-ready sellers listed on the start date
    initial_seller_share: float = field(default=0.3, metadata=bounds(0, 1))
    # discovery strength its live and video content can reach (its content budget)
    content_cap: float = field(default=0.0, metadata=bounds(0, 100))
    # share of its GMV in virtual goods (phone credit, bills, vouchers): sold by no MSME
    virtual_goods_share: float = field(default=0.0, metadata=bounds(0, 1, hi_open=True))


@dataclass
class ShopperConfig:
    n_agents: int = field(default=20_000, metadata=bounds(1, 100_000_000))
    # people the shoppers stand for
    population: float = field(default=210.0e6, metadata=bounds(1, 1e10))
    # spend per shopping occasion, IDR
    budget_median_idr: float = field(default=230_000.0, metadata=bounds(1, 1e9))  # at least 1 IDR
    # lognormal sigma of the budget across shoppers
    budget_sigma: float = field(default=0.7, metadata=bounds(0, 5))
    # mean weekly probability of a planned shopping occasion
    shop_prob_mean: float = field(default=0.5, metadata=bounds(0, 1, lo_open=True, hi_open=True))
    # beta-distribution concentration of that probability
    shop_prob_concentration: float = field(default=4.0, metadata=bounds(0, 1e4, lo_open=True))
    # utils per unit of log effective price
    price_sensitivity_mean: float = field(default=6.0, metadata=bounds(0, 50))
    price_sensitivity_sd: float = field(default=1.5, metadata=bounds(0, 20))
    # beta(a, b) taste for entertainment / discovery
    discovery_taste_a: float = field(default=1.2, metadata=bounds(0, 100, lo_open=True))
    discovery_taste_b: float = field(default=2.0, metadata=bounds(0, 100, lo_open=True))
    # beta(a, b) preference for local goods
    local_preference_a: float = field(default=2.0, metadata=bounds(0, 100, lo_open=True))
    local_preference_b: float = field(default=3.0, metadata=bounds(0, 100, lo_open=True))
    # ties per shopper in the social network
    network_degree: int = field(default=8, metadata=bounds(0, 100, note="even, below n_agents"))
    # Watts-Strogatz rewiring probability
    network_rewire_prob: float = field(default=0.1, metadata=bounds(0, 1))
    # utils per unit of log share of sellers listed on a platform
    variety_weight: float = field(default=0.3, metadata=bounds(0, 20))
    # utils per unit of discovery exposure x taste
    discovery_weight: float = field(default=2.0, metadata=bounds(0, 20))
    # utils per unit of local-goods share x local preference
    local_weight: float = field(default=0.5, metadata=bounds(-20, 20))
    # nested logit: storefronts are closer substitutes (1 = plain logit)
    online_nest_lambda: float = field(default=0.5, metadata=bounds(0, 1, lo_open=True))
    habit_weight: float = field(default=2.0, metadata=bounds(0, 20))  # utils per unit of habit stock
    # weight of this week's choice in the habit stock
    habit_learning_rate: float = field(default=0.15, metadata=bounds(0, 1))
    # weekly discovery-purchase probability per unit exposure x taste
    impulse_rate: float = field(default=0.4, metadata=bounds(0, 1))
    # discovery purchase size relative to the budget
    impulse_spend_share: float = field(default=0.5, metadata=bounds(0, 10))
    # alternative-specific constant of the offline channel
    offline_utility: float = field(default=0.0, metadata=bounds(-20, 20))
    # one-factor copula rho tying app holdings together
    app_holding_correlation: float = field(default=0.0, metadata=bounds(0, 1, hi_open=True))
    # share of blocked discovery demand that follows sellers' links to marketplaces
    link_follow_share: float = field(default=0.45, metadata=bounds(0, 1))
    # share of a discovery purchase taken from later planned spend (same household budget)
    impulse_displacement: float = field(default=0.0, metadata=bounds(0, 1))
    # quantity elasticity of spend; 1 = fixed out-of-pocket spend
    spend_price_elasticity: float = field(default=1.0, metadata=bounds(0, 10, lo_open=True))


@dataclass
class MSMEConfig:
    n_agents: int = field(default=5_000, metadata=bounds(1, 10_000_000))
    # national MSME count the local and import-reseller agents stand for
    firms: float = field(default=64.2e6, metadata=bounds(1, 1e10))
    # foreign sellers the cross-border agents stand for
    cross_border_firms: float = field(default=200_000.0, metadata=bounds(0, 1e9))
    # large firms (sales above IDR 50 bn a year, PP 7/2021): brands' official stores online
    large_firms: float = field(default=5_550.0, metadata=bounds(0, 1e9))
    # agents standing for the large firms, on top of n_agents (0: no large firms)
    large_agents: int = field(default=0, metadata=bounds(0, 1_000_000))
    # large firms' share of all sellers' starting capacity
    large_capacity_share: float = field(default=0.0, metadata=bounds(0, 1, hi_open=True))
    origin_agent_shares: dict[str, float] = field(
        default_factory=lambda: {"local": 0.6, "import_reseller": 0.3, "cross_border": 0.1},
        metadata=bounds(0, 1, note="keys local, import_reseller, cross_border; sum 1"),
    )
    # share of domestic MSMEs that resell imports
    import_reseller_firm_share: float = field(
        default=0.3, metadata=bounds(0, 1, note="each origin with agents stands for >= 1 firm")
    )
    categories: list[str] = field(
        default_factory=lambda: ["fashion", "beauty", "electronics", "household", "food"],
        metadata=nonempty(note="at least one; unique"),
    )
    # unit cost relative to the reference price 1.0
    unit_cost_local: float = field(default=0.75, metadata=bounds(0, 10, lo_open=True))
    unit_cost_import_reseller: float = field(default=0.65, metadata=bounds(0, 10, lo_open=True))
    unit_cost_cross_border: float = field(default=0.5, metadata=bounds(0, 10, lo_open=True))
    # initial price = cost x (1 + markup)
    markup: float = field(default=0.3, metadata=bounds(0, 10, note="min_markup <= markup <= max_markup"))
    min_markup: float = field(default=0.02, metadata=bounds(0, 10))
    max_markup: float = field(default=1.0, metadata=bounds(0, 10))
    quality_sd: float = field(default=0.3, metadata=bounds(0, 5))
    # lognormal sigma of firm scale: the heavy tail of revenue
    size_sigma: float = field(default=1.2, metadata=bounds(0, 5))
    # capacity / expected sales at start
    capacity_slack: float = field(default=1.6, metadata=bounds(0, 100, lo_open=True))
    # seller attractiveness ~ price^-elasticity
    price_elasticity: float = field(default=3.0, metadata=bounds(0, 50, lo_open=True))
    # weekly markup change per unit of (utilisation - target)
    price_adjust_rate: float = field(default=0.05, metadata=bounds(0, 1))
    # weekly capacity growth per unit of (utilisation - target)
    capacity_adjust_rate: float = field(default=0.02, metadata=bounds(0, 1))
    target_utilisation: float = field(default=0.7, metadata=bounds(0, 1, lo_open=True))
    # share of domestic MSMEs with an offline stall
    stall_share: float = field(default=0.85, metadata=bounds(0, 1))
    # share of MSMEs with a stall that also sell online at start
    online_ready_share: float = field(default=0.1, metadata=bounds(0, 1))
    # weekly cost of one storefront, share of weekly capacity
    listing_cost_share: float = field(default=0.01, metadata=bounds(0, 1))
    # weekly cost of an offline stall, share of weekly capacity
    stall_cost_share: float = field(default=0.08, metadata=bounds(0, 1))
    # weekly base probability of joining a platform
    join_rate: float = field(default=0.004, metadata=bounds(0, 1))
    # weight of peers (same category) listed on the platform
    peer_weight: float = field(default=1.0, metadata=bounds(0, 100))
    # weekly probability of leaving an unprofitable platform
    leave_rate: float = field(default=0.05, metadata=bounds(0, 1))
    # weight of this week in the profit moving average
    profit_memory: float = field(default=0.2, metadata=bounds(0, 1))
    # exit when cash < -(weeks x (stall + one storefront) cost)
    exit_weeks_of_cost: float = field(default=13.0, metadata=bounds(0, 520, lo_open=True))
    # starting cash, in weeks of fixed cost
    initial_cash_weeks: float = field(default=8.0, metadata=bounds(0, 520))
    # weekly chance a vacant slot is taken by a new firm
    entry_rate_per_week: float = field(default=0.02, metadata=bounds(0, 1))
    cross_border_unit_price_median_usd: float = field(default=8.0, metadata=bounds(0, 1e6, lo_open=True))
    cross_border_unit_price_sigma: float = field(default=1.2, metadata=bounds(0, 5))
    # share of a storefront's commission added to its prices
    commission_pass_through: float = field(default=0.0, metadata=bounds(0, 1))
    # joining-rate multiplier on social storefronts, by seller origin
    social_affinity: dict[str, float] = field(
        default_factory=lambda: {"local": 1.0, "import_reseller": 1.0, "cross_border": 1.0},
        metadata=bounds(0, 100, note="keys local, import_reseller, cross_border"),
    )


@dataclass
class PlatformRule:
    # subsidy rise per unit relative share loss vs trailing mean
    subsidy_response: float = field(default=0.05, metadata=bounds(0, 10))
    # weekly pull of the subsidy back toward its base rate
    subsidy_reversion: float = field(default=0.05, metadata=bounds(0, 1))
    share_memory_weeks: int = field(default=13, metadata=bounds(1, 520))
    # weekly content build-up per unit of discovery share of online GMV
    content_response: float = field(default=0.0, metadata=bounds(0, 100))


@dataclass
class MacroConfig:
    """The dated income and price path households' budgets follow (calendar years as keys)."""

    # Dec-on-Dec CPI inflation, share per year
    cpi_inflation: dict[str, float] = field(
        default_factory=dict,
        metadata=bounds(-0.5, 1, lo_open=True, hi_open=True, note="keys are calendar years YYYY"),
    )
    # real spend growth per person, share per year
    real_spend_growth: dict[str, float] = field(
        default_factory=dict,
        metadata=bounds(-0.5, 1, lo_open=True, hi_open=True, note="keys are calendar years YYYY"),
    )
    # last day of COVID-19 mobility restrictions (PPKM)
    mobility_restrictions_until: str = field(default="2000-01-01", metadata=iso_date())
    # utils added to the offline channel while the restrictions hold
    offline_restriction_utility: float = field(default=0.0, metadata=bounds(-20, 20))


@dataclass
class MarketConfig:
    platforms: dict[str, PlatformConfig] = field(default_factory=dict)
    shoppers: ShopperConfig = field(default_factory=ShopperConfig)
    msmes: MSMEConfig = field(default_factory=MSMEConfig)
    platform_rule: PlatformRule = field(default_factory=PlatformRule)
    macro: MacroConfig = field(default_factory=MacroConfig)
    usd_idr: float = field(default=15_500.0, metadata=bounds(0, 1e6, lo_open=True))


@dataclass
class BanConfig:
    enabled: bool = False
    date: str = field(default="2023-10-04", metadata=iso_date(note="in the horizon when enabled"))
    # share of social-platform transactions that stop
    compliance: float = field(default=1.0, metadata=bounds(0, 1))
    # empty: every social platform
    platforms: list[str] = field(default_factory=list, metadata=note("names in the roster, each once"))


@dataclass
class FloorConfig:
    enabled: bool = False
    date: str = field(default="2023-09-26", metadata=iso_date(note="in the horizon when enabled"))
    min_unit_price_usd: float = field(default=100.0, metadata=bounds(0, 1e6))
    # share of cross-border goods exempt (books, films, music)
    positive_list_share: float = field(default=0.05, metadata=bounds(0, 1))


@dataclass
class PilotConfig:
    enabled: bool = False
    storefront: str = field(default="TikTok Shop", metadata=nonempty(note="a name in the roster"))
    partner: str = field(default="Tokopedia", metadata=nonempty(note="in the roster, not the storefront"))
    # announcement (TikTok buys 75.01% of Tokopedia)
    deal_date: str = field(
        default="2023-12-11",
        metadata=iso_date(note="in the horizon when enabled; <= close_date, <= migration_date"),
    )
    # legal close: one operator group from here
    close_date: str = field(
        default="2024-01-31", metadata=iso_date(note="in the horizon when enabled; >= deal_date")
    )
    relaunch_date: str = field(
        default="2023-12-12",
        metadata=iso_date(note="in the horizon when enabled; <= migration_date, >= the ban date"),
    )
    # weeks over which the relaunched checkout reaches all its users
    relaunch_ramp_weeks: int = field(default=6, metadata=bounds(0, 260))
    trial_weeks: int = field(default=16, metadata=bounds(1, 520))
    # ranking boost of local producers during the trial
    local_priority: float = field(default=0.3, metadata=bounds(0, 10))
    migration_date: str = field(
        default="2024-03-12",
        metadata=iso_date(note="in the horizon when enabled; >= relaunch_date, >= deal_date"),
    )
    # after migration the partner's listed sellers sell on the storefront too
    shared_seller_pool: bool = True
    # share of the storefront's discovery sales the group routes to the partner's checkout after
    # legal close (shoppers holding both apps); the KPPU conditions end it
    group_traffic_steering: float = field(default=0.0, metadata=bounds(0, 1))


@dataclass
class KppuConfig:
    """KPPU's conditional approval of the TikTok-Tokopedia merger (2025-06-17): open payment and
    logistics, no self-preferencing between the group's storefronts."""

    enabled: bool = False
    date: str = field(default="2025-06-17", metadata=iso_date(note="in the horizon when enabled"))


@dataclass
class ScenarioConfig:
    name: str = field(default="no_policy", metadata=nonempty())
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

    # 0 = off; K = record the fields every K weeks
    every_weeks: int = field(default=0, metadata=bounds(0, 520))
    msme_fields: list[str] = field(
        default_factory=lambda: ["revenue_idr", "price", "cash_idr", "storefronts"]
    )
    shopper_fields: list[str] = field(default_factory=list)
    # refuse a history that would hold more than this in memory
    max_mb: float = field(default=512.0, metadata=bounds(0, 1e6, lo_open=True))


@dataclass
class Config:
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    market: MarketConfig = field(default_factory=MarketConfig)
    seed: int = field(default=0, metadata=bounds(0, MAX_SEED))
    # run seeds seed, seed+1, ..., seed+seeds-1: one table, figures with bands
    seeds: int = field(default=1, metadata=bounds(1, 1000))
    start_date: str = field(default="2021-01-04", metadata=iso_date())
    end_date: str = field(
        default="2025-12-29",
        metadata=iso_date(note=f"after start_date, at most {MAX_HORIZON_WEEKS} weeks later"),
    )
    # unrecorded weeks under the start date's rules before the start
    burn_in_weeks: int = field(default=52, metadata=bounds(0, MAX_BURN_IN_WEEKS))
    counterfactual: str | None = field(
        default="no_policy",
        metadata=note(
            "a scenario in conf/scenario, or null; not empty; not a modified scenario of the same name"
        ),
    )
    progress: str = field(default="auto", metadata=choice("auto", "on", "off"))
    figures: bool = True
    force: bool = False  # rerun even if summary.json shows this run finished with this config
    # CSV of parameter points (columns are config keys), for sampled sweeps
    point_file: str = field(default="", metadata=note("a CSV file, or empty for none"))
    # row of point_file whose values override the config (-1 = none)
    point: int = field(default=-1, metadata=bounds(-1, 10**9, note="a row of point_file; -1 = none"))
    agent_history: AgentHistoryConfig = field(default_factory=AgentHistoryConfig)


def config_value(node: Any, dotted: str) -> Any:
    """The value at a dotted key (``market.platforms.shopee.brand_utility``) of a config."""
    for part in dotted.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node


def parse_date(key: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ConfigError(key, f"{value!r} is not a date; use YYYY-MM-DD") from None


def horizon_dates(cfg: Config) -> list[dt.date]:
    """The start dates of the run's weeks, from ``start_date`` to ``end_date``."""
    from sim.schema.weeks import weekly_dates

    return weekly_dates(parse_date("start_date", cfg.start_date), parse_date("end_date", cfg.end_date))


def _in_horizon(key: str, value: str, start: dt.date, end: dt.date) -> dt.date:
    """A policy date that must fall in the simulated window (checked only when the policy is
    enabled, so the policy's ``enabled`` key is one of the keys involved)."""
    day = parse_date(key, value)
    if not start <= day <= end:
        raise ConfigError(
            key,
            f"{value} is outside the horizon {start} to {end}",
            ("start_date", "end_date", key.rsplit(".", 1)[0] + ".enabled"),
        )
    return day


def _check_value(key: str, value: Any, meta: Any) -> None:
    """One leaf value against its field's metadata (see the module docstring)."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int | float):
        limits = meta.get("bounds")
        allowed = f"a finite number in {limits.text()}" if limits else "a finite number"
        if not math.isfinite(value):
            raise ConfigError(key, f"must be {allowed}, got {value}")
        if limits is None:
            raise ConfigError(key, "declares no bounds in sim/schema/config.py (add metadata=bounds(lo, hi))")
        if value not in limits:
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            raise ConfigError(key, f"must be in {limits.text()}, got {shown}")
    elif isinstance(value, str):
        if "choices" in meta and value not in meta["choices"]:
            raise ConfigError(key, f"{value!r} is not one of {', '.join(meta['choices'])}")
        if meta.get("nonempty") and not value.strip():
            raise ConfigError(key, "must not be empty")
        if meta.get("date"):
            parse_date(key, value)


def check_fields(node: Any, prefix: str = "") -> None:
    """Every leaf of a config dataclass against the metadata of its field: finite, in bounds,
    among the choices, a date, not empty."""
    for f in fields(node):
        key, value = f"{prefix}{f.name}", getattr(node, f.name)
        if is_dataclass(value):
            check_fields(value, key + ".")
            continue
        items = (
            value.items()
            if isinstance(value, dict)
            else enumerate(value)
            if isinstance(value, list)
            else None
        )
        if items is None:
            _check_value(key, value, f.metadata)
            continue
        for name, item in items:
            if is_dataclass(item):
                check_fields(item, f"{key}.{name}.")
            else:
                _check_value(f"{key}.{name}", item, f.metadata)


def validate(cfg: Config) -> None:
    """Raise ConfigError for the first value the model cannot use: each field against its bounds,
    then the relations between fields, then the memory and time the run would take."""
    check_fields(cfg)
    start = parse_date("start_date", cfg.start_date)
    end = parse_date("end_date", cfg.end_date)
    if end <= start:
        raise ConfigError(
            "end_date", f"{cfg.end_date} must be after start_date {cfg.start_date}", ("start_date",)
        )
    n_weeks = (end - start).days // 7 + 1
    if n_weeks > MAX_HORIZON_WEEKS:
        raise ConfigError(
            "end_date",
            f"the horizon from start_date {cfg.start_date} is {n_weeks} "
            f"weeks; at most {MAX_HORIZON_WEEKS} are allowed",
            ("start_date",),
        )
    if cfg.counterfactual is not None and not cfg.counterfactual.strip():
        raise ConfigError("counterfactual", "is empty; give a scenario name, or null for none")
    if cfg.point >= 0 and not cfg.point_file:
        raise ConfigError("point", f"row {cfg.point} given without point_file")
    _validate_market(cfg.market)
    _validate_scenario(cfg.scenario, cfg.market, start, end)
    _validate_history(cfg, n_weeks)
    check_resources(cfg, n_weeks)


def _validate_history(cfg: Config, n_weeks: int) -> None:
    h = cfg.agent_history
    for key, given, allowed in (
        ("msme_fields", h.msme_fields, MSME_HISTORY_FIELDS),
        ("shopper_fields", h.shopper_fields, SHOPPER_HISTORY_FIELDS),
    ):
        for i, name in enumerate(given):
            if name not in allowed:
                raise ConfigError(f"agent_history.{key}.{i}", f"{name!r} is not one of {', '.join(allowed)}")
    if h.every_weeks:
        snapshots = -(-n_weeks // h.every_weeks)
        values = snapshots * (
            cfg.market.msmes.n_agents * len(h.msme_fields)
            + cfg.market.shoppers.n_agents * len(h.shopper_fields)
        )
        megabytes = values * 4 / 2**20
        if megabytes > h.max_mb:
            raise ConfigError(
                "agent_history.every_weeks",
                f"would hold {megabytes:.0f} MB, above agent_history.max_mb="
                f"{h.max_mb:g}; record fewer fields or less often",
                (
                    "agent_history.max_mb",
                    "agent_history.msme_fields",
                    "agent_history.shopper_fields",
                    "market.shoppers.n_agents",
                    "market.msmes.n_agents",
                    "start_date",
                    "end_date",
                ),
            )


def _ordered(keys: tuple[str, ...], values: tuple[float, ...], what: str) -> None:
    """Refuse unless ``values`` are non-decreasing; the message names the first pair out of order."""
    short = [k.rsplit(".", 1)[1] for k in keys]
    for i in range(len(keys) - 1):
        if values[i] > values[i + 1]:
            raise ConfigError(
                keys[i],
                f"{values[i]:g} is above {keys[i + 1]} {values[i + 1]:g}; "
                f"{what} must be ordered {' <= '.join(short)}",
                (keys[i + 1],),
            )


def _validate_market(market: MarketConfig) -> None:
    if not market.platforms:
        raise ConfigError("market.platforms", "the roster is empty; give at least one platform")
    names = [p.name for p in market.platforms.values()]
    if len(set(names)) != len(names):
        raise ConfigError(
            "market.platforms",
            f"storefront names must be unique, got {names}",
            tuple(f"market.platforms.{k}.name" for k in market.platforms),
        )
    for key, p in market.platforms.items():
        prefix = f"market.platforms.{key}"
        _ordered(
            (f"{prefix}.subsidy_min", f"{prefix}.subsidy", f"{prefix}.subsidy_max"),
            (p.subsidy_min, p.subsidy, p.subsidy_max),
            "the subsidy and its floor and cap",
        )
        if p.initial_adoption > p.reach:
            raise ConfigError(
                f"{prefix}.initial_adoption",
                f"{p.initial_adoption:g} is above reach {p.reach:g} (the share who can ever adopt the app)",
                (f"{prefix}.reach",),
            )
        dates = [c.date for c in p.commission_changes]
        if len(set(dates)) != len(dates):
            raise ConfigError(
                f"{prefix}.commission_changes",
                f"two changes on one date ({sorted(dates)}); give each date once",
            )
    s = market.shoppers
    if s.network_degree % 2 or s.network_degree >= s.n_agents:
        raise ConfigError(
            "market.shoppers.network_degree",
            f"must be an even number >= 0 and below n_agents ({s.n_agents}), got {s.network_degree}",
            ("market.shoppers.n_agents",),
        )
    m = market.msmes
    _ordered(
        ("market.msmes.min_markup", "market.msmes.markup", "market.msmes.max_markup"),
        (m.min_markup, m.markup, m.max_markup),
        "the markups",
    )
    allowed = {"local", "import_reseller", "cross_border"}
    if set(m.origin_agent_shares) != allowed:
        raise ConfigError(
            "market.msmes.origin_agent_shares",
            f"keys must be exactly {sorted(allowed)}, got {sorted(m.origin_agent_shares)}",
        )
    total = sum(m.origin_agent_shares.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(
            "market.msmes.origin_agent_shares",
            f"shares must sum to 1, got {total:.6g}",
            tuple(f"market.msmes.origin_agent_shares.{k}" for k in allowed),
        )
    share_key = "market.msmes.import_reseller_firm_share"
    stand_for = {
        "local": (share_key, m.firms * (1 - m.import_reseller_firm_share)),
        "import_reseller": (share_key, m.firms * m.import_reseller_firm_share),
        "cross_border": ("market.msmes.cross_border_firms", m.cross_border_firms),
    }
    for origin, (key, firms) in stand_for.items():
        if m.origin_agent_shares[origin] > 0 and firms < 1:
            raise ConfigError(
                key,
                f"the {origin} agents (origin_agent_shares.{origin}="
                f"{m.origin_agent_shares[origin]:g}) would stand for {firms:g} "
                "firms; give them at least one firm or set their share to 0",
                (
                    f"market.msmes.origin_agent_shares.{origin}",
                    "market.msmes.firms",
                    "market.msmes.origin_agent_shares",
                ),
            )
    if set(m.social_affinity) != allowed:
        raise ConfigError(
            "market.msmes.social_affinity",
            f"keys must be exactly {sorted(allowed)}, got {sorted(m.social_affinity)}",
        )
    for name in ("cpi_inflation", "real_spend_growth"):
        for year in getattr(market.macro, name):
            if not (str(year).isdigit() and len(str(year)) == 4):
                raise ConfigError(f"market.macro.{name}.{year}", f"{year!r} is not a calendar year (YYYY)")
    if not m.categories:
        raise ConfigError("market.msmes.categories", "give at least one category")
    if len(set(m.categories)) != len(m.categories):
        raise ConfigError("market.msmes.categories", f"names must be unique, got {m.categories}")


def _validate_scenario(sc: ScenarioConfig, market: MarketConfig, start: dt.date, end: dt.date) -> None:
    names = {p.name for p in market.platforms.values()}
    roster = ", ".join(sorted(names))
    roster_keys = tuple(f"market.platforms.{k}.{f}" for k in market.platforms for f in ("name", "kind"))
    ban = sc.social_commerce_ban
    for i, platform in enumerate(ban.platforms):
        if platform not in names:
            raise ConfigError(
                f"scenario.social_commerce_ban.platforms.{i}",
                f"{platform!r} is not in the roster ({roster})",
                roster_keys,
            )
    if len(set(ban.platforms)) != len(ban.platforms):
        raise ConfigError(
            "scenario.social_commerce_ban.platforms", f"names a platform twice: {ban.platforms}"
        )
    ban_date = None
    if ban.enabled:
        ban_date = _in_horizon("scenario.social_commerce_ban.date", ban.date, start, end)
        if not ban.platforms and not any(p.kind == "social" for p in market.platforms.values()):
            raise ConfigError(
                "scenario.social_commerce_ban.enabled",
                "the roster has no social platform to ban; name the platforms in "
                "scenario.social_commerce_ban.platforms",
                roster_keys,
            )
    floor = sc.cross_border_floor
    if floor.enabled:
        _in_horizon("scenario.cross_border_floor.date", floor.date, start, end)
    pilot = sc.tiktok_tokopedia_pilot
    prefix = "scenario.tiktok_tokopedia_pilot"
    for key in ("storefront", "partner"):
        if getattr(pilot, key) not in names:
            raise ConfigError(
                f"{prefix}.{key}", f"{getattr(pilot, key)!r} is not in the roster ({roster})", roster_keys
            )
    if pilot.storefront == pilot.partner:
        raise ConfigError(
            f"{prefix}.partner",
            f"{pilot.partner!r} is also the storefront; the partner must be another platform",
            (f"{prefix}.storefront",),
        )
    if pilot.enabled:
        days = {
            name: _in_horizon(f"{prefix}.{name}", getattr(pilot, name), start, end)
            for name in ("deal_date", "close_date", "relaunch_date", "migration_date")
        }
        for first, then in (
            ("relaunch_date", "migration_date"),
            ("deal_date", "close_date"),
            ("deal_date", "migration_date"),
        ):
            if days[first] > days[then]:
                raise ConfigError(
                    f"{prefix}.{then}",
                    f"{days[then]} is before {first} {days[first]} "
                    f"({prefix}.{first}); the pilot's dates must run deal <= close, "
                    "deal <= migration and relaunch <= migration",
                    (f"{prefix}.{first}",),
                )
        if ban_date is not None and days["relaunch_date"] < ban_date:
            raise ConfigError(
                f"{prefix}.relaunch_date",
                f"{pilot.relaunch_date} is before the ban date {ban.date}",
                ("scenario.social_commerce_ban.date", "scenario.social_commerce_ban.enabled"),
            )
    if sc.kppu_conditions.enabled:
        _in_horizon("scenario.kppu_conditions.date", sc.kppu_conditions.date, start, end)


# The resource guard. Bytes and seconds per agent were measured with the default market (7
# channels, degree 8) on a 2-core machine: 300,000 shoppers took ~140 MB and 0.07 s a week,
# 100,000 MSMEs ~95 MB and 0.18 s a week. Arrays scale with the channels, the network with the degree.
BYTES_PER_SHOPPER = 150
BYTES_PER_SHOPPER_CHANNEL = 30
BYTES_PER_TIE = 12
BYTES_PER_FIRM_CHANNEL = 140
BASE_BYTES = 300 * 2**20  # the interpreter, numpy, pandas, Hydra and Mesa
SECONDS_PER_SHOPPER_CHANNEL_WEEK = 4e-8
SECONDS_PER_FIRM_CHANNEL_WEEK = 3e-7
MEMORY_HEADROOM = 0.8  # refuse a run that would need more than this share of the available memory


def estimate_resources(cfg: Config, n_weeks: int) -> tuple[float, float]:
    """(peak bytes, seconds) a run of ``cfg`` needs, estimated from its sizes before anything is
    built: one scenario (the counterfactual runs after it and reuses the memory)."""
    s, m = cfg.market.shoppers, cfg.market.msmes
    channels = len(cfg.market.platforms) + 1
    memory = (
        BASE_BYTES
        + s.n_agents
        * (BYTES_PER_SHOPPER + channels * BYTES_PER_SHOPPER_CHANNEL + s.network_degree * BYTES_PER_TIE)
        + m.n_agents * channels * BYTES_PER_FIRM_CHANNEL
    )
    weeks = n_weeks + cfg.burn_in_weeks
    seconds = weeks * (
        s.n_agents * channels * SECONDS_PER_SHOPPER_CHANNEL_WEEK
        + m.n_agents * channels * SECONDS_PER_FIRM_CHANNEL_WEEK
    )
    runs = 2 if cfg.counterfactual and cfg.counterfactual != cfg.scenario.name else 1
    return memory, seconds * runs


def available_memory() -> float:
    """Bytes the machine can give a new process now (MemAvailable), or total RAM if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def check_resources(cfg: Config, n_weeks: int) -> None:
    """Refuse a run whose estimated memory exceeds what the machine has free."""
    memory, seconds = estimate_resources(cfg, n_weeks)
    free = available_memory()
    if memory > MEMORY_HEADROOM * free:
        raise ConfigError(
            "market.shoppers.n_agents",
            f"a run of {cfg.market.shoppers.n_agents} shoppers and "
            f"{cfg.market.msmes.n_agents} MSMEs needs about {memory / 2**30:.1f} GB "
            f"(and {seconds / 60:.0f} min); this machine has {free / 2**30:.1f} GB free",
            ("market.msmes.n_agents", "market.shoppers.network_degree", "market.platforms"),
        )


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
