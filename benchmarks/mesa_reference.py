"""The engine's weekly shopper rule written the plain Mesa way, as a yardstick for the benchmark.

One ``mesa.Agent`` per shopper, stepped with ``shuffle_do``; each agent adopts apps through its
ties, decides whether to shop, picks a channel by the same nested logit (one uniform, inverse CDF),
spends, updates its habit and may make a discovery purchase, all in plain Python. It reads the same
inputs as the vectorised kernel (``sim.core.market.spread_app_adoption`` and ``shoppers_shop``): a
population built by ``sim.core.population.build_shoppers`` and a fixed ``Offer``.
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from sim.core.market import Offer
from sim.core.population import Shoppers
from sim.schema.config import ShopperConfig


class MesaShopper(mesa.Agent):
    def __init__(self, model: MesaShopperModel, i: int, sh: Shoppers) -> None:
        super().__init__(model)
        self.i = i
        self.budget = float(sh.budget[i])
        self.shop_prob = float(sh.shop_prob[i])
        self.price_sensitivity = float(sh.price_sensitivity[i])
        self.taste = float(sh.discovery_taste[i])
        self.local_preference = float(sh.local_preference[i])
        self.evade = float(sh.evade_draw[i])
        self.can_reach = sh.can_reach[:, i].tolist()
        self.adopted = sh.adopted[:, i].tolist()
        self.habit = sh.habit[:, i].astype(float).tolist()
        self.ties = sh.ties[:, i].tolist()

    def step(self) -> None:
        self.adopt_apps()
        self.go_shopping()

    def adopt_apps(self) -> None:
        m = self.model
        for j in range(m.n_platforms):
            if m.launched[j] and self.can_reach[j] and not self.adopted[j]:
                using = sum(m.adopted_last_week[t][j] for t in self.ties)
                share = using / len(self.ties) if self.ties else 0.0
                p = 1.0 - (1.0 - m.innovation[j]) * (1.0 - m.word_of_mouth[j] * share)
                if self.random.random() < p:
                    self.adopted[j] = True

    def utilities(self) -> list[float]:
        m, cfg = self.model, self.model.cfg
        return [
            m.base[c]
            - self.price_sensitivity * m.log_price[c]
            + cfg.discovery_weight * self.taste * m.discovery[c]
            + cfg.local_weight * self.local_preference * m.local_share[c]
            + cfg.habit_weight * self.habit[c]
            for c in range(m.n_platforms + 1)
        ]

    def open_channels(self) -> list[bool]:
        m = self.model
        return [self.adopted[j] and self.evade < m.transact_share[j] for j in range(m.n_platforms)] + [True]

    def go_shopping(self) -> None:
        m, cfg = self.model, self.model.cfg
        utility, available = self.utilities(), self.open_channels()
        shops = self.random.random() < self.shop_prob
        choice = nested_logit(utility, available, self.random.random(), cfg.online_nest_lambda)
        if shops:
            m.demand[choice] += self.budget
            m.choices[choice] += 1
            rate = cfg.habit_learning_rate
            self.habit = [h * (1.0 - rate) for h in self.habit]
            self.habit[choice] += rate
        exposure = sum(m.discovery[j] for j in m.social if self.adopted[j]) * self.taste
        if self.random.random() < min(cfg.impulse_rate * exposure, 1.0):
            source = max(m.social, key=lambda j: self.adopted[j] * m.discovery[j])
            if available[source]:
                m.demand[source] += cfg.impulse_spend_share * self.budget


def nested_logit(utility: list[float], available: list[bool], u: float, nest_lambda: float) -> int:
    online = [utility[j] / nest_lambda for j in range(len(utility) - 1) if available[j]]
    if not online:
        return len(utility) - 1
    top = max(online)
    weights = [
        math.exp(utility[j] / nest_lambda - top) if available[j] else 0.0 for j in range(len(utility) - 1)
    ]
    total = sum(weights)
    inclusive = nest_lambda * (top + math.log(total))
    offline = utility[-1]
    level = max(inclusive, offline)
    p_online = math.exp(inclusive - level) / (math.exp(inclusive - level) + math.exp(offline - level))
    running = 0.0
    for j, w in enumerate(weights):
        running += w * p_online / total
        if running >= u:
            return j
    return len(utility) - 1


class MesaShopperModel(mesa.Model):
    """Only shoppers, under a fixed offer: the weekly shopper rule and nothing else."""

    def __init__(
        self,
        sh: Shoppers,
        offer: Offer,
        cfg: ShopperConfig,
        launched: np.ndarray,
        innovation: np.ndarray,
        word_of_mouth: np.ndarray,
        transact_share: np.ndarray,
        is_social: np.ndarray,
        seed: int = 0,
    ) -> None:
        super().__init__(rng=seed)
        self.cfg = cfg
        self.n_platforms = launched.shape[0]
        self.launched, self.innovation = launched.tolist(), innovation.tolist()
        self.word_of_mouth, self.transact_share = word_of_mouth.tolist(), transact_share.tolist()
        self.social = np.flatnonzero(is_social).tolist()
        self.base = (offer.brand_utility + cfg.variety_weight * offer.log_variety).tolist()
        self.log_price = offer.log_effective_price.tolist()
        self.discovery = offer.discovery.tolist()
        self.local_share = offer.local_share.tolist()
        self.shoppers = [MesaShopper(self, i, sh) for i in range(sh.n)]
        self.demand = [0.0] * (self.n_platforms + 1)
        self.choices = [0] * (self.n_platforms + 1)

    def step(self) -> None:
        self.adopted_last_week = [list(a.adopted) for a in self.shoppers]
        self.demand = [0.0] * (self.n_platforms + 1)
        self.choices = [0] * (self.n_platforms + 1)
        self.agents.shuffle_do("step")
