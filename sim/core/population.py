"""Initial populations as structures of arrays: shoppers, MSMEs and the shoppers' social network.

Agents in ``sim.core.agents`` are thin views over these arrays; the weekly step works on the arrays whole.
Dtypes are the smallest that are exact enough: float32 for behavioural traits and habit stocks,
float64 for money, int32 for indices. Shopper arrays with a channel dimension are channel-major
(channels, shoppers): reductions over a handful of channels are then elementwise operations on long
rows, which numpy does many times faster than short per-row reductions. MSME arrays with a channel
dimension are indexed (sellers, channels) but stored column-major (Fortran order) for the same
reason: a seller's sum over channels adds long columns, and a channel's sum over sellers runs
along one contiguous column (numpy's pairwise summation).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from sim.schema.config import MarketConfig

ORIGINS = ("local", "import_reseller", "cross_border")
LOCAL, IMPORT_RESELLER, CROSS_BORDER = 0, 1, 2


@dataclass
class Shoppers:
    weight: float  # people per shopper agent
    budget: np.ndarray  # IDR at list price per shopping occasion
    shop_prob: np.ndarray  # weekly probability of a planned shopping occasion
    price_sensitivity: np.ndarray  # utils per unit of log effective price
    discovery_taste: np.ndarray  # 0..1 taste for entertainment and discovery
    local_preference: np.ndarray  # 0..1 preference for local goods
    can_reach: np.ndarray  # (platforms, n) bool: the shopper can ever adopt the app
    evade_draw: np.ndarray  # uniform draw; the shopper keeps buying on a banned app if < 1 - compliance
    adopted: np.ndarray  # (platforms, n) bool: apps the shopper uses
    habit: np.ndarray  # (platforms + 1, n) habit stock per channel; the last row is offline
    ties: np.ndarray  # (degree, n) int32: ties[k, i] is shopper i's k-th tie in the social network
    followers: np.ndarray  # int32, grouped by shopper: who has shopper k among her ties
    followers_ptr: np.ndarray  # (n + 1,) int64: followers[ptr[k]:ptr[k + 1]] follow shopper k
    ties_using: np.ndarray  # (platforms, n) uint8: how many of a shopper's ties use each app
    deferred_idr: np.ndarray  # float64: out-of-pocket spend owed to earlier discovery purchases

    def followers_of(self, shoppers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Everyone who has one of ``shoppers`` among her ties (once per tie), shopper by
        shopper, and how many follow each of ``shoppers``."""
        starts, ends = self.followers_ptr[shoppers], self.followers_ptr[shoppers + 1]
        lengths = ends - starts
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        return self.followers[offsets + np.arange(lengths.sum())], lengths

    @property
    def n(self) -> int:
        return self.budget.shape[0]

    def block(self, rows: slice) -> Shoppers:
        """The shoppers ``rows`` as views into these arrays (writes go through); their ties and
        followers still index the whole population."""
        return Shoppers(
            weight=self.weight,
            budget=self.budget[rows],
            shop_prob=self.shop_prob[rows],
            price_sensitivity=self.price_sensitivity[rows],
            discovery_taste=self.discovery_taste[rows],
            local_preference=self.local_preference[rows],
            can_reach=self.can_reach[:, rows],
            evade_draw=self.evade_draw[rows],
            adopted=self.adopted[:, rows],
            habit=self.habit[:, rows],
            ties=self.ties[:, rows],
            followers=self.followers,
            followers_ptr=self.followers_ptr,
            ties_using=self.ties_using[:, rows],
            deferred_idr=self.deferred_idr[rows],
        )


@dataclass
class MSMEs:
    weight: np.ndarray  # firms per agent (float64)
    origin: np.ndarray  # int8 index into ORIGINS
    category: np.ndarray  # int8 index into the configured categories
    unit_cost: np.ndarray  # relative to the reference price 1.0
    price: np.ndarray  # relative price
    quality: np.ndarray  # quality index (utils in seller attractiveness)
    scale: np.ndarray  # product range and visibility; drives attractiveness and capacity
    capacity_idr: np.ndarray  # weekly sales the agent's firms can serve, IDR
    cash_idr: np.ndarray  # cash of the agent's firms, IDR
    has_stall: np.ndarray  # bool: sells offline
    unit_price_usd: np.ndarray  # typical item price, for the cross-border floor
    positive_listed: np.ndarray  # bool: goods on the cross-border positive list
    listed_share: np.ndarray  # (n, platforms) float: share of the agent's firms on each storefront
    profit_ma_idr: np.ndarray  # (n, platforms) moving average of weekly profit per storefront
    active: np.ndarray  # bool
    revenue_idr: np.ndarray  # (n, platforms + 1) last week's sales per channel; last = offline
    weeks_active: np.ndarray  # int32
    large: np.ndarray  # bool: the agent stands for large firms (sales > IDR 50 bn a year), not MSMEs

    @property
    def n(self) -> int:
        return self.weight.shape[0]


