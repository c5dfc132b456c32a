"""The Mesa model: builds the populations, then steps one calendar week at a time."""

from __future__ import annotations

import copy
import datetime as dt
import logging
from dataclasses import replace
from typing import Any

import mesa
import numpy as np

from sim.core.agents import MSME, LargeFirm, Platform, Shopper
from sim.core.allocator import keep_freed_memory
from sim.core.levers import Levers, model_config
from sim.core.market import (
    Clearing,
    Ledger,
    Offer,
    ShopperWeek,
    adjust_prices_and_capacity,
    book_profits,
    channel_price_markup,
    clear_market,
    eligible_sellers,
    find_exits,
    settle_payments,
    shopper_blocks,
    shoppers_shop,
    spread_app_adoption,
    update_listings,
)
from sim.core.policies import build_policy_path, first_difference, macro_path, offline_restriction
from sim.core.population import (
    LOCAL,
    ORIGINS,
    build_msmes,
    build_shoppers,
    draw_msme_traits,
    fixed_cost_idr,
)
from sim.core.recorder import Recorder
from sim.core.reporters import make_datacollector
from sim.core.shopper_pool import ShoppingHelper
from sim.core.snapshots import AgentHistory
from sim.schema.config import Config, ConfigError, ScenarioConfig, horizon_dates, parse_date, validate

# Mesa logs every step at INFO; at hundreds of steps per run that is noise and measurable cost.
logging.getLogger("MESA").setLevel(logging.WARNING)

AGENT_OBJECTS = ("lazy", "eager")
# The shoppers' uniforms of a week, one per shopper each, drawn in this order.
SHOPPER_DRAWS = ("shop", "impulse", "choice", "leak", "steer")


