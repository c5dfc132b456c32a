"""Mesa agents: thin, inspectable views over the model's arrays.

The weekly step runs on whole arrays (``sim.core.market``); these classes exist so that a user can write
``model.agents_by_type[MSME].select(lambda a: a.origin == "local")`` or read ``shopper.budget``
with the usual Mesa idioms. Each agent reads its row of the model's arrays on demand, so an agent
is always up to date and costs no work in the step. The model builds the shoppers' and sellers'
objects only when first asked for them (``EcommerceModel(agent_objects=...)``): a headless run of
millions of shoppers never pays for millions of Python objects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from sim.core.population import ORIGINS

if TYPE_CHECKING:
    from sim.core.model import EcommerceModel


class Platform(mesa.Agent):
    """A storefront (Shopee, TikTok Shop, ...): fees, subsidies, discovery and the rules it is under."""

    model: EcommerceModel

    def __init__(self, model: EcommerceModel, index: int) -> None:
        super().__init__(model)
        self.index = index
        cfg = list(model.market.platforms.values())[index]
        self.name: str = cfg.name
        self.kind: str = cfg.kind
        self.launch_date: dt.date = dt.date.fromisoformat(cfg.launch_date)
        self.discovery_strength: float = cfg.discovery_strength
        self.subsidy_budget_idr_per_year: float = cfg.subsidy_budget_idr_per_year

    @property
    def commission(self) -> float:
        """Take rate in force this week (share of GMV)."""
        return float(self.model.commission[self.index])

    @property
    def subsidy(self) -> float:
        """Buyer subsidy rate this week (share of list price paid by the platform)."""
        return float(self.model.subsidy[self.index])

    @property
    def may_transact(self) -> bool:
        """Whether any shopper can check out here this week: launched, and not banned, or banned
        with some shoppers still evading (compliance below 1). False during a ban at full
        compliance and before launch."""
        return bool(self.model.transact_share[self.index] > 0)

    @property
    def operator(self) -> str:
        """The operator group this week (a storefront joins its new group at a deal's legal
        close)."""
        return self.model.operator_of(self.index)

    @property
    def gmv_idr(self) -> float:
        """Last week's GMV through this storefront, IDR."""
        clearing = self.model.clearing
        return 0.0 if clearing is None else float(clearing.gmv_idr[self.index])

    def __repr__(self) -> str:
        return f"Platform({self.name!r}, {self.kind}, operator={self.operator!r})"


class Shopper(mesa.Agent):
    """A representative consumer standing for ``weight`` people."""

    model: EcommerceModel

    def __init__(self, model: EcommerceModel, index: int) -> None:
        super().__init__(model)
        self.index = index

    @property
    def weight(self) -> float:
        """People this shopper agent stands for."""
        return self.model.shoppers.weight

    @property
    def budget(self) -> float:
        """Spend per shopping occasion at list prices, IDR."""
        return float(self.model.shoppers.budget[self.index])

    @property
    def shop_prob(self) -> float:
        """Weekly probability of a planned shopping occasion."""
        return float(self.model.shoppers.shop_prob[self.index])

    @property
    def price_sensitivity(self) -> float:
        """Utils lost per unit of log effective price (after subsidy) of a channel."""
        return float(self.model.shoppers.price_sensitivity[self.index])

    @property
    def discovery_taste(self) -> float:
        """Taste for entertainment and discovery, 0 to 1: how strongly content draws her."""
        return float(self.model.shoppers.discovery_taste[self.index])

    @property
    def local_preference(self) -> float:
        """Preference for local producers' goods, 0 to 1."""
        return float(self.model.shoppers.local_preference[self.index])

    @property
    def apps(self) -> list[str]:
        """Storefronts the shopper uses (multi-homing)."""
        row = self.model.shoppers.adopted[:, self.index]
        return [self.model.platform_names[j] for j in row.nonzero()[0]]

    @property
    def habit(self) -> dict[str, float]:
        """Habit stock per channel (storefronts and offline): memory of where she shopped."""
        row = self.model.shoppers.habit[:, self.index]
        return dict(zip([*self.model.platform_names, "offline"], map(float, row), strict=True))

    @property
    def neighbours(self) -> list[int]:
        """Indices of the shopper's ties (``model.shopper_agents[i]``)."""
        return self.model.shoppers.ties[:, self.index].tolist()