def small_world(n: int, degree: int, rewire_prob: float, rng: np.random.Generator) -> np.ndarray:
    """Watts-Strogatz ties as a (degree, n) index array: ring lattice, each tie rewired with prob.

    Ties are directed (i listens to ties[:, i]); a rewired tie points to a uniformly drawn shopper.
    """
    if degree == 0:
        return np.zeros((0, n), dtype=np.int32)
    offsets = np.concatenate([np.arange(1, degree // 2 + 1), -np.arange(1, degree // 2 + 1)])
    # Built a row at a time, straight into int32: the same ties and the same draws (a row's
    # uniforms are the next n of the stream, as they are when drawn for the whole array at once),
    # without (degree x n) temporaries of 8 bytes each.
    ring = np.arange(n)
    ties = np.empty((offsets.size, n), dtype=np.int32)
    rewire = np.empty((offsets.size, n), dtype=bool)
    for k, offset in enumerate(offsets):
        ties[k] = (ring + offset) % n
    for k in range(offsets.size):
        rewire[k] = rng.random(n) < rewire_prob
    ties[rewire] = rng.integers(0, n, size=int(rewire.sum()))
    return ties


def correlated_holdings(
    reach: np.ndarray, correlation: float, n: int, rng: np.random.Generator
) -> np.ndarray:
    """(apps, n) bool: who can ever use each app, with each app's reach as its marginal and a
    one-factor Gaussian copula tying them together.

    One latent taste for shopping online drives every app: with ``correlation`` rho, shopper i
    holds app j when ``rho z_i + sqrt(1 - rho^2) e_ij`` is below the ``reach_j`` quantile. At rho = 0
    holdings are independent (a quarter of TikTok's users then hold no marketplace app); near 1
    they are nested (the users of a small app hold the large ones too), as survey shares summing to
    ~150% with one dominant app suggest (calibration_targets.csv shopper_multihoming).
    """
    normal = NormalDist()
    cut = np.array([normal.inv_cdf(min(max(r, 1e-9), 1 - 1e-9)) for r in reach])
    common = correlation * rng.standard_normal(n)
    own_weight = np.sqrt(1.0 - correlation**2)
    holds = np.empty((reach.shape[0], n), dtype=bool)
    for j in range(reach.shape[0]):  # an app at a time: the same draws, one row of temporaries
        holds[j] = (common + own_weight * rng.standard_normal(n) < cut[j]) & (reach[j] > 0)
    return holds


def build_shoppers(market: MarketConfig, rng: np.random.Generator) -> Shoppers:
    cfg = market.shoppers
    platforms = list(market.platforms.values())
    n, n_platforms = cfg.n_agents, len(platforms)
    mean, k = cfg.shop_prob_mean, cfg.shop_prob_concentration
    shop_prob = rng.beta(max(mean * k, 1e-3), max((1 - mean) * k, 1e-3), n)
    reach = np.array([p.reach for p in platforms])
    can_reach = correlated_holdings(reach, cfg.app_holding_correlation, n, rng)
    initial = np.array([p.initial_adoption for p in platforms]) / np.maximum(reach, 1e-9)
    adopted = np.empty((n_platforms, n), dtype=bool)
    for j in range(n_platforms):  # the same draws as for all apps at once, one row at a time
        adopted[j] = can_reach[j] & (rng.random(n) < initial[j])
    habit = np.zeros((n_platforms + 1, n), dtype=np.float32)
    habit[:n_platforms] = 0.5 * adopted
    habit[n_platforms] = 0.5
    ties = small_world(n, cfg.network_degree, cfg.network_rewire_prob, rng)
    # Reverse adjacency (followers of each shopper), so that counts of ties using an app can be
    # kept up to date from the week's new adopters alone instead of recounted for everyone.
    flat = ties.ravel()
    order = np.argsort(flat, kind="stable")
    followers = np.remainder(order, n, out=order).astype(np.int32)
    del order
    followers_ptr = np.concatenate([[0], np.cumsum(np.bincount(flat, minlength=n))])
    ties_using = np.zeros((n_platforms, n), dtype=np.uint8)
    for slot in ties:
        ties_using += adopted[:, slot]
    return Shoppers(
        weight=cfg.population / n,
        budget=(cfg.budget_median_idr * rng.lognormal(0.0, cfg.budget_sigma, n)).astype(np.float32),
        shop_prob=shop_prob.astype(np.float32),
        price_sensitivity=np.maximum(
            rng.normal(cfg.price_sensitivity_mean, cfg.price_sensitivity_sd, n), 0.0
        ).astype(np.float32),
        discovery_taste=rng.beta(cfg.discovery_taste_a, cfg.discovery_taste_b, n).astype(np.float32),
        local_preference=rng.beta(cfg.local_preference_a, cfg.local_preference_b, n).astype(np.float32),
        can_reach=can_reach,
        evade_draw=rng.random(n).astype(np.float32),
        adopted=adopted,
        habit=habit,
        ties=ties,
        followers=followers,
        followers_ptr=followers_ptr,
        ties_using=ties_using,
        deferred_idr=np.zeros(n),
    )


def origin_weights(market: MarketConfig, group: np.ndarray) -> np.ndarray:
    """Firms per agent so that each group's agents add up to its national firm count; ``group`` is
    the origin index, or 3 for the agents of large firms."""
    m = market.msmes
    firms = np.array(
        [
            m.firms * (1 - m.import_reseller_firm_share),
            m.firms * m.import_reseller_firm_share,
            m.cross_border_firms,
            m.large_firms,
        ]
    )
    counts = np.bincount(group, minlength=4)
    return (firms / np.maximum(counts, 1))[group]


def draw_msme_traits(
    market: MarketConfig, origin: np.ndarray, rng: np.random.Generator, positive_list_share: float
) -> dict[str, np.ndarray]:
    """Traits of new firms of the given origins: used at start and for entrants."""
    m = market.msmes
    n: int = origin.shape[0]
    cost_by_origin = np.array([m.unit_cost_local, m.unit_cost_import_reseller, m.unit_cost_cross_border])
    unit_cost = cost_by_origin[origin] * rng.lognormal(0.0, 0.1, n)
    domestic = origin != CROSS_BORDER
    cross_border_price = m.cross_border_unit_price_median_usd * rng.lognormal(
        0.0, max(m.cross_border_unit_price_sigma, 1e-9), n
    )
    domestic_price = 10.0 * rng.lognormal(0.0, 1.0, n)
    return {
        "category": rng.integers(0, len(m.categories), n).astype(np.int8),
        "unit_cost": unit_cost.astype(np.float32),
        "price": (unit_cost * (1 + m.markup)).astype(np.float32),
        "quality": rng.normal(0.0, max(m.quality_sd, 1e-9), n).astype(np.float32),
        "scale": rng.lognormal(0.0, max(m.size_sigma, 1e-9), n).astype(np.float32),
        "has_stall": domestic & (rng.random(n) < m.stall_share),
        "unit_price_usd": np.where(domestic, domestic_price, cross_border_price).astype(np.float32),
        "positive_listed": rng.random(n) < positive_list_share,
    }


def stratified_lognormal(n: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Lognormal(0, sigma) values at evenly spaced quantiles, in random order.

    Each agent stands for many firms; stratifying the size draw makes a few thousand agents carry
    the whole size distribution, heavy tail included, without the sampling noise of random draws.
    """
    normal = NormalDist()
    z = np.array([normal.inv_cdf((i + 0.5) / n) for i in range(n)])
    return np.exp(sigma * rng.permutation(z)).astype(np.float32)


def build_msmes(
    market: MarketConfig, rng: np.random.Generator, positive_list_share: float, expected_demand_idr: float
) -> MSMEs:
    """``n_agents`` MSME agents, then ``large_agents`` agents for the large firms (brands'
    official stores: local origin, no stall in the model's offline channel of stalls and markets,
    listed on every marketplace open at the start)."""
    m = market.msmes
    n_msme, n_platforms = m.n_agents, len(market.platforms)
    n = n_msme + m.large_agents
    shares = np.array([m.origin_agent_shares[o] for o in ORIGINS])
    origin = np.repeat(np.arange(3), np.round(shares / shares.sum() * n_msme).astype(int))[:n_msme]
    origin = np.concatenate([origin, np.zeros(n_msme - origin.shape[0], dtype=origin.dtype)])
    origin = np.concatenate([rng.permutation(origin), np.full(m.large_agents, LOCAL)]).astype(np.int8)
    large = np.arange(n) >= n_msme
    traits = draw_msme_traits(market, origin, rng, positive_list_share)
    traits["scale"] = np.concatenate(
        [
            stratified_lognormal(n_msme, m.size_sigma, rng),
            stratified_lognormal(m.large_agents, m.size_sigma, rng),
        ]
    )
    traits["has_stall"] &= ~large
    weight = origin_weights(market, np.where(large, 3, origin))

    # Capacity: firms are sized so that total capacity is capacity_slack x the demand they face at
    # the start, shared by scale; without it a firm's size would have no anchor in the market.
    # Large firms hold large_capacity_share of it.
    scale_weight = weight * traits["scale"]
    msme_total, large_total = scale_weight[~large].sum(), scale_weight[large].sum()
    if m.large_agents:
        traits["scale"][large] *= np.float32(
            m.large_capacity_share / (1.0 - m.large_capacity_share) * msme_total / max(large_total, 1e-300)
        )
        scale_weight = weight * traits["scale"]
    capacity = m.capacity_slack * expected_demand_idr * scale_weight / scale_weight.sum()

    # An agent stands for thousands of firms, so its listings are shares of its firms, not a
    # yes/no: the online-ready firms (all of a stall-less agent's, online_ready_share of the
    # others) list on each storefront with the survey's probability, independently. A yes/no per
    # agent made the few largest agents' listings move a storefront's share by 5 points per seed.
    launched_at_start = np.array([p.initial_adoption > 0 for p in market.platforms.values()])
    seller_share = np.array([p.initial_seller_share for p in market.platforms.values()])
    seller_share = seller_share * launched_at_start
    online_ready = np.where(traits["has_stall"], m.online_ready_share, 1.0)
    # Firms without a stall must sell somewhere: scale their listings so that all are online.
    any_listing = 1.0 - np.prod(1.0 - seller_share)
    online_only_boost = np.where(traits["has_stall"], 1.0, 1.0 / max(any_listing, 1e-9))
    listed_share = np.minimum(
        online_ready[:, None] * seller_share[None, :] * online_only_boost[:, None], 1.0
    ).astype(np.float32)
    marketplace = np.array([p.kind == "marketplace" for p in market.platforms.values()])
    listed_share[large] = (launched_at_start & marketplace).astype(np.float32)
    fixed_cost = fixed_cost_idr(market, capacity, traits["has_stall"], listed_share)
    return MSMEs(
        weight=weight,
        origin=origin,
        capacity_idr=capacity.astype(np.float64),
        cash_idr=m.initial_cash_weeks * fixed_cost,
        listed_share=np.asfortranarray(listed_share),
        profit_ma_idr=np.zeros((n, n_platforms), dtype=np.float32, order="F"),
        active=np.ones(n, dtype=bool),
        revenue_idr=np.zeros((n, n_platforms + 1), order="F"),
        weeks_active=np.zeros(n, dtype=np.int32),
        large=large,
        **traits,
    )


def fixed_cost_idr(
    market: MarketConfig, capacity_idr: np.ndarray, has_stall: np.ndarray, listed_share: np.ndarray
) -> np.ndarray:
    """Weekly fixed cost of each agent's firms, IDR: stalls and storefronts cost in proportion to
    the capacity they serve, so a firm's costs scale with its size. Only firms with a stall pay
    for one."""
    m = market.msmes
    return capacity_idr * (m.stall_cost_share * has_stall + m.listing_cost_share * listed_share.sum(1))


def online_share(listed_share: np.ndarray) -> np.ndarray:
    """Share of each agent's firms on at least one storefront (firms list independently)."""
    return 1.0 - np.prod(1.0 - listed_share, axis=1)
