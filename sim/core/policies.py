"""Policies and dated platform events, turned into per-week arrays before the run starts.

Every policy is an event on a calendar date (never a step number) and takes effect from the first week
that starts on or after that date (``sim.schema.weeks.first_step_on_or_after``). Precomputing the whole
horizon keeps the weekly step free of date logic and makes the policy path easy to test on its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from sim.schema.config import MacroConfig, MarketConfig, ScenarioConfig, parse_date
from sim.schema.weeks import first_step_on_or_after


@dataclass
class PolicyPath:
    """What the rules allow in each week; arrays are (weeks, platforms) unless noted."""

    launched: np.ndarray  # bool: the storefront exists
    banned: np.ndarray  # bool: the social-commerce ban holds for the storefront
    transact_share: np.ndarray  # float: share of shoppers who can still check out (1 - compliance)
    link_leak_share: np.ndarray  # float: share of blocked discovery demand sent to marketplaces
    local_boost: np.ndarray  # float: ranking boost of local producers (pilot)
    shared_backend: np.ndarray  # int: partner whose back end runs the storefront's checkout, or -1
    pool_with: np.ndarray  # int: partner whose listed sellers also sell on the storefront, or -1
    steer_share: np.ndarray  # float: share of the storefront's discovery sales routed to steer_to
    steer_to: np.ndarray  # (platforms,) int: the storefront's group partner, or -1
    operator: np.ndarray  # int: operator group index of each storefront
    commission: np.ndarray  # float: take rate in force
    floor_usd: np.ndarray  # (weeks,) float: minimum unit price of direct cross-border goods, 0 = none
    positive_list_share: float
    operators: list[str]


def build_policy_path(market: MarketConfig, scenario: ScenarioConfig, dates: list[dt.date]) -> PolicyPath:
    platforms = list(market.platforms.values())
    names = [p.name for p in platforms]
    n_weeks, n_platforms = len(dates), len(platforms)

    def step_of(key: str, value: str) -> int:
        return first_step_on_or_after(dates, parse_date(key, value))

    launched = np.zeros((n_weeks, n_platforms), dtype=bool)
    commission = np.zeros((n_weeks, n_platforms))
    for j, p in enumerate(platforms):
        launched[step_of("launch_date", p.launch_date) :, j] = True
        commission[:, j] = p.commission
        for change in sorted(p.commission_changes, key=lambda c: c.date):
            commission[step_of("commission_changes.date", change.date) :, j] = change.rate

    operators = list(dict.fromkeys(p.operator for p in platforms))
    operator = np.tile(np.array([operators.index(p.operator) for p in platforms]), (n_weeks, 1))

    banned = np.zeros((n_weeks, n_platforms), dtype=bool)
    transact_share = np.ones((n_weeks, n_platforms))
    link_leak_share = np.zeros((n_weeks, n_platforms))
    ban = scenario.social_commerce_ban
    if ban.enabled:
        targets = ban.platforms or [p.name for p in platforms if p.kind == "social"]
        start = step_of("social_commerce_ban.date", ban.date)
        for name in targets:
            banned[start:, names.index(name)] = True

    local_boost = np.zeros((n_weeks, n_platforms))
    ramp = np.ones((n_weeks, n_platforms))
    shared_backend = np.full((n_weeks, n_platforms), -1, dtype=np.int64)
    pool_with = np.full((n_weeks, n_platforms), -1, dtype=np.int64)
    steer_share = np.zeros((n_weeks, n_platforms))
    steer_to = np.full(n_platforms, -1, dtype=np.int64)
    pilot = scenario.tiktok_tokopedia_pilot
    if pilot.enabled:
        store, partner = names.index(pilot.storefront), names.index(pilot.partner)
        relaunch = step_of("relaunch_date", pilot.relaunch_date)
        trial_end = relaunch + pilot.trial_weeks
        migration = step_of("migration_date", pilot.migration_date)
        # The storefront may check out again during the supervised trial; after it, only if its
        # checkout has moved to the partner's licensed marketplace back end.
        keeps_transacting = migration <= trial_end
        banned[relaunch : trial_end if not keeps_transacting else n_weeks, store] = False
        local_boost[relaunch:trial_end, [store, partner]] = pilot.local_priority
        shared_backend[migration:, store] = partner
        if pilot.shared_seller_pool:
            pool_with[migration:, store] = partner
        # One group from legal close, not from the announcement: before it the storefront is
        # still ByteDance's own, and group outputs must say so.
        close = step_of("close_date", pilot.close_date)
        operator[close:, store] = operator[0, partner]
        steer_to[store] = partner
        steer_share[close:, store] = pilot.group_traffic_steering
        kppu = scenario.kppu_conditions
        if kppu.enabled:
            # No self-preferencing: the group may no longer route its storefront's buyers.
            steer_share[step_of("kppu_conditions.date", kppu.date) :, store] = 0.0
        # The relaunched checkout reaches its former users gradually (app updates, sellers
        # relisting, trust), linearly over relaunch_ramp_weeks, not all in the first week.
        weeks = np.arange(pilot.relaunch_ramp_weeks)
        ramp_rows = slice(relaunch, min(relaunch + weeks.size, n_weeks))
        ramp[ramp_rows, store] = ((weeks + 1) / (weeks.size + 1))[: ramp_rows.stop - relaunch]

    transact_share[banned] = 1.0 - ban.compliance
    transact_share *= ramp
    link_leak_share[banned] = market.shoppers.link_follow_share
    transact_share[~launched] = 0.0

    floor = scenario.cross_border_floor
    floor_usd = np.zeros(n_weeks)
    if floor.enabled:
        floor_usd[step_of("cross_border_floor.date", floor.date) :] = floor.min_unit_price_usd

    return PolicyPath(
        launched=launched,
        banned=banned,
        transact_share=transact_share,
        link_leak_share=link_leak_share,
        local_boost=local_boost,
        shared_backend=shared_backend,
        pool_with=pool_with,
        steer_share=steer_share,
        steer_to=steer_to,
        operator=operator,
        commission=commission,
        floor_usd=floor_usd,
        positive_list_share=floor.positive_list_share,
        operators=operators,
    )


# The PolicyPath fields that hold one row of rules per week.
WEEKLY_FIELDS = (
    "launched",
    "banned",
    "transact_share",
    "link_leak_share",
    "local_boost",
    "shared_backend",
    "pool_with",
    "steer_share",
    "operator",
    "commission",
    "floor_usd",
)


def first_difference(a: PolicyPath, b: PolicyPath) -> int:
    """The first week in which the rules of two policy paths over the same weeks differ (their
    number of weeks if they never do). A model reads week ``w``'s rules only in week ``w`` (the
    burn-in reads week 0's), so two runs of one seed and market are the same up to this week.
    Rules that hold over the whole run (the positive list, the operator groups) differ in week 0;
    a steering partner only where either path steers that storefront."""
    weeks = a.floor_usd.shape[0]
    if a.positive_list_share != b.positive_list_share or a.operators != b.operators:
        return 0
    differs = np.zeros(weeks, dtype=bool)
    for name in WEEKLY_FIELDS:
        rows_a, rows_b = getattr(a, name), getattr(b, name)
        unequal = rows_a != rows_b
        differs |= unequal.reshape(weeks, -1).any(axis=1)
    partner_differs = a.steer_to != b.steer_to
    differs |= ((a.steer_share > 0) | (b.steer_share > 0))[:, partner_differs].any(axis=1)
    return int(np.argmax(differs)) if differs.any() else weeks


def offline_restriction(macro: MacroConfig, dates: list[dt.date]) -> np.ndarray:
    """(weeks,) utils added to the offline channel: COVID-19 mobility restrictions (PPKM) make
    shops and markets harder to visit until ``mobility_restrictions_until``."""
    until = parse_date("market.macro.mobility_restrictions_until", macro.mobility_restrictions_until)
    return np.array([macro.offline_restriction_utility if d <= until else 0.0 for d in dates])


def macro_path(macro: MacroConfig, dates: list[dt.date]) -> tuple[np.ndarray, np.ndarray]:
    """Weekly consumer price index and nominal spend index (both 1.0 on the first date).

    Each calendar year's CPI inflation and real per-person spend growth accrue evenly over its
    weeks; a year without an entry carries the last given year's rates forward (documented as the
    forecast assumption), and years before the first entry have none.
    """

    def rate(table: dict[str, float], year: int) -> float:
        known = [y for y in sorted(int(k) for k in table) if y <= year]
        return float(table[str(known[-1])]) if known else 0.0

    cpi = np.ones(len(dates))
    spend = np.ones(len(dates))
    for w in range(1, len(dates)):
        year = dates[w].year
        frac = (dates[w] - dates[w - 1]).days / (366 if year % 4 == 0 else 365)
        inflation = rate(macro.cpi_inflation, year)
        cpi[w] = cpi[w - 1] * (1.0 + inflation) ** frac
        spend[w] = spend[w - 1] * ((1.0 + inflation) * (1.0 + rate(macro.real_spend_growth, year))) ** frac
    return cpi, spend


def policy_events(scenario: ScenarioConfig) -> list[tuple[dt.date, str]]:
    """The scenario's dated policy events with short labels, in date order (for figures)."""
    events: list[tuple[dt.date, str]] = []
    ban = scenario.social_commerce_ban
    if ban.enabled:
        label = "Social-commerce ban" + (f" ({ban.compliance:.0%} compliance)" if ban.compliance < 1 else "")
        events.append((parse_date("ban.date", ban.date), label))
    floor = scenario.cross_border_floor
    if floor.enabled:
        events.append(
            (parse_date("floor.date", floor.date), f"US${floor.min_unit_price_usd:g} cross-border floor")
        )
    pilot = scenario.tiktok_tokopedia_pilot
    if pilot.enabled:
        events += [
            (parse_date("pilot.deal_date", pilot.deal_date), f"{pilot.partner} deal"),
            (parse_date("pilot.relaunch_date", pilot.relaunch_date), f"{pilot.storefront} relaunch (pilot)"),
            (parse_date("pilot.migration_date", pilot.migration_date), f"Checkout moves to {pilot.partner}"),
        ]
    return sorted(events)