def _kept_at_exit[T](getter: Callable[[MSME], T]) -> property:
    """A live view of the firm's row while it trades; once it has exited, the value it had when
    it left (its row may since have gone to an entrant)."""
    name = getter.__name__

    def read(self: MSME) -> T:
        if self.at_exit is not None:
            return self.at_exit[name]
        return getter(self)

    return property(read, doc=getter.__doc__)


class MSME(mesa.Agent):
    """A seller standing for ``weight`` firms of one origin; removed from the model when it exits.

    An exited agent keeps answering: ``active`` is False, ``exit_date`` says when it left, and
    every other attribute holds its value from the week it left.
    """

    model: EcommerceModel
    KEPT = (
        "weight",
        "origin",
        "category",
        "unit_cost",
        "price",
        "quality",
        "capacity_idr",
        "cash_idr",
        "has_stall",
        "platforms",
        "sales_by_channel",
        "revenue",
        "active",
    )

    def __init__(self, model: EcommerceModel, index: int) -> None:
        super().__init__(model)
        self.index = index
        self.exit_date: dt.date | None = None
        self.at_exit: dict[str, Any] | None = None

    def leave(self) -> None:
        """The firm exits this week: keep what it was, then leave the model."""
        self.at_exit = {name: getattr(self, name) for name in self.KEPT}
        self.exit_date = self.model.current_date
        self.remove()

    def _row(self, name: str) -> float:
        return float(getattr(self.model.msmes, name)[self.index])

    @_kept_at_exit
    def weight(self) -> float:
        """Firms this agent stands for."""
        return self._row("weight")

    @_kept_at_exit
    def origin(self) -> str:
        """local, import_reseller or cross_border."""
        return ORIGINS[int(self.model.msmes.origin[self.index])]

    @_kept_at_exit
    def category(self) -> str:
        """Product category (``market.msmes.categories``)."""
        return self.model.market.msmes.categories[int(self.model.msmes.category[self.index])]

    @_kept_at_exit
    def unit_cost(self) -> float:
        """Cost of one unit of goods at list-price scale, IDR."""
        return self._row("unit_cost")

    @_kept_at_exit
    def price(self) -> float:
        """Price relative to the category's list price."""
        return self._row("price")

    @_kept_at_exit
    def quality(self) -> float:
        """Quality index: utils in the seller's attractiveness to buyers."""
        return self._row("quality")

    @_kept_at_exit
    def capacity_idr(self) -> float:
        """Sales the agent's firms can fill in a week, IDR."""
        return self._row("capacity_idr")

    @_kept_at_exit
    def cash_idr(self) -> float:
        """Cash of the agent's firms, IDR; below the exit rule's threshold they exit."""
        return self._row("cash_idr")

    @_kept_at_exit
    def has_stall(self) -> bool:
        """Sells offline too (a shop or market stall)."""
        return bool(self.model.msmes.has_stall[self.index])

    @_kept_at_exit
    def platforms(self) -> list[str]:
        """Storefronts the seller lists on (multi-homing)."""
        row = self.model.msmes.listed_share[self.index]
        return [self.model.platform_names[j] for j in np.flatnonzero(row > 0)]

    @_kept_at_exit
    def sales_by_channel(self) -> dict[str, float]:
        """Last week's sales by storefront and offline, IDR (zero where it does not sell)."""
        row = self.model.msmes.revenue_idr[self.index]
        return dict(zip([*self.model.platform_names, "offline"], map(float, row), strict=True))

    @_kept_at_exit
    def revenue(self) -> float:
        """Last week's sales of all the agent's firms across channels, IDR."""
        return float(self.model.msmes.revenue_idr[self.index].sum())

    @property
    def revenue_per_firm(self) -> float:
        """Last week's sales per firm the agent stands for, IDR."""
        return self.revenue / self.weight

    @_kept_at_exit
    def active(self) -> bool:
        """Still trading (False once the firm has exited)."""
        return bool(self.model.msmes.active[self.index])

    def __repr__(self) -> str:
        state = f"left {self.exit_date}" if self.exit_date else ", ".join(self.platforms) or "offline"
        return f"MSME({self.unique_id}, {self.origin}, {self.category}, {state})"


class LargeFirm(MSME):
    """A seller standing for ``weight`` large firms (sales above IDR 50 bn a year, PP 7/2021):
    brands' official stores. It trades like an MSME agent but is not one: MSME outputs leave it
    out, and it neither exits nor enters."""
