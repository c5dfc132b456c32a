"""Each mechanism has the size docs/ODD.md gives it, not only the right sign (issue 13).

The model's pure functions (``sim.core.market``, ``sim.core.population``, ``sim.core.policies``)
run on small constructed inputs or on packaged populations, and each result is compared with a
closed form or a hand computation from the ODD's equations. Where the mechanism draws random
numbers the comparison runs over several seeds and allows ``Z`` standard errors of the
mechanism's own sampling (see ``tests/mechanics.py``); where it does not, the comparison is
exact up to float rounding. Each test names the section of docs/ODD.md it checks, and the
mutants it was checked against are in its docstring.
"""

from __future__ import annotations

import datetime as dt
import math
from statistics import NormalDist

import numpy as np
import pytest

from sim.core.market import (
    Offer,
    adjust_prices_and_capacity,
    channel_utility,
    clear_market,
    eligible_sellers,
    find_exits,
    nested_logit_draw,
    settle_payments,
    shoppers_shop,
    spread_app_adoption,
    update_habit,
    update_listings,
)
from sim.core.model import EcommerceModel
from sim.core.policies import build_policy_path
from sim.core.population import CROSS_BORDER, IMPORT_RESELLER, build_shoppers, draw_msme_traits, small_world
from sim.schema.config import MSMEConfig, ShopperConfig, parse_date
from sim.schema.weeks import first_step_on_or_after, weekly_dates
from tests.mechanics import (
    assert_within_sampling_error,
    nested_logit_probabilities,
    packaged_config,
    poisson_binomial_se,
    sellers,
    shoppers,
)

SEEDS = range(5)
ROSTER = [p.name for p in packaged_config().market.platforms.values()]
TIKTOK, SHOPEE, N_PLATFORMS = ROSTER.index("TikTok Shop"), ROSTER.index("Shopee"), len(ROSTER)


def plain_offer(n_channels: int, **given: list[float]) -> Offer:
    """Every channel at price 1 with no subsidy, variety, content or local goods, unless given."""
    fields = {name: np.zeros(n_channels) for name in Offer.__dataclass_fields__}
    fields.update({name: np.asarray(values, dtype=np.float64) for name, values in given.items()})
    return Offer(**fields)


def uniform_draws(n: int, **given: float | np.ndarray) -> dict[str, np.ndarray]:
    """The week's five shopper uniforms: nobody plans a purchase or buys on impulse unless told."""
    draws = {"shop": 1.0, "impulse": 1.0, "choice": 0.5, "leak": 1.0, "steer": 1.0, **given}
    return {k: np.broadcast_to(np.asarray(v, dtype=np.float32), (n,)).copy() for k, v in draws.items()}


def shop(
    sh, offer: Offer, cfg: ShopperConfig, draws: dict[str, np.ndarray], transact: np.ndarray | None = None
):
    """One week of ``shoppers_shop`` with every checkout open (unless ``transact``), no link leak
    and no steering (so which storefronts are social does not matter)."""
    j = offer.brand_utility.shape[0] - 1
    transact = np.ones(j) if transact is None else transact
    no_social = np.zeros(j, dtype=bool)
    return shoppers_shop(
        sh, offer, transact, np.zeros(j), np.zeros(j), np.full(j, -1), no_social, 1.0, cfg, draws
    )


# --- 7.3 app adoption -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_bass_adoption_per_week_is_innovation_plus_word_of_mouth_by_share_of_ties(seed: int):
    """ODD 7.3: a shopper who can reach the app and does not use it adopts it with probability
    1 - (1 - p)(1 - q k / d), k of her d ties using it. Checked for every k held by at least 500
    candidates in a packaged population of 60,000 shoppers (degree 8) with half the app's reach
    using it. Mutants caught: q doubled, p dropped, the tie count not divided by the degree,
    tie counts not updated after adoption."""
    cfg = packaged_config(n_shoppers=60_000)
    rng = np.random.default_rng(seed)
    sh = build_shoppers(cfg.market, rng)
    degree = sh.ties.shape[0]
    sh.adopted[TIKTOK] = sh.can_reach[TIKTOK] & (rng.random(sh.n) < 0.5)
    sh.ties_using[TIKTOK] = sh.adopted[TIKTOK][sh.ties].sum(axis=0)
    ties_using = sh.ties_using[TIKTOK].copy()
    before = sh.adopted[TIKTOK].copy()
    candidates = sh.can_reach[TIKTOK] & ~before
    p, q = 0.02, 0.4
    launched = np.zeros(N_PLATFORMS, dtype=bool)
    launched[TIKTOK] = True
    spread_app_adoption(sh, launched, p * launched, q * launched, np.random.default_rng(1000 + seed))
    new = sh.adopted[TIKTOK] & ~before
    assert not new[~candidates].any()
    checked = []
    for k in range(degree + 1):
        group = candidates & (ties_using == k)
        if group.sum() < 500:
            continue
        prob = 1.0 - (1.0 - p) * (1.0 - q * k / degree)
        se = math.sqrt(prob * (1.0 - prob) / group.sum())
        assert_within_sampling_error(new[group].mean(), prob, se, f"adoption with {k} of {degree} ties")
        checked.append(k)
    assert len(checked) >= 5, checked
    # The counts of ties using the app follow the week's adopters (next week's word of mouth).
    np.testing.assert_array_equal(sh.ties_using[TIKTOK], sh.adopted[TIKTOK][sh.ties].sum(axis=0))