class EcommerceModel(mesa.Model):
    """Indonesian e-commerce, one week per step, from ``cfg.start_date`` to ``cfg.end_date``.

    State lives in arrays (``self.shoppers``, ``self.msmes`` and the per-platform vectors); the
    agents in ``self.agents`` are views over them. Five random streams are spawned from the
    model's seeded ``self.rng``: population, app adoption, shopper shocks, seller shocks and
    entrants, so that the same seed gives the same population and the same weekly shocks in every
    scenario (common random numbers). The Mesa agent objects are built only when first asked for
    (see ``agent_objects``).
    """

    agent_id_counter: int  # Mesa's next unique_id (set in mesa.Model.__init__)

    def __init__(
        self,
        cfg: Config | None = None,
        *,
        rng: int | None = None,
        policy: str | None = None,
        ban: bool | None = None,
        ban_date: str | None = None,
        ban_compliance: float | None = None,
        link_follow_share: float | None = None,
        floor: bool | None = None,
        floor_date: str | None = None,
        floor_usd: float | None = None,
        pilot: bool | None = None,
        relaunch_date: str | None = None,
        local_priority: float | None = None,
        trial_weeks: int | None = None,
        migration_date: str | None = None,
        kppu_conditions: bool | None = None,
        kppu_date: str | None = None,
        tiktok_commission_scale: float | None = None,
        n_shoppers: int | None = None,
        n_msmes: int | None = None,
        burn_in_weeks: int | None = None,
        end_date: str | None = None,
        agent_objects: str = "lazy",
        shopper_processes: int = 1,
    ) -> None:
        """``EcommerceModel(cfg)`` runs a composed config as it is. Without ``cfg`` the model
        starts from the packaged defaults (``conf/``) with the named ``policy`` scenario
        (``history`` unless given; ``sim.core.levers.policies()`` lists them); with ``cfg``, a
        ``policy`` replaces its scenario. ``rng`` is an integer seed (None: the config's seed,
        0 by default, so a run is always reproducible). Each other keyword is a lever that,
        when not None, sets one config key (``sim.core.levers.LEVER_KEYS``): the ban (on/off, date,
        compliance, link leak), the US$ floor (on/off, date, threshold), the pilot (on/off,
        relaunch date, local priority, trial length, migration date), KPPU's conditions (on/off,
        date), TikTok Shop's commission schedule (x scale), and the scale and horizon.

        ``agent_objects`` says when the Mesa agent objects of shoppers and sellers are built:
        ``"lazy"`` (the default) on the first access to ``agents``, ``agents_by_type``,
        ``agent_types``, ``shopper_agents`` or ``msme_agents``, so that a headless run never
        builds them; ``"eager"`` here, as a plain Mesa model does. Both give the same agents
        (same ``unique_id``, type and order, exited sellers gone, entrants present) and the run
        the same numbers: the step never reads an agent object.

        ``shopper_processes=2`` shops every other block of shoppers in a forked helper process
        over shared memory (``sim.core.shopper_pool``), when there are several blocks (more
        than ``sim.core.market.ONE_BLOCK_UP_TO`` shoppers): the same numbers in about half the
        shopping time on a free core. The helper stops when the run ends or at ``shop_alone()``.
        The caller decides that a core is free (``sim.experiments.processes.may_fork``).
        """
        keep_freed_memory()
        if agent_objects not in AGENT_OBJECTS:
            raise ConfigError("agent_objects", f"{agent_objects!r} is not one of {', '.join(AGENT_OBJECTS)}")
        if shopper_processes not in (1, 2):
            raise ConfigError("shopper_processes", f"{shopper_processes!r} is not 1 or 2")
        self.shopper_processes = shopper_processes
        self._shopping_helper: ShoppingHelper | None = None
        self.helper_private_mb: float | None = None  # the helper's own memory when it stopped
        cfg = model_config(
            cfg,
            rng,
            policy,
            Levers(
                ban=ban,
                ban_date=ban_date,
                ban_compliance=ban_compliance,
                link_follow_share=link_follow_share,
                floor=floor,
                floor_date=floor_date,
                floor_usd=floor_usd,
                pilot=pilot,
                relaunch_date=relaunch_date,
                local_priority=local_priority,
                trial_weeks=trial_weeks,
                migration_date=migration_date,
                kppu_conditions=kppu_conditions,
                kppu_date=kppu_date,
                tiktok_commission_scale=tiktok_commission_scale,
                n_shoppers=n_shoppers,
                n_msmes=n_msmes,
                burn_in_weeks=burn_in_weeks,
                end_date=end_date,
            ),
        )
        super().__init__(rng=cfg.seed)
        validate(cfg)
        self.cfg = cfg
        self.market = cfg.market
        self.scenario_name = cfg.scenario.name
        self.dates: list[dt.date] = horizon_dates(cfg)
        self.platform_names = [p.name for p in self.market.platforms.values()]
        self.policy = build_policy_path(self.market, cfg.scenario, self.dates)
        (population_rng, self.adoption_rng, self.shopper_rng, self.seller_rng, self.entry_rng) = (
            self.rng.spawn(5)
        )

        platforms = list(self.market.platforms.values())
        self.is_social = np.array([p.kind == "social" for p in platforms])
        self.virtual_share = np.array([p.virtual_goods_share for p in platforms])
        self.brand_utility = np.array(
            [p.brand_utility for p in platforms] + [self.market.shoppers.offline_utility]
        )
        self.discovery = np.array([p.discovery_strength for p in platforms] + [0.0])
        self.content_cap = np.array([p.content_cap for p in platforms])
        self.cpi_index, self.spend_index = macro_path(self.market.macro, self.dates)
        self.offline_restriction = offline_restriction(self.market.macro, self.dates)
        affinity = self.market.msmes.social_affinity
        self.affinity = np.where(
            self.is_social[None, :], np.array([affinity[o] for o in ORIGINS])[:, None], 1.0
        )
        self.innovation = np.array([p.adoption_innovation_per_week for p in platforms])
        self.word_of_mouth = np.array([p.adoption_wom_per_week for p in platforms])
        self.base_subsidy = np.array([p.subsidy for p in platforms])
        self.subsidy = self.base_subsidy.copy()
        self.subsidy_min = np.array([p.subsidy_min for p in platforms])
        self.subsidy_max = np.array([p.subsidy_max for p in platforms])
        self.subsidy_budget = np.array([p.subsidy_budget_idr_per_year for p in platforms])
        self.subsidy_spent_this_year = np.zeros(len(platforms))
        self.share_memory = np.full(len(platforms), 1.0 / len(platforms))
        self.commission = self.policy.commission[0].copy()
        self.transact_share = self.policy.transact_share[0].copy()

        self.shoppers = build_shoppers(self.market, population_rng)
        if self.shopper_processes > 1 and len(shopper_blocks(self.shoppers.n)) > 1:
            # Now, before the sellers are built: the helper inherits (and may copy) little of
            # this process.
            self._shopping_helper = ShoppingHelper(self.shoppers, SHOPPER_DRAWS)
        expected_demand = self.shoppers.weight * float((self.shoppers.shop_prob * self.shoppers.budget).sum())
        self.msmes = build_msmes(
            self.market, population_rng, self.policy.positive_list_share, expected_demand
        )
        m = self.msmes
        self.capacity_per_scale = m.capacity_idr / (m.weight * m.scale)
        self.initial_offer()

        self.platform_agents = [Platform(self, j) for j in range(len(platforms))]
        # Mesa ids are handed out as if every agent were built now (shoppers, then sellers), so
        # that agents built later carry the ids an eager build gives them; 0 marks an exited slot.
        self._first_shopper_id = self.agent_id_counter
        self.agent_id_counter += self.shoppers.n
        self._msme_ids = np.arange(self.agent_id_counter, self.agent_id_counter + self.msmes.n)
        self.agent_id_counter += self.msmes.n
        self._shopper_agents: list[Shopper] | None = None
        self._msme_agents: list[MSME | None] | None = None
        if agent_objects == "eager":
            self._build_agent_objects()

        self.recorder = Recorder(self)
        self.datacollector = make_datacollector(self)
        self.agent_history = AgentHistory(self) if cfg.agent_history.every_weeks else None
        self.ledger: Ledger | None = None
        self.clearing: Clearing | None = None
        self.shopper_week: ShopperWeek | None = None
        self.current_date: dt.date | None = None
        self.burn_in(cfg.burn_in_weeks)

    # --- the week -------------------------------------------------------------------------------

    def step(self) -> None:
        week = self.steps - 1
        self.current_date = self.dates[week]
        self.simulate_week(week)
        self.recorder.record(week)
        self.datacollector.collect(self)
        if self.agent_history is not None:
            self.agent_history.record(week)
        self.platforms_adapt_subsidies(week)
        self.platforms_invest_in_content()
        self.update_offer()
        if week + 1 >= len(self.dates):
            self.running = False
            self.shop_alone()  # no week is left to shop

    def burn_in(self, weeks: int) -> None:
        """Simulate ``weeks`` unrecorded weeks under the first week's rules so that habits,
        listings, prices and capacity settle before the first recorded week."""
        for _ in range(weeks):
            self.simulate_week(0, spread_apps=False)  # app adoption is a trend, not a transient
            self.update_offer()
        self.subsidy_spent_this_year[:] = 0.0
        gmv = self.clearing.gmv_idr[:-1] if self.clearing is not None else np.zeros(0)
        if gmv.sum() > 0:
            self.share_memory = gmv / gmv.sum()

    def simulate_week(self, week: int, spread_apps: bool = True) -> None:
        self.apply_rules_of_the_week(week)
        if spread_apps:
            self.shoppers_adopt_apps(week)
        self.shopper_week = self.shoppers_go_shopping(week)
        self.clearing = self.sellers_fill_orders(week)
        self.ledger = settle_payments(self.clearing.gmv_idr, self.subsidy, self.commission)
        self.sellers_book_the_week(week)
        self.firms_exit_and_enter()

    def apply_rules_of_the_week(self, week: int) -> None:
        self.commission = self.policy.commission[week]
        # The offer holds this array, so the week's offline constant applies to today's choices.
        self.brand_utility[-1] = self.market.shoppers.offline_utility + self.offline_restriction[week]
        self.transact_share = self.policy.transact_share[week]
        year = self.dates[week].year
        if week > 0 and self.dates[week - 1].year != year:
            self.subsidy_spent_this_year[:] = 0.0

    def shoppers_adopt_apps(self, week: int) -> None:
        spread_app_adoption(
            self.shoppers, self.policy.launched[week], self.innovation, self.word_of_mouth, self.adoption_rng
        )

    def shoppers_go_shopping(self, week: int) -> ShopperWeek:
        n = self.shoppers.n
        if self._shopping_helper is not None:  # drawn where the helper reads them: the same stream
            shared = self._shopping_helper.draws
            draws = {
                name: self.shopper_rng.random(out=shared[name], dtype=np.float32) for name in SHOPPER_DRAWS
            }
        else:
            draws = {name: self.shopper_rng.random(n, dtype=np.float32) for name in SHOPPER_DRAWS}
        return shoppers_shop(
            self.shoppers,
            self.offer,
            self.transact_share,
            self.policy.link_leak_share[week],
            self.policy.steer_share[week],
            self.policy.steer_to,
            self.is_social,
            float(self.spend_index[week]),
            self.market.shoppers,
            draws,
            self._shopping_helper,
        )

    def shop_alone(self) -> None:
        """Stop the shopping helper process, if there is one; later weeks shop in this one."""
        if self._shopping_helper is not None:
            self.helper_private_mb = self._shopping_helper.close()
            self._shopping_helper = None

    def sellers_fill_orders(self, week: int) -> Clearing:
        self.eligible = eligible_sellers(self.msmes, self.policy.floor_usd[week], self.policy.pool_with[week])
        return clear_market(
            self.msmes,
            self.shopper_week.demand_idr,
            self.eligible,
            self.policy.local_boost[week],
            self.market.msmes,
            self.virtual_share,
        )

    def sellers_book_the_week(self, week: int) -> None:
        ms, cfg = self.msmes, self.market.msmes
        sold = self.clearing.sold_idr
        ms.revenue_idr[:] = sold
        self.weekly_profit = book_profits(ms, sold, self.commission, self.policy.shared_backend[week], cfg)
        adjust_prices_and_capacity(ms, sold.sum(axis=1), cfg)
        open_for_sellers = self.policy.launched[week] & (self.transact_share > 0)
        goods = self.shopper_week.demand_idr - self.clearing.virtual_idr
        update_listings(ms, goods[:-1], open_for_sellers, self.affinity, len(cfg.categories), cfg)
        ms.weeks_active += ms.active

    def firms_exit_and_enter(self) -> None:
        ms, cfg = self.msmes, self.market.msmes
        exits = find_exits(ms, cfg)
        self.exited_firms_this_week = float(ms.weight[exits].sum())
        ms.active[exits] = False
        ms.listed_share[exits] = 0.0
        ms.revenue_idr[exits] = 0.0
        self._msme_ids[exits] = 0
        if self._msme_agents is not None:
            for m in exits:
                agent = self._msme_agents[m]
                assert agent is not None
                agent.leave()
                self._msme_agents[m] = None
        self.enter_new_firms()

    def enter_new_firms(self) -> None:
        """Vacant slots are taken by new firms of the slot's origin while that origin's active
        firms make money on average; entrants open a stall or (cross-border) one storefront."""
        ms, cfg = self.msmes, self.market.msmes
        vacant = np.flatnonzero(~ms.active)
        u = self.entry_rng.random(ms.n)
        if vacant.size == 0:
            return
        profit_by_origin = np.bincount(ms.origin, weights=self.weekly_profit * ms.active, minlength=3)
        profitable = profit_by_origin[ms.origin[vacant]] > 0
        entrants = vacant[profitable & (u[vacant] < cfg.entry_rate_per_week)]
        if entrants.size == 0:
            return
        traits = draw_msme_traits(
            self.market, ms.origin[entrants], self.entry_rng, self.policy.positive_list_share
        )
        for name, values in traits.items():
            getattr(ms, name)[entrants] = values
        ms.capacity_idr[entrants] = (
            self.capacity_per_scale[entrants] * ms.weight[entrants] * (ms.scale[entrants])
        )
        # Online-only entrants open one storefront each, spread over the open storefronts in
        # proportion to their buyers.
        buyers = self.shopper_week.buyers[:-1] * (self.transact_share > 0)
        ms.listed_share[entrants] = 0.0
        online_only = entrants[~ms.has_stall[entrants]]
        if buyers.sum() > 0 and online_only.size:
            ms.listed_share[online_only] = (buyers / buyers.sum()).astype(np.float32)
        ms.profit_ma_idr[entrants] = 0.0
        ms.revenue_idr[entrants] = 0.0
        ms.weeks_active[entrants] = 0
        ms.active[entrants] = True
        ms.cash_idr[entrants] = cfg.initial_cash_weeks * fixed_cost_idr(
            self.market, ms.capacity_idr[entrants], ms.has_stall[entrants], ms.listed_share[entrants]
        )
        if self._msme_agents is not None:
            for m in entrants:
                self._msme_agents[m] = MSME(self, int(m))
            self._msme_ids[entrants] = [self._msme_agents[m].unique_id for m in entrants]
        else:  # the ids the agents will carry when built
            self._msme_ids[entrants] = self.agent_id_counter + np.arange(entrants.size)
            self.agent_id_counter += entrants.size

    def platforms_adapt_subsidies(self, week: int) -> None:
        """Defend share: an operator group whose share fell below its trailing average raises its
        storefronts' buyer subsidies in proportion to the relative loss; otherwise they drift back
        toward their base rates. Bounded by [subsidy_min, subsidy_max] and paced by each
        storefront's yearly budget. Storefronts of one group (after a deal's legal close) act on
        the group's share, not their own: one objective for the group."""
        gmv = self.clearing.gmv_idr[:-1]
        online = gmv.sum()
        if online <= 0:
            return
        group = self.policy.operator[week]
        share = np.bincount(group, weights=gmv / online, minlength=len(self.policy.operators))[group]
        rule = self.market.platform_rule
        memory = 1.0 / rule.share_memory_weeks
        trading = self.transact_share > 0
        loss = np.maximum(self.share_memory - share, 0.0) / np.maximum(self.share_memory, 1e-9)
        proposed = (
            self.subsidy
            + rule.subsidy_response * loss
            + rule.subsidy_reversion * (self.base_subsidy - self.subsidy)
        )
        proposed = np.clip(proposed, self.subsidy_min, self.subsidy_max)
        self.subsidy = np.where(trading, proposed, self.subsidy)
        self.share_memory = np.where(
            trading, (1 - memory) * self.share_memory + memory * share, self.share_memory
        )
        # Budget pacing: spending ahead of the year's budget pro rata scales the subsidy down.
        self.subsidy_spent_this_year += self.ledger.subsidy[:-1]
        day_of_year = self.dates[week].timetuple().tm_yday
        allowance = self.subsidy_budget * min(1.0, (day_of_year + 7) / 365.0)
        ahead = self.subsidy_spent_this_year > allowance
        pace = np.divide(allowance, self.subsidy_spent_this_year, out=np.ones_like(allowance), where=ahead)
        self.subsidy = self.subsidy * np.minimum(1.0, pace)

    def platforms_invest_in_content(self) -> None:
        """Marketplaces answer discovery commerce with live and video content of their own: each
        week a storefront closes ``content_response x (discovery share of online GMV)`` of the gap
        between its discovery strength and what its content budget buys (``content_cap``). The
        threat, not a date, drives it: without a social storefront there is nothing to answer."""
        sw = self.shopper_week
        online = sw.demand_idr[:-1].sum()
        if online <= 0:
            return
        threat = sw.impulse_idr[:-1].sum() / online
        rate = self.market.platform_rule.content_response * threat
        gap = np.maximum(self.content_cap - self.discovery[:-1], 0.0)
        self.discovery[:-1] += np.where(self.content_cap > 0, rate * gap, 0.0)

    # --- what shoppers see ----------------------------------------------------------------------

    def initial_offer(self) -> None:
        ms = self.msmes
        self.eligible = eligible_sellers(ms, 0.0, self.policy.pool_with[0])
        pull = self.eligible * (ms.weight * ms.scale)[:, None]
        self.update_offer(pull)

    def update_offer(self, pull: np.ndarray | None = None) -> None:
        """Price index, variety and local share per channel from this week's sales (or, before the
        first week, from seller scale), for next week's choices."""
        ms = self.msmes
        weights = self.clearing.sold_idr if pull is None else pull
        total = weights.sum(axis=0)
        safe = np.maximum(total, 1e-12)
        price_index = np.where(total > 0, (weights * ms.price[:, None]).sum(0) / safe, 1.0)
        price_index = price_index * channel_price_markup(self.commission, self.market.msmes)
        local_share = np.where(total > 0, weights[ms.origin == LOCAL].sum(0) / safe, 0.0)
        active_firms = max(float((ms.weight * ms.active).sum()), 1e-12)
        variety = (self.eligible * ms.weight[:, None]).sum(0) / active_firms
        subsidy = np.concatenate([self.subsidy, [0.0]])
        self.price_index = price_index
        self.offer = Offer(
            brand_utility=self.brand_utility,
            log_effective_price=np.log(price_index * (1.0 - subsidy)),
            log_variety=np.log(np.maximum(variety, 1e-6)),
            discovery=self.discovery,
            local_share=local_share,
            subsidy=subsidy,
        )

    # --- scenarios that share a past --------------------------------------------------------------

    def weeks_shared_with(self, scenario: ScenarioConfig) -> int:
        """How many weeks from the start this run and one of ``scenario`` (same seed, market and
        horizon) are the same: until their rules first differ (``first_difference``); 0 when they
        differ from the first week, whose rules the burn-in also follows."""
        return first_difference(self.policy, build_policy_path(self.market, scenario, self.dates))

    def branch(self, scenario: ScenarioConfig) -> EcommerceModel:
        """A copy of this model as it stands that goes on under ``scenario``: the same model, to
        the last number, as one built with ``scenario`` and stepped as far, while the weeks
        stepped are shared (``weeks_shared_with``); otherwise a ``ValueError``. Running the
        shared weeks once serves both scenarios, as ``sim.experiments.run`` does for a policy
        and its counterfactual. The copy shops in this process (a shopping helper stays with
        the original) and has its own random streams, in the same state."""
        policy = build_policy_path(self.market, scenario, self.dates)
        shared = first_difference(self.policy, policy)
        if shared < max(self.steps, 1):
            raise ValueError(
                f"{self.scenario_name} and {scenario.name} differ from week {shared} "
                f"({self.dates[min(shared, len(self.dates) - 1)]}), and this model has stepped "
                f"{self.steps} weeks (after a burn-in under week 0's rules)"
            )
        helper = self._shopping_helper
        memo: dict[int, object] = {id(helper): None} if helper is not None else {}
        other = copy.deepcopy(self, memo)
        other.cfg = replace(self.cfg, scenario=scenario)
        other.scenario_name = scenario.name
        other.policy = policy
        return other

    # --- Mesa agent objects ----------------------------------------------------------------------

    def _build_agent_objects(self) -> None:
        """Build the shoppers' and live sellers' agent objects with the ids reserved for them, in
        id order (the order an eager build registers them in); from now on exits remove agents
        and entrants add them as they happen."""
        if self._shopper_agents is not None:
            return
        counter = self.agent_id_counter
        self.agent_id_counter = self._first_shopper_id
        self._shopper_agents = [Shopper(self, i) for i in range(self.shoppers.n)]
        msme_agents: list[MSME | None] = [None] * self.msmes.n
        live = np.flatnonzero(self._msme_ids)
        for m in live[np.argsort(self._msme_ids[live], kind="stable")]:
            self.agent_id_counter = int(self._msme_ids[m])
            msme_agents[m] = (LargeFirm if self.msmes.large[m] else MSME)(self, int(m))
        self.agent_id_counter = counter
        self._msme_agents = msme_agents

    @property
    def agent_objects_built(self) -> bool:
        """Whether the shoppers' and sellers' Mesa agent objects exist yet."""
        return self._shopper_agents is not None

    @property
    def shopper_agents(self) -> list[Shopper]:
        """Shopper agent ``i`` reads row ``i`` of ``self.shoppers`` (built on first access)."""
        self._build_agent_objects()
        assert self._shopper_agents is not None
        return self._shopper_agents

    @property
    def msme_agents(self) -> list[MSME | None]:
        """The seller agent of each row of ``self.msmes``; None where the firm has exited and no
        entrant has taken the row (built on first access)."""
        self._build_agent_objects()
        assert self._msme_agents is not None
        return self._msme_agents

    @property
    def agents(self) -> Any:
        """Mesa's set of every agent (platforms, shoppers, sellers), built on first access."""
        self._build_agent_objects()
        return super().agents

    @property
    def agents_by_type(self) -> Any:
        """Mesa's agent sets by class (``Platform``, ``Shopper``, ``MSME``, ``LargeFirm``)."""
        self._build_agent_objects()
        return super().agents_by_type

    @property
    def agent_types(self) -> list[type]:
        """The agent classes present, in the order their first agent was registered."""
        self._build_agent_objects()
        return super().agent_types

    def remove_all_agents(self) -> None:
        """Remove every agent (built first, so that none appears afterwards)."""
        self._build_agent_objects()
        super().remove_all_agents()

    # --- helpers for agents and outputs ---------------------------------------------------------

    def operator_of(self, j: int) -> str:
        week = max(self.steps - 1, 0)
        return self.policy.operators[self.policy.operator[week, j]]

    def run(self) -> None:
        while self.running:
            self.step()

    def run_to_date(self, day: dt.date | str) -> None:
        """Step through every week that starts on or before ``day`` (a date or ISO string), so
        that a notebook can stop the model just before or after a policy date."""
        end = parse_date("day", day) if isinstance(day, str) else day
        while self.running and self.dates[self.steps] <= end:
            self.step()
