"""Constructed inputs for the market's pure functions, the closed forms their tests compare with,
and the sampling-error bound those tests use (not a test module: the mechanism tests import it).

The closed forms are written from docs/ODD.md in float64, independently of ``sim.core.market``.
"""

from __future__ import annotations

import copy
import functools

import numpy as np

from sim.core.population import LOCAL, MSMEs, Shoppers
from sim.schema.config import Config
from sim.schema.packaged import default_config

# Where a mechanism draws random numbers, a test compares what it observes with the expectation
# computed from its inputs, and the standard error of the observation under the mechanism's own
# sampling (binomial, or Poisson-binomial for choosers with different probabilities). It allows
# Z standard errors: a correct mechanism lands outside with probability about 7e-6 per
# comparison (normal tails), so the few hundred comparisons of the suite all pass unless
# something is wrong; the seeds are fixed, so the outcome is the same on every run. The sample
# sizes make a standard error a fraction of a percent of the expectation, so a rate off by 10%
# (a term dropped, a factor doubled) lies many standard errors out.
Z = 4.5


def assert_within_sampling_error(observed: float, expected: float, se: float, what: str) -> None:
    """``observed`` lies within ``Z`` standard errors ``se`` of ``expected``."""
    assert abs(observed - expected) <= Z * se, (
        f"{what}: observed {observed:.6g}, expected {expected:.6g} "
        f"(off by {abs(observed - expected) / se:.1f} standard errors of {se:.3g}; allowed {Z})"
    )


def poisson_binomial_se(probabilities: np.ndarray) -> float:
    """Standard error of a count of independent events with these probabilities."""
    p = np.asarray(probabilities, dtype=np.float64)
    return float(np.sqrt((p * (1.0 - p)).sum()))


def nested_logit_probabilities(utility: np.ndarray, available: np.ndarray, nest_lambda: float) -> np.ndarray:
    """(channels, choosers) choice probabilities of ODD 7.5: storefronts (all rows but the last)
    in one nest with dissimilarity lambda, offline (the last row) alone."""
    v = np.asarray(utility, dtype=np.float64)
    weights = np.where(available[:-1], np.exp(v[:-1] / nest_lambda), 0.0)
    total = weights.sum(axis=0)
    any_online = total > 0
    inclusive = nest_lambda * np.log(np.where(any_online, total, 1.0))
    p_online = np.where(any_online, np.exp(inclusive) / (np.exp(v[-1]) + np.exp(inclusive)), 0.0)
    within = weights / np.where(any_online, total, 1.0)
    return np.vstack([p_online * within, 1.0 - p_online])


@functools.cache
def _packaged(policy: str) -> Config:
    return default_config(policy)


def packaged_config(policy: str = "no_policy", n_shoppers: int = 4000, n_msmes: int = 1000) -> Config:
    """The packaged defaults (what ``python -m sim`` composes, without Hydra) at the given scale,
    a fresh copy each call."""
    cfg = copy.deepcopy(_packaged(policy))
    cfg.market.shoppers.n_agents = n_shoppers
    cfg.market.msmes.n_agents = n_msmes
    cfg.counterfactual = None
    return cfg


def shoppers(n_apps: int, **given: object) -> Shoppers:
    """``n`` shoppers with no network, weight 1, budget 100, who always shop and use every app,
    with zero tastes and habits, and the given fields replaced (``n`` is the length of ``budget``,
    which must be given; per-channel fields are channel-major lists)."""
    budget = np.asarray(given.pop("budget"), dtype=np.float32)
    n = budget.shape[0]
    f32 = np.float32
    fields: dict[str, object] = {
        "weight": 1.0,
        "budget": budget,
        "shop_prob": np.ones(n, f32),
        "price_sensitivity": np.zeros(n, f32),
        "discovery_taste": np.zeros(n, f32),
        "local_preference": np.zeros(n, f32),
        "can_reach": np.ones((n_apps, n), dtype=bool),
        "evade_draw": np.full(n, 0.5, f32),
        "adopted": np.ones((n_apps, n), dtype=bool),
        "habit": np.zeros((n_apps + 1, n), f32),
        "ties": np.zeros((0, n), dtype=np.int32),
        "followers": np.zeros(0, dtype=np.int32),
        "followers_ptr": np.zeros(n + 1, dtype=np.int64),
        "ties_using": np.zeros((n_apps, n), dtype=np.uint8),
        "deferred_idr": np.zeros(n),
    }
    for name, values in given.items():
        template = fields[name]
        fields[name] = (
            np.asarray(values, dtype=template.dtype) if isinstance(template, np.ndarray) else values
        )
    return Shoppers(**fields)


def sellers(n_platforms: int = 1, **given: list[float]) -> MSMEs:
    """``n`` local sellers, one firm each, price 1, quality 0, scale 1, listed on every storefront,
    with the given fields replaced (``n`` is the length of the given lists)."""
    n = len(next(iter(given.values())))
    ones = np.ones(n)
    fields = {
        "weight": ones.copy(),
        "origin": np.full(n, LOCAL, dtype=np.int8),
        "category": np.zeros(n, dtype=np.int8),
        "unit_cost": 0.5 * ones,
        "price": ones.copy(),
        "quality": np.zeros(n),
        "scale": ones.copy(),
        "capacity_idr": np.full(n, 1e12),
        "cash_idr": np.zeros(n),
        "has_stall": np.zeros(n, dtype=bool),
        "unit_price_usd": np.full(n, 10.0),
        "positive_listed": np.zeros(n, dtype=bool),
        "listed_share": np.ones((n, n_platforms)),
        "profit_ma_idr": np.zeros((n, n_platforms)),
        "active": np.ones(n, dtype=bool),
        "revenue_idr": np.zeros((n, n_platforms + 1)),
        "weeks_active": np.zeros(n, dtype=np.int32),
        "large": np.zeros(n, dtype=bool),
    }
    for name, values in given.items():
        fields[name] = np.asarray(values, dtype=fields[name].dtype)
    return MSMEs(**fields)


def one_storefront(demand: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Demand on one storefront (none offline), every seller eligible there only."""
    eligible = np.zeros((n, 2))
    eligible[:, 0] = 1.0
    return np.array([demand, 0.0]), eligible