@pytest.mark.parametrize("seed", SEEDS)
def test_small_world_rewires_the_configured_share_of_ties(seed: int):
    """ODD 5 (the network): a ring lattice of d/2 neighbours each side, each tie rewired with
    probability p_rw to a uniform shopper (who is the lattice neighbour again with chance 1/n).
    Mutant caught: rewiring at half the probability."""
    n, degree, rewire = 50_000, 8, 0.1
    ties = small_world(n, degree, rewire, np.random.default_rng(seed))
    offsets = np.concatenate([np.arange(1, degree // 2 + 1), -np.arange(1, degree // 2 + 1)])
    lattice = (np.arange(n)[None, :] + offsets[:, None]) % n
    assert ties.shape == (degree, n)
    expected = rewire * (1.0 - 1.0 / n)
    se = math.sqrt(expected * (1.0 - expected) / (n * degree))
    assert_within_sampling_error((ties != lattice).mean(), expected, se, "share of ties rewired")


# --- 7.4 utility and 7.5 choice --------------------------------------------------------------------


def test_channel_utility_adds_up_the_terms_of_odd_7_4():
    """V_ij = delta_j + beta_v ln v_j - alpha_i ln(p_j (1 - s_j)) + beta_d D_j theta_i
    + beta_l L_j l_i + beta_h H_ij, hand-computed for two shoppers and three channels.
    Mutants caught: the price term's sign flipped, a weight dropped (variety, discovery, local,
    habit), the price term without the shopper's sensitivity."""
    cfg = ShopperConfig(variety_weight=0.3, discovery_weight=2.0, local_weight=0.5, habit_weight=1.5)
    offer = plain_offer(
        3,
        brand_utility=[0.2, -0.1, 0.0],
        log_effective_price=np.log([0.9, 1.2, 1.0]),
        log_variety=np.log([0.5, 0.25, 1.0]),
        discovery=[1.0, 0.0, 0.0],
        local_share=[0.4, 0.8, 0.6],
    )
    sh = shoppers(
        2,
        budget=[100.0, 100.0],
        price_sensitivity=[2.0, 6.0],
        discovery_taste=[0.5, 0.1],
        local_preference=[0.2, 0.9],
        habit=[[0.3, 0.0], [0.0, 0.6], [0.5, 0.5]],
    )
    expected = np.array(
        [
            [
                0.2
                + 0.3 * math.log(0.5)
                - 2.0 * math.log(0.9)
                + 2.0 * 1.0 * 0.5
                + 0.5 * 0.4 * 0.2
                + 1.5 * 0.3,
                0.2 + 0.3 * math.log(0.5) - 6.0 * math.log(0.9) + 2.0 * 1.0 * 0.1 + 0.5 * 0.4 * 0.9,
            ],
            [
                -0.1 + 0.3 * math.log(0.25) - 2.0 * math.log(1.2) + 0.5 * 0.8 * 0.2,
                -0.1 + 0.3 * math.log(0.25) - 6.0 * math.log(1.2) + 0.5 * 0.8 * 0.9 + 1.5 * 0.6,
            ],
            [0.5 * 0.6 * 0.2 + 1.5 * 0.5, 0.5 * 0.6 * 0.9 + 1.5 * 0.5],
        ]
    )
    np.testing.assert_allclose(channel_utility(sh, offer, cfg), expected, rtol=1e-6, atol=1e-6)


CHOICE_CASES = [
    # utilities of four storefronts and offline, and which storefronts are open
    ([0.5, 0.2, -0.3, 1.0, 0.1], [True, True, True, True]),
    ([0.5, 0.2, -0.3, 1.0, 0.1], [True, False, True, False]),
    ([-1.0, 2.0, 0.0, 0.3, 1.5], [False, False, True, False]),
    ([0.0, 0.0, 0.0, 0.0, -2.0], [True, True, True, True]),
    ([0.5, 0.2, -0.3, 1.0, 0.1], [False, False, False, False]),
]


@pytest.mark.parametrize("nest_lambda", [0.3, 0.6, 1.0])
@pytest.mark.parametrize(("utility", "open_apps"), CHOICE_CASES)
def test_nested_logit_choice_shares_are_the_closed_form_probabilities(
    utility: list[float], open_apps: list[bool], nest_lambda: float
):
    """ODD 7.5: with one uniform per chooser drawn through the inverse CDF, N choosers alike with
    the evenly spaced uniforms (k + 0.5) / N choose each channel in its probability's share,
    within 2 / N (each channel is an interval of the uniform; float32 rounding adds ~1e-6).
    Mutants caught: the inclusive value without lambda, the within-nest weights not divided by
    lambda, the online/offline split with the sign flipped, an unavailable storefront chosen."""
    n = 100_000
    v = np.repeat(np.array(utility, dtype=np.float32)[:, None], n, axis=1)
    available = np.repeat(np.array([*open_apps, True])[:, None], n, axis=1)
    u = (np.arange(n) + 0.5) / n
    choice = nested_logit_draw(v.copy(), available, u.astype(np.float32), nest_lambda)
    shares = np.bincount(choice, minlength=v.shape[0]) / n
    expected = nested_logit_probabilities(v[:, :1], available[:, :1], nest_lambda)[:, 0]
    np.testing.assert_allclose(shares, expected, atol=2 / n + 1e-5)


@pytest.mark.parametrize("nest_lambda", [0.3, 0.7, 1.0])
@pytest.mark.parametrize("seed", SEEDS)
def test_nested_logit_choice_counts_over_different_shoppers(seed: int, nest_lambda: float):
    """ODD 7.5 for 50,000 shoppers with their own utilities and open storefronts and random
    uniforms: each channel's count is a sum of independent Bernoulli draws, so it lies within Z
    Poisson-binomial standard errors of the sum of the closed-form probabilities. The mutants of
    the test above fail here too."""
    rng = np.random.default_rng(seed)
    n = 50_000
    v = rng.normal(0.0, 1.0, (5, n)).astype(np.float32)
    available = np.vstack([rng.random((4, n)) < 0.6, np.ones((1, n), dtype=bool)])
    u = rng.random(n, dtype=np.float32)
    choice = nested_logit_draw(v.copy(), available, u, nest_lambda)
    probabilities = nested_logit_probabilities(v, available, nest_lambda)
    assert available[choice, np.arange(n)].all()
    for j in range(5):
        assert_within_sampling_error(
            float((choice == j).sum()),
            float(probabilities[j].sum()),
            poisson_binomial_se(probabilities[j]),
            f"choosers of channel {j}",
        )


@pytest.mark.parametrize("seed", SEEDS)
def test_planned_spending_is_shop_probability_times_budget(seed: int):
    """ODD 5 and 7.5: a shopper plans a purchase with probability pi_i and then spends her
    budget (at price 1 without subsidy), so weekly planned spending is sum pi_i b_i (the E[Y]
    that sizes sellers' capacity) and planned buyers sum pi_i, within Z standard errors.
    Mutant caught: the shop draw compared the wrong way round."""
    cfg = packaged_config(n_shoppers=40_000)
    sh = build_shoppers(cfg.market, np.random.default_rng(seed))
    n_channels = N_PLATFORMS + 1
    u = np.random.default_rng(500 + seed).random(sh.n, dtype=np.float32)
    week = shop(sh, plain_offer(n_channels), cfg.market.shoppers, uniform_draws(sh.n, shop=u))
    pi, budget = sh.shop_prob.astype(np.float64), sh.budget.astype(np.float64)
    assert_within_sampling_error(
        week.planned_idr.sum() / sh.weight,
        float((pi * budget).sum()),
        math.sqrt(float((budget**2 * pi * (1.0 - pi)).sum())),
        "planned spending",
    )
    assert_within_sampling_error(
        week.buyers.sum() / sh.weight, float(pi.sum()), poisson_binomial_se(pi), "planned buyers"
    )


# --- 7.6 habit -------------------------------------------------------------------------------------


def test_habit_is_an_exponential_moving_average_of_the_chosen_channel():
    """ODD 7.6: H <- (1 - eta) H + eta 1[chosen] for shoppers who shopped; the others' habits
    stay. From zero, k weeks on one channel give it 1 - (1 - eta)^k. Mutants caught: eta
    doubled, the decay applied to shoppers who did not shop, eta added to every channel."""
    sh = shoppers(2, budget=[1.0, 1.0, 1.0], habit=[[0.5, 0.1, 0.0], [0.2, 0.3, 0.0], [0.3, 0.6, 1.0]])
    update_habit(sh, np.array([True, True, False]), np.array([0, 2, 1]), 0.2)
    np.testing.assert_allclose(
        sh.habit, [[0.6, 0.08, 0.0], [0.16, 0.24, 0.0], [0.24, 0.68, 1.0]], rtol=1e-6, atol=1e-7
    )
    fresh = shoppers(2, budget=[1.0])
    for _ in range(10):
        update_habit(fresh, np.array([True]), np.array([1]), 0.2)
    for _ in range(5):
        update_habit(fresh, np.array([True]), np.array([0]), 0.2)
    np.testing.assert_allclose(
        fresh.habit[:, 0], [1 - 0.8**5, (1 - 0.8**10) * 0.8**5, 0.0], rtol=1e-5, atol=1e-7
    )


# --- 7.7 discovery purchases -----------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.3, 1.0])
@pytest.mark.parametrize("seed", SEEDS)
def test_discovery_purchase_probability_is_rate_times_exposure_times_taste(seed: int, rate: float):
    """ODD 7.7: a shopper makes a discovery purchase with probability min(1, rho E_i theta_i),
    E_i the summed discovery strength of the apps she uses, and buys on the strongest of them
    for kappa of her budget. Here TikTok Shop (D = 1) for everyone and Shopee's content
    (D = 0.5) for half of them; at rho = 1 the cap binds for the keenest. Buyers and spend within
    Z standard errors over 40,000 packaged shoppers. Mutants caught: exposure from the strongest
    app only, taste dropped, the rate doubled, the purchase's size doubled, purchases sent to the
    weaker source."""
    cfg = packaged_config(n_shoppers=40_000)
    scfg = cfg.market.shoppers
    scfg.impulse_rate, scfg.impulse_spend_share = rate, 0.5
    sh = build_shoppers(cfg.market, np.random.default_rng(seed))
    sh.adopted[:] = False
    sh.adopted[TIKTOK] = True
    both = np.arange(sh.n) % 2 == 0
    sh.adopted[SHOPEE, both] = True
    discovery = np.zeros(N_PLATFORMS + 1)
    discovery[TIKTOK], discovery[SHOPEE] = 1.0, 0.5
    u = np.random.default_rng(500 + seed).random(sh.n, dtype=np.float32)
    week = shop(sh, plain_offer(N_PLATFORMS + 1, discovery=discovery), scfg, uniform_draws(sh.n, impulse=u))
    exposure = np.where(both, 1.5, 1.0)
    prob = np.minimum(1.0, rate * exposure * sh.discovery_taste.astype(np.float64))
    assert_within_sampling_error(
        week.buyers[TIKTOK] / sh.weight, float(prob.sum()), poisson_binomial_se(prob), "discovery buyers"
    )
    spend = 0.5 * sh.budget.astype(np.float64)
    assert_within_sampling_error(
        week.impulse_idr[TIKTOK] / sh.weight,
        float((spend * prob).sum()),
        math.sqrt(float((spend**2 * prob * (1.0 - prob)).sum())),
        "discovery spend",
    )
    assert week.impulse_idr.sum() == week.impulse_idr[TIKTOK]


# --- 7.2 and 7.5: the ban with compliance c --------------------------------------------------------


@pytest.mark.parametrize("compliance", [0.0, 0.3, 0.8, 1.0])
def test_while_the_ban_holds_one_minus_compliance_of_shoppers_may_check_out(compliance: float):
    """ODD 7.2: tau_j(t) is 0 before launch, 1 - nu while the ban holds and 1 otherwise, on the
    dates of the packaged ban (2023-10-04) and TikTok Shop's launch (2021-04-17); the ban
    touches no marketplace. Mutants caught: tau = nu under the ban, the ban a week late."""
    cfg = packaged_config("ban_only")
    cfg.scenario.social_commerce_ban.compliance = compliance
    dates = weekly_dates(dt.date(2021, 1, 4), dt.date(2025, 12, 29))
    path = build_policy_path(cfg.market, cfg.scenario, dates)
    expected = np.ones((len(dates), N_PLATFORMS))
    for j, platform in enumerate(cfg.market.platforms.values()):
        expected[: first_step_on_or_after(dates, parse_date("launch", platform.launch_date)), j] = 0.0
    ban = first_step_on_or_after(dates, dt.date(2023, 10, 4))
    expected[ban:, TIKTOK] = 1.0 - compliance
    np.testing.assert_allclose(path.transact_share, expected)


@pytest.mark.parametrize("compliance", [0.3, 0.8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_ban_with_compliance_c_leaves_one_minus_c_of_its_single_homers_demand(seed: int, compliance: float):
    """ODD 7.5: a banned app stays open to the shoppers whose fixed draw e_i is below 1 - nu.
    40,000 packaged shoppers who use TikTok Shop only and (offline utility -30) always buy
    online when they can: exactly those with e_i < 1 - nu buy there, the rest offline, so the
    app keeps a share 1 - nu of planned spending, within Z standard errors (the e_i are uniform,
    independent of budgets). Mutants caught: compliance applied twice (tau squared), the
    evasion draw read from its other end (1 - e_i < tau: the same share, other shoppers)."""
    cfg = packaged_config(n_shoppers=40_000)
    sh = build_shoppers(cfg.market, np.random.default_rng(seed))
    sh.adopted[:] = False
    sh.adopted[TIKTOK] = True
    sh.habit[:] = 0.0
    brand = np.zeros(N_PLATFORMS + 1)
    brand[-1] = -30.0
    transact = np.ones(N_PLATFORMS)
    transact[TIKTOK] = 1.0 - compliance
    week = shop(
        sh,
        plain_offer(N_PLATFORMS + 1, brand_utility=brand),
        cfg.market.shoppers,
        uniform_draws(sh.n, shop=0.0),
        transact,
    )
    budget = sh.budget.astype(np.float64)
    kept = sh.evade_draw < 1.0 - compliance
    assert week.planned_idr[TIKTOK] == pytest.approx(sh.weight * budget[kept].sum(), rel=1e-6)
    assert week.planned_idr[-1] == pytest.approx(sh.weight * budget[~kept].sum(), rel=1e-6)
    share = week.planned_idr[TIKTOK] / week.planned_idr.sum()
    se = math.sqrt(compliance * (1.0 - compliance) * float((budget**2).sum())) / budget.sum()
    assert_within_sampling_error(share, 1.0 - compliance, se, "share of demand the ban leaves")


# --- 7.9 the cross-border floor --------------------------------------------------------------------


@pytest.mark.parametrize("floor_usd", [10.0, 100.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_floor_blocks_the_share_of_cross_border_firms_priced_below_it(seed: int, floor_usd: float):
    """ODD 5 and 7.9: cross-border item prices are lognormal (median u_med, sigma), a share z_pos
    is on the positive list, and the floor blocks the others priced below it, so it blocks
    (1 - z_pos) Phi(ln(floor / u_med) / sigma) of the cross-border firms (packaged values, 20,000
    of them) and no domestic firm. Mutants caught: the positive list ignored, the comparison
    reversed, domestic resellers blocked too."""
    cfg = packaged_config("history")
    m = cfg.market.msmes
    positive = cfg.scenario.cross_border_floor.positive_list_share
    n = 40_000
    origin = np.where(np.arange(n) % 2 == 0, CROSS_BORDER, IMPORT_RESELLER).astype(np.int8)
    traits = draw_msme_traits(cfg.market, origin, np.random.default_rng(seed), positive)
    ms = sellers(2, origin=origin, **traits)
    blocked = ~eligible_sellers(ms, floor_usd, np.array([-1, -1]))[:, :2].any(axis=1)
    cross_border = origin == CROSS_BORDER
    assert not blocked[~cross_border].any()
    z = math.log(floor_usd / m.cross_border_unit_price_median_usd) / m.cross_border_unit_price_sigma
    expected = (1.0 - positive) * NormalDist().cdf(z)
    se = math.sqrt(expected * (1.0 - expected) / cross_border.sum())
    assert_within_sampling_error(blocked[cross_border].mean(), expected, se, "share of firms blocked")


def test_an_item_priced_at_the_floor_may_be_sold():
    """ODD 7.9: blocked only below the floor (u_m < floor), so at the floor an item sells.
    Mutant caught: ``<=`` for ``<``."""
    ms = sellers(1, origin=[CROSS_BORDER] * 3, unit_price_usd=[99.99, 100.0, 100.01])
    np.testing.assert_array_equal(eligible_sellers(ms, 100.0, np.array([-1]))[:, 0], [0.0, 1.0, 1.0])


# --- 7.10 clearing ---------------------------------------------------------------------------------


def test_the_local_boost_multiplies_local_producers_pull_on_storefronts_only():
    """ODD 7.10: pull (1 + b) for local producers on a storefront with boost b, none offline.
    A local producer and a reseller alike share a storefront's 100 as 60 : 40 at b = 0.5 and
    offline 100 as 50 : 50. Mutants caught: the boost applied offline, the boost b instead of
    1 + b, the boost given to the resellers."""
    ms = sellers(1, origin=[0, IMPORT_RESELLER], has_stall=[True, True])
    clearing = clear_market(ms, np.array([100.0, 100.0]), np.ones((2, 2)), np.array([0.5]), MSMEConfig())
    np.testing.assert_allclose(clearing.sold_idr, [[60.0, 50.0], [40.0, 50.0]])


def test_one_capacity_serves_all_of_a_sellers_channels():
    """ODD 7.10: fill rate f_m = min(1, K_m / sum_j X_mj) over all channels. Two sellers alike
    share a storefront's 100 and offline 60 as 50 + 30 each; A holds 40 in all, so it keeps
    half of each (25 and 15) and its 25 and 15 of overflow go to B, which has room: B sells
    75 and 45, nothing unmet. Mutant caught: the fill rate from a seller's largest channel
    instead of its total (B would sell 60 and 36, and 24 would go unmet). Dropping the second
    rationing round is caught by tests/test_slipped_behaviours.py."""
    ms = sellers(1, capacity_idr=[40.0, 1e6], has_stall=[True, True])
    clearing = clear_market(ms, np.array([100.0, 60.0]), np.ones((2, 2)), np.zeros(1), MSMEConfig())
    np.testing.assert_allclose(clearing.sold_idr, [[25.0, 15.0], [75.0, 45.0]])
    assert clearing.unmet_idr == pytest.approx(0.0, abs=1e-9)


# --- 7.11 payments ---------------------------------------------------------------------------------


def test_payments_split_each_storefronts_sales_by_its_subsidy_and_commission():
    """ODD 7.11, hand-computed: buyers pay G (1 - s), the platform the subsidy s G, sellers
    receive G (1 - phi), the platform keeps phi G; offline, buyers pay and sellers receive G.
    Mutants caught: the commission charged at the subsidy rate, buyers charged the commission
    instead of helped by the subsidy, a commission offline."""
    ledger = settle_payments(
        np.array([100.0, 200.0, 50.0, 80.0]), np.array([0.1, 0.0, 0.05]), np.array([0.02, 0.1, 0.0])
    )
    np.testing.assert_allclose(ledger.buyer_paid, [90.0, 200.0, 47.5, 80.0])
    np.testing.assert_allclose(ledger.subsidy, [10.0, 0.0, 2.5, 0.0])
    np.testing.assert_allclose(ledger.seller_receipts, [98.0, 180.0, 50.0, 80.0])
    np.testing.assert_allclose(ledger.commission, [2.0, 20.0, 0.0, 0.0])


def test_buyers_pay_their_out_of_pocket_spend_and_sellers_the_commission_on_list_prices():
    """ODD 7.5 to 7.11 on three shoppers, each using one storefront (offline utility -30):
    shopper i spends b_i (p_j (1 - s_j))^(1 - eps) out of pocket, sellers sell that grossed up by
    the subsidy at list prices, buyers' payments in the ledger are the out-of-pocket spend, and
    the commission is phi_j times the sellers' sales (price x quantity). Mutants caught: the
    gross-up by the subsidy dropped, planned spending left out of pocket instead of at list
    prices, the spend elasticity's exponent 1 - eps as eps - 1, buyers charged the commission,
    the commission charged at the subsidy rate."""
    price, subsidy = np.array([1.0, 1.1, 0.9]), np.array([0.1, 0.2, 0.0])
    commission, elasticity = np.array([0.05, 0.1, 0.02]), 1.5
    budget = np.array([100.0, 200.0, 300.0])
    sh = shoppers(3, budget=budget, adopted=np.eye(3, dtype=bool))
    offer = plain_offer(
        4,
        brand_utility=[0.0, 0.0, 0.0, -30.0],
        log_effective_price=np.log(np.append(price * (1 - subsidy), 1.0)),
        subsidy=np.append(subsidy, 0.0),
    )
    week = shop(sh, offer, ShopperConfig(spend_price_elasticity=elasticity), uniform_draws(3, shop=0.0))
    out_of_pocket = budget * (price * (1 - subsidy)) ** (1 - elasticity)
    np.testing.assert_allclose(week.demand_idr, np.append(out_of_pocket / (1 - subsidy), 0.0), rtol=1e-6)
    ms = sellers(3, price=[1.0, 1.2])
    clearing = clear_market(ms, week.demand_idr, np.ones((2, 4)), np.zeros(3), MSMEConfig())
    ledger = settle_payments(clearing.gmv_idr, subsidy, commission)
    sales = clearing.sold_idr.sum(axis=0)[:3]
    np.testing.assert_allclose(ledger.buyer_paid[:3], out_of_pocket, rtol=1e-6)
    np.testing.assert_allclose(ledger.subsidy[:3], out_of_pocket * subsidy / (1 - subsidy), rtol=1e-6)
    np.testing.assert_allclose(ledger.commission[:3], commission * sales, rtol=1e-12)
    np.testing.assert_allclose(ledger.seller_receipts[:3], (1 - commission) * sales, rtol=1e-12)


# --- 7.13 to 7.15 sellers --------------------------------------------------------------------------


def test_markup_and_capacity_follow_the_utilisation_gap_within_their_bounds():
    """ODD 7.13, hand-computed at g_p 0.1, g_K 0.05, U* 0.7, markup in [0.02, 1.0], unit cost 0.5,
    capacity 100: utilisation 0.9 raises the markup 0.30 -> 0.32 and capacity to 101; none lowers
    it to 0.23 and capacity to 96.5; 4.0 raises it to 0.63 and capacity by the clipped gap to 105;
    the markup stops at its bounds. Mutants caught: the gap's sign flipped, the markup bounds or
    the capacity gap's clip dropped, the rates swapped."""
    ms = sellers(unit_cost=[0.5] * 5, price=[0.65, 0.65, 0.65, 0.99, 0.515], capacity_idr=[100.0] * 5)
    cfg = MSMEConfig(
        price_adjust_rate=0.1,
        capacity_adjust_rate=0.05,
        target_utilisation=0.7,
        min_markup=0.02,
        max_markup=1.0,
    )
    adjust_prices_and_capacity(ms, np.array([90.0, 0.0, 400.0, 400.0, 0.0]), cfg)
    np.testing.assert_allclose(ms.price, 0.5 * (1 + np.array([0.32, 0.23, 0.63, 1.0, 0.02])), rtol=1e-9)
    np.testing.assert_allclose(ms.capacity_idr, [101.0, 96.5, 105.0, 105.0, 96.5], rtol=1e-12)


def test_listing_shares_move_by_the_hand_computed_flows_of_firms():
    """ODD 7.14 on five one-firm sellers, two storefronts, categories 0 and 1; the fifth is
    inactive. Seller 2 loses money on storefront 1, so 5% of its firms leave first (0.5 -> 0.475);
    then buyer pull min(10, (Y_j / max(N_j, 1)) / (sum Y / sum N)), peer pull
    (0.05 + 0.95 ps)^psi and affinity (2 on storefront 1) set the share of unlisted firms that
    joins. Mutants caught: the leave rate doubled, the (1 - l) factor dropped, the peer
    exponent or the affinity ignored, max(N_j, 1) dropped, inactive sellers counted, traces of
    firms kept as listings."""
    ms = sellers(
        2,
        category=[0, 0, 1, 1, 0],
        listed_share=[[1.0, 0.0], [0.0, 0.0], [0.5, 0.5], [0.0, 0.0], [0.0, 0.0]],
        profit_ma_idr=[[1.0, 0.0], [0.0, 0.0], [1.0, -1.0], [0.0, 0.0], [0.0, 0.0]],
        active=[True, True, True, True, False],
    )
    cfg = MSMEConfig(join_rate=0.1, peer_weight=2.0, leave_rate=0.05)
    affinity = np.array([[1.0, 2.0], [1.0, 1.0], [1.0, 1.0]])  # local sellers, storefront 1 social
    update_listings(ms, np.array([300.0, 100.0]), np.array([True, True]), affinity, 2, cfg)
    stays = 0.5 * (1 - 0.05)
    listed = np.array([1.0 + 0.5, stays])  # active firms listed on each storefront
    market = 400.0 / listed.sum()
    buyer_pull = np.array([300.0 / 1.5, 100.0 / 1.0]) / market
    peer_share = np.array([[1.0 / 2, 0.0], [0.5 / 2, stays / 2]])  # category x storefront
    peer_pull = (0.05 + 0.95 * peer_share) ** 2.0
    join = 0.1 * buyer_pull[None, :] * peer_pull * np.array([1.0, 2.0])[None, :]
    expected = np.array(
        [
            [1.0, join[0, 1]],
            [join[0, 0], join[0, 1]],
            [0.5 + 0.5 * join[1, 0], stays + (1 - stays) * join[1, 1]],
            [join[1, 0], join[1, 1]],
            [0.0, 0.0],
        ]
    )
    # Category 0 has no peers on storefront 1: its firms would join at 0.00025, a trace of a firm,
    # which counts as no listing (below 1e-3).
    assert 0 < join[0, 1] < 1e-3
    expected[expected < 1e-3] = 0.0
    np.testing.assert_allclose(ms.listed_share, expected, rtol=1e-6)


def test_exit_happens_just_below_the_cash_threshold_and_after_four_weeks_without_a_channel():
    """ODD 7.15 at T_exit 10, f_S 0.08, f_L 0.01, capacity 1000: the threshold is 900 with a
    stall and half a storefront (at least one storefront's cost), 250 without a stall and 2.5
    storefronts; an agent with no channel exits after its fourth week; large firms and inactive
    slots never. Mutants caught: the floor of one storefront dropped, the stall cost charged to
    everyone, ``>= 4`` weeks for ``> 4``, large firms exiting, the threshold's sign."""
    ms = sellers(
        3,
        cash_idr=[-899.0, -901.0, -249.0, -251.0, 0.0, 0.0, 0.0, -1e15, -1e15],
        capacity_idr=[1000.0] * 9,
        has_stall=[True, True, False, False, False, False, True, False, False],
        listed_share=[[0.5, 0, 0]] * 2 + [[1, 1, 0.5]] * 2 + [[0, 0, 0]] * 3 + [[1, 0, 0]] * 2,
        weeks_active=[50, 50, 50, 50, 4, 5, 50, 50, 50],
        large=[False] * 7 + [True, False],
        active=[True] * 8 + [False],
    )
    cfg = MSMEConfig(exit_weeks_of_cost=10.0, stall_cost_share=0.08, listing_cost_share=0.01)
    np.testing.assert_array_equal(find_exits(ms, cfg), [1, 3, 5])


# --- 7.16 budget pacing ----------------------------------------------------------------------------


def test_budget_pacing_scales_a_subsidy_down_to_the_pro_rata_allowance():
    """ODD 7.16: after adding the week's subsidy spending Z_j, sigma_j <- sigma_j min(1, A_j / Z_j)
    with A_j = B_j min(1, (doy + 7) / 365). With the share rule switched off and budgets set so
    that A = 100, storefronts that have spent 10, 100, 200, 400, 50 and 150 keep 1, 1, 1/2,
    1/4, 1 and 2/3 of an 8% subsidy. Mutants caught: the week's spending not added first, the
    allowance without the coming week, the ratio inverted."""
    cfg = packaged_config("no_policy", n_shoppers=300, n_msmes=60)
    cfg.burn_in_weeks, cfg.start_date, cfg.end_date = 0, "2022-06-06", "2022-12-26"
    cfg.market.platform_rule.subsidy_response = 0.0
    cfg.market.platform_rule.subsidy_reversion = 0.0
    model = EcommerceModel(cfg)
    model.step()
    week = model.steps - 1
    model.subsidy_min[:], model.subsidy_max[:], model.subsidy[:] = 0.0, 1.0, 0.08
    day_of_year = model.dates[week].timetuple().tm_yday
    model.subsidy_budget[:] = 100.0 * 365 / (day_of_year + 7)
    model.ledger.subsidy[:] = 0.0
    model.ledger.subsidy[:N_PLATFORMS] = 10.0
    model.subsidy_spent_this_year[:] = [0.0, 90.0, 190.0, 390.0, 40.0, 140.0]
    assert (model.transact_share > 0).all()
    model.platforms_adapt_subsidies(week)
    spent = np.array([10.0, 100.0, 200.0, 400.0, 50.0, 150.0])
    np.testing.assert_allclose(model.subsidy_spent_this_year, spent)
    np.testing.assert_allclose(model.subsidy, 0.08 * np.minimum(1.0, 100.0 / spent), rtol=1e-12)
