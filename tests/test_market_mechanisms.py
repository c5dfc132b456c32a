"""The mechanisms that decide the policy answers, each against a hand-computed expectation.

Each test fails when its mechanism is removed: demand that adds up (displacement of planned
spending, the income and price path, the price response), correlated app holdings, commission
pass-through, content investment, the group's joint subsidy objective, the shared seller pool,
steering and the KPPU conditions, the relaunch ramp, listings as shares of firms, and the exit
rule's costs.
"""

from __future__ import annotations

import datetime as dt
from statistics import NormalDist

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from sim.core.market import (
    Offer,
    book_profits,
    channel_price_markup,
    eligible_sellers,
    exit_threshold_idr,
    find_exits,
    list_spend_factor,
    shoppers_shop,
    split_virtual_goods,
    spread_app_adoption,
    update_listings,
)
from sim.core.model import EcommerceModel
from sim.core.policies import build_policy_path, macro_path
from sim.core.population import correlated_holdings, online_share
from sim.core.recorder import SIZE_CLASSES, size_class
from sim.schema.config import MacroConfig
from tests.conftest import small_config

TINY = ("market.shoppers.n_agents=3000", "market.msmes.n_agents=600", "burn_in_weeks=0")


def tiny_model(*overrides: str) -> EcommerceModel:
    return EcommerceModel(small_config(*TINY, *overrides))


def offer_for(model: EcommerceModel, subsidy: float = 0.0, discovery: float = 1.0) -> Offer:
    j = model.discovery.shape[0]
    disc = np.zeros(j)
    disc[model.platform_names.index("TikTok Shop")] = discovery
    return Offer(
        brand_utility=np.zeros(j),
        log_effective_price=np.full(j, np.log(1.0 - subsidy)),
        log_variety=np.zeros(j),
        discovery=disc,
        local_share=np.zeros(j),
        subsidy=np.append(np.full(j - 1, subsidy), 0.0),
    )


def draws(n: int, **values: float) -> dict[str, np.ndarray]:
    base = {"shop": 0.0, "impulse": 1.0, "choice": 0.5, "leak": 1.0, "steer": 1.0}
    base.update(values)
    return {k: np.full(n, v, dtype=np.float32) for k, v in base.items()}


# --- demand that adds up ------------------------------------------------------------------------


def test_spend_factor_re_spends_subsidies_and_responds_to_price():
    offer = Offer(
        brand_utility=np.zeros(2),
        log_effective_price=np.log([1.1 * 0.9, 1.0]),
        log_variety=np.zeros(2),
        discovery=np.zeros(2),
        local_share=np.zeros(2),
        subsidy=np.array([0.1, 0.0]),
    )
    # Elasticity 1: out-of-pocket spend is fixed, so list-price spend is budget / (1 - subsidy).
    np.testing.assert_allclose(list_spend_factor(offer, 1.0), [1 / 0.9, 1.0])
    # Elasticity 2: spend falls with the price after subsidy, P^(1 - 2) / (1 - s).
    np.testing.assert_allclose(list_spend_factor(offer, 2.0), [(1.1 * 0.9) ** -1 / 0.9, 1.0])


@pytest.mark.parametrize("displacement", [0.0, 0.6, 1.0])
def test_discovery_purchases_displace_later_planned_spending(displacement: float):
    model = tiny_model(
        f"market.shoppers.impulse_displacement={displacement}",
        "market.shoppers.impulse_rate=1.0",
        "market.shoppers.impulse_spend_share=0.5",
    )
    sh, cfg = model.shoppers, model.market.shoppers
    tiktok = model.platform_names.index("TikTok Shop")
    sh.adopted[:] = False
    sh.adopted[tiktok] = True  # every shopper sees TikTok's content and can buy there
    sh.discovery_taste[:] = 1.0
    n, j = sh.n, len(model.platform_names)
    offer = offer_for(model)

    def week(shop: float, impulse: float):  # every storefront open, no ban's leak, no steering
        zeros = np.zeros(j)
        return shoppers_shop(
            sh,
            offer,
            np.ones(j),
            zeros,
            zeros,
            np.full(j, -1),
            model.is_social,
            1.0,
            cfg,
            draws(n, shop=shop, impulse=impulse),
        )

    # Week 1: no planned shopping, everyone makes a discovery purchase of half her budget.
    week1 = week(shop=1.0, impulse=0.0)
    impulse = float(week1.impulse_idr.sum())
    assert impulse == pytest.approx(0.5 * float(sh.budget.astype(np.float64).sum()) * sh.weight, rel=1e-6)
    # Week 2: everyone plans a purchase, nobody buys on impulse: planned spending is cut by the
    # displaced share of week 1's discovery spending, no more, no less.
    week2 = week(shop=0.0, impulse=1.0)
    full = float(sh.budget.astype(np.float64).sum()) * sh.weight
    assert float(week2.planned_idr.sum()) == pytest.approx(full - displacement * impulse, rel=1e-6)
    assert week2.displaced_idr == pytest.approx(displacement * impulse, rel=1e-6)
    assert float(sh.deferred_idr.sum()) == pytest.approx(0.0, abs=1e-3)


def test_budgets_follow_the_dated_income_and_price_path():
    dates = [dt.date(2021, 1, 4) + dt.timedelta(weeks=k) for k in range(105)]
    macro = MacroConfig(cpi_inflation={"2021": 0.05}, real_spend_growth={"2021": 0.02})
    cpi, spend = macro_path(macro, dates)
    assert cpi[0] == spend[0] == 1.0
    days_2021 = (dt.date(2021, 12, 27) - dates[0]).days  # 2021's weeks accrue 2021's rates
    k = dates.index(dt.date(2021, 12, 27))
    assert cpi[k] == pytest.approx(1.05 ** (days_2021 / 365))
    assert spend[k] == pytest.approx((1.05 * 1.02) ** (days_2021 / 365))
    # 2022 has no entry: 2021's rates carry forward (the stated forecast assumption).
    assert cpi[-1] / cpi[k] == pytest.approx(1.05 ** ((dates[-1] - dates[k]).days / 365))


def test_planned_spending_scales_with_the_spend_index():
    model = tiny_model()
    sh, cfg = model.shoppers, model.market.shoppers
    j = len(model.platform_names)
    args = (np.ones(j), np.zeros(j), np.zeros(j), np.full(j, -1), model.is_social)
    base = shoppers_shop(sh, offer_for(model, discovery=0.0), *args, 1.0, cfg, draws(sh.n))
    richer = shoppers_shop(sh, offer_for(model, discovery=0.0), *args, 1.25, cfg, draws(sh.n))
    assert float(richer.planned_idr.sum()) == pytest.approx(1.25 * float(base.planned_idr.sum()))


def test_blocked_discovery_follows_links_and_link_followers_install_the_app():
    """With TikTok Shop's checkout closed, a share ``leak`` of discovery buyers follows a seller's
    link: to her best marketplace among those she uses, or, if she uses none, to the best one,
    which she then uses (so her later planned purchases can go there too)."""
    model = tiny_model("market.shoppers.impulse_rate=1.0")
    sh, cfg = model.shoppers, model.market.shoppers
    names = model.platform_names
    tiktok, shopee, tokopedia = (names.index(n) for n in ("TikTok Shop", "Shopee", "Tokopedia"))
    n, j = sh.n, len(names)
    sh.adopted[:] = False
    sh.adopted[tiktok] = True
    half = n // 2
    sh.adopted[tokopedia, :half] = True  # the first half use Tokopedia, the rest no marketplace
    sh.discovery_taste[:] = 1.0
    sh.habit[:] = 0.0
    offer = offer_for(model)
    offer.brand_utility[shopee] = 1.0  # Shopee is everyone's best marketplace
    transact = np.ones(j)
    transact[tiktok] = 0.0  # the ban: no checkout on TikTok Shop
    leak = np.zeros(j)
    leak[tiktok] = 0.4
    u_leak = ((np.arange(n) % 10) / 10).astype(np.float32)  # 40% below 0.4 in each half
    d = draws(n, shop=1.0, impulse=0.0)
    d["leak"] = u_leak
    week = shoppers_shop(sh, offer, transact, leak, np.zeros(j), np.full(j, -1), model.is_social, 1.0, cfg, d)
    spend = cfg.impulse_spend_share * sh.budget.astype(np.float64) * sh.weight
    follows = u_leak < 0.4
    first = np.arange(n) < half
    assert week.impulse_idr[tiktok] == 0.0
    assert week.impulse_idr[tokopedia] == pytest.approx(spend[follows & first].sum(), rel=1e-6)
    assert week.impulse_idr[shopee] == pytest.approx(spend[follows & ~first].sum(), rel=1e-6)
    assert week.lost_discovery_idr == pytest.approx(spend[~follows].sum(), rel=1e-6)
    # Those who used no marketplace installed Shopee by following the link; nobody else did.
    np.testing.assert_array_equal(sh.adopted[shopee], follows & ~first)
    assert not sh.adopted[tokopedia, half:].any()


def test_app_adoption_draws_do_not_depend_on_who_is_a_candidate():
    """A policy changes who already uses an app (link followers install it); the others' adoption
    must come out the same (common random numbers across scenarios)."""
    model = tiny_model()
    sh = model.shoppers
    j = model.platform_names.index("Shopee")
    launched = np.zeros(len(model.platform_names), dtype=bool)
    launched[j] = True
    innovation, wom = np.full(launched.size, 0.3), np.zeros(launched.size)
    start = sh.adopted.copy()
    sh.adopted[j] = start[j]
    spread_app_adoption(sh, launched, innovation, wom, np.random.default_rng(7))
    plain = sh.adopted[j].copy()
    sh.adopted[:] = start
    extra = np.flatnonzero(~start[j] & sh.can_reach[j])[::3]
    sh.adopted[j, extra] = True  # as if a policy had made these shoppers install it
    spread_app_adoption(sh, launched, innovation, wom, np.random.default_rng(7))
    others = np.ones(sh.n, dtype=bool)
    others[extra] = False
    np.testing.assert_array_equal(sh.adopted[j, others], plain[others])
    assert 0 < plain.sum() - start[j].sum() < (sh.can_reach[j] & ~start[j]).sum()


def test_app_adoption_is_the_same_all_apps_at_once_as_app_by_app(monkeypatch: pytest.MonkeyPatch):
    """Small populations adopt every app in one pass, large ones app by app: the same adopters
    and the same followers' tie counts, week after week, from the same stream."""
    import sim.core.market as market

    model = tiny_model()
    launched = np.ones(len(model.platform_names), dtype=bool)
    launched[model.platform_names.index("Lazada")] = False
    innovation, wom = np.linspace(0.01, 0.06, launched.size), np.linspace(0.6, 0.1, launched.size)
    start = (model.shoppers.adopted.copy(), model.shoppers.ties_using.copy())
    outcomes = []
    for block in (market.ONE_BLOCK_UP_TO, 0):  # all at once, then app by app
        monkeypatch.setattr(market, "ONE_BLOCK_UP_TO", block)
        sh = model.shoppers
        sh.adopted[:], sh.ties_using[:] = start
        rng = np.random.default_rng(11)
        for _ in range(5):
            spread_app_adoption(sh, launched, innovation, wom, rng)
        outcomes.append((sh.adopted.copy(), sh.ties_using.copy(), rng.random()))
    (adopted, ties, after), (adopted_1, ties_1, after_1) = outcomes
    np.testing.assert_array_equal(adopted, adopted_1)
    np.testing.assert_array_equal(ties, ties_1)
    assert after == after_1  # the stream advanced as far either way
    assert (adopted & ~start[0]).sum(axis=1)[launched].min() > 0  # every launched app gained users
    assert not (adopted & ~start[0])[~launched].any()
    # The counts are the followers index's: each shopper's ties that use the app.
    np.testing.assert_array_equal(ties, adopted[:, sh.ties].sum(axis=1))


# --- who holds which apps -----------------------------------------------------------------------


@pytest.mark.parametrize("rho", [0.0, 0.8])
def test_app_holdings_keep_their_reach_and_overlap_as_the_copula_says(rho: float):
    reach = np.array([0.55, 0.3, 0.6])
    held = correlated_holdings(reach, rho, 200_000, np.random.default_rng(1))
    np.testing.assert_allclose(held.mean(axis=1), reach, atol=0.005)
    cut = [NormalDist().inv_cdf(r) for r in reach]
    both = multivariate_normal(mean=[0, 0], cov=[[1, rho**2], [rho**2, 1]]).cdf([cut[0], cut[2]])
    assert (held[0] & held[2]).mean() == pytest.approx(both, abs=0.005)
    if rho > 0:  # with a common factor, holders of one app hold the other far more often
        assert (held[0] & held[2]).mean() > reach[0] * reach[2] + 0.05


# --- prices, content and platforms --------------------------------------------------------------


def test_commissions_reach_prices_and_margins():
    model = tiny_model("market.msmes.commission_pass_through=0.5")
    cfg = model.market.msmes
    markup = channel_price_markup(np.array([0.1, 0.0]), cfg)
    np.testing.assert_allclose(markup, [1.05, 1.0, 1.0])
    ms = model.msmes
    ms.price[:] = 1.0
    ms.unit_cost[:] = 0.5
    sold = np.zeros((ms.n, len(model.platform_names) + 1))
    sold[:, 0] = 100.0
    commission = np.zeros(len(model.platform_names))
    commission[0] = 0.1
    ms.listed_share[:] = 0.0
    ms.has_stall[:] = False
    ms.cash_idr[:] = 0.0
    profit = book_profits(ms, sold, commission, np.full(len(commission), -1), cfg)
    expected = 100.0 * (1 - 0.5 / 1.05 - 0.1)
    np.testing.assert_allclose(profit[ms.active], expected)


def test_commission_pass_through_raises_the_storefront_price_index():
    plain = tiny_model("market.msmes.commission_pass_through=0")
    passed = tiny_model("market.msmes.commission_pass_through=1")
    for m in (plain, passed):
        m.commission = np.full(len(m.platform_names), 0.1)
        m.update_offer(m.eligible * (m.msmes.weight * m.msmes.scale)[:, None])
    np.testing.assert_allclose(passed.price_index[:-1], plain.price_index[:-1] * 1.1)
    assert passed.price_index[-1] == plain.price_index[-1]  # offline has no commission


def test_marketplaces_build_content_while_discovery_commerce_takes_share():
    model = tiny_model(
        "market.platform_rule.content_response=0.5",
        "market.platforms.shopee.content_cap=0.4",
        "scenario=no_policy",
        "start_date=2022-06-06",
        "end_date=2022-12-26",
    )
    shopee = model.platform_names.index("Shopee")
    bukalapak = model.platform_names.index("Bukalapak")
    model.shoppers.adopted[model.platform_names.index("TikTok Shop")] = True
    model.step()
    before = model.discovery.copy()
    model.step()
    sw = model.shopper_week
    threat = sw.impulse_idr[:-1].sum() / sw.demand_idr[:-1].sum()
    assert threat > 0
    assert model.discovery[shopee] == pytest.approx(before[shopee] + 0.5 * threat * (0.4 - before[shopee]))
    assert model.discovery[bukalapak] == 0.0  # no content budget, no content
    # Without the response the marketplace never gets discovery strength.
    still = tiny_model(
        "market.platform_rule.content_response=0",
        "scenario=no_policy",
        "start_date=2022-06-06",
        "end_date=2022-12-26",
    )
    still.step()
    still.step()
    assert still.discovery[shopee] == 0.0


def test_a_group_sets_subsidies_on_its_joint_share():
    model = tiny_model("scenario=history", "start_date=2023-06-05", "end_date=2024-06-24")
    model.run_to_date("2024-03-04")
    week = model.steps - 1
    names = model.platform_names
    tiktok, tokopedia = names.index("TikTok Shop"), names.index("Tokopedia")
    assert model.policy.operator[week, tiktok] == model.policy.operator[week, tokopedia]
    gmv = np.zeros(len(names) + 1)
    gmv[[tiktok, tokopedia, names.index("Shopee")]] = [30.0, 30.0, 40.0]
    model.clearing.gmv_idr[:] = gmv
    model.ledger.subsidy[:] = 0.0
    model.share_memory[:] = 0.8
    model.subsidy_spent_this_year[:] = 0.0
    model.subsidy_budget[:] = 1e30
    start = model.subsidy.copy()
    model.platforms_adapt_subsidies(week)
    rule = model.market.platform_rule
    # The group's share is 0.6, so both storefronts see a relative loss of (0.8 - 0.6) / 0.8.
    for j in (tiktok, tokopedia):
        expected = np.clip(
            start[j]
            + rule.subsidy_response * 0.25
            + rule.subsidy_reversion * (model.base_subsidy[j] - start[j]),
            model.subsidy_min[j],
            model.subsidy_max[j],
        )
        assert model.subsidy[j] == pytest.approx(expected)


# --- the pilot as it happened ---------------------------------------------------------------------


def pilot_path(*overrides: str):
    cfg = small_config("scenario=history", *overrides)
    model = tiny_model("scenario=history", *overrides)
    return build_policy_path(cfg.market, cfg.scenario, model.dates), model


def test_relaunch_ramps_up_and_the_group_forms_at_legal_close():
    path, model = pilot_path("scenario.tiktok_tokopedia_pilot.relaunch_ramp_weeks=4")
    tiktok = model.platform_names.index("TikTok Shop")
    relaunch = model.dates.index(dt.date(2023, 12, 18))
    np.testing.assert_allclose(
        path.transact_share[relaunch : relaunch + 5, tiktok], [0.2, 0.4, 0.6, 0.8, 1.0]
    )
    close = model.dates.index(dt.date(2024, 2, 5))
    tokopedia = model.platform_names.index("Tokopedia")
    assert path.operator[close - 1, tiktok] != path.operator[close - 1, tokopedia]
    assert path.operator[close, tiktok] == path.operator[close, tokopedia]


def test_after_migration_the_partners_sellers_sell_on_the_storefront():
    path, model = pilot_path()
    tiktok = model.platform_names.index("TikTok Shop")
    tokopedia = model.platform_names.index("Tokopedia")
    migration = model.dates.index(dt.date(2024, 3, 18))
    assert path.pool_with[migration - 1, tiktok] == -1
    assert path.pool_with[migration, tiktok] == tokopedia
    ms = model.msmes
    ms.listed_share[:, tiktok] = 0.1
    ms.listed_share[:, tokopedia] = 0.6
    pooled = eligible_sellers(ms, 0.0, path.pool_with[migration])
    apart = eligible_sellers(ms, 0.0, path.pool_with[migration - 1])
    active = ms.active & ~((ms.origin == 2) & ~ms.positive_listed)
    np.testing.assert_allclose(pooled[active, tiktok], 0.6)
    np.testing.assert_allclose(apart[active, tiktok], 0.1)
    no_pool, _ = pilot_path("scenario.tiktok_tokopedia_pilot.shared_seller_pool=false")
    assert (no_pool.pool_with == -1).all()


def test_kppu_conditions_end_the_groups_steering():
    steer = ("scenario.tiktok_tokopedia_pilot.group_traffic_steering=0.5",)
    path, model = pilot_path(*steer)
    tiktok = model.platform_names.index("TikTok Shop")
    close = model.dates.index(dt.date(2024, 2, 5))
    kppu = model.dates.index(dt.date(2025, 6, 23))
    assert path.steer_share[close - 1, tiktok] == 0.0
    assert path.steer_share[close, tiktok] == 0.5 and path.steer_share[-1, tiktok] == 0.5
    conditioned, _ = pilot_path(*steer, "scenario.kppu_conditions.enabled=true")
    assert conditioned.steer_share[kppu - 1, tiktok] == 0.5
    assert (conditioned.steer_share[kppu:, tiktok] == 0.0).all()


def test_steering_routes_discovery_sales_to_the_partner():
    model = tiny_model("market.shoppers.impulse_rate=1.0")
    sh, cfg = model.shoppers, model.market.shoppers
    names = model.platform_names
    tiktok, tokopedia = names.index("TikTok Shop"), names.index("Tokopedia")
    sh.adopted[:] = False
    sh.adopted[tiktok] = True
    sh.adopted[tokopedia, : sh.n // 2] = True  # half the shoppers also hold Tokopedia
    sh.discovery_taste[:] = 1.0
    j = len(names)
    steer_share, steer_to = np.zeros(j), np.full(j, -1)
    steer_share[tiktok], steer_to[tiktok] = 1.0, tokopedia
    week = shoppers_shop(
        sh,
        offer_for(model),
        np.ones(j),
        np.zeros(j),
        steer_share,
        steer_to,
        model.is_social,
        1.0,
        cfg,
        draws(sh.n, shop=1.0, impulse=0.0, steer=0.0),
    )
    total = week.impulse_idr.sum()
    held = sh.budget[: sh.n // 2].astype(np.float64).sum() / sh.budget.astype(np.float64).sum()
    assert week.impulse_idr[tokopedia] / total == pytest.approx(held, rel=1e-6)


# --- sellers ------------------------------------------------------------------------------------


def test_listings_move_by_expected_flows_of_firms():
    model = tiny_model()
    ms, cfg = model.msmes, model.market.msmes
    j = len(model.platform_names)
    ms.listed_share[:] = 0.5
    ms.profit_ma_idr[:] = -1.0  # every storefront loses money
    ms.profit_ma_idr[:, 0] = 1.0  # except the first
    demand = np.ones(j)  # same demand per listed firm everywhere: buyer pull 1
    open_for = np.zeros(j, dtype=bool)  # nothing to join
    update_listings(ms, demand, open_for, np.ones((3, j)), len(cfg.categories), cfg)
    np.testing.assert_allclose(ms.listed_share[ms.active, 0], 0.5)
    np.testing.assert_allclose(ms.listed_share[ms.active, 1:], 0.5 * (1 - cfg.leave_rate), rtol=1e-6)
    np.testing.assert_allclose(online_share(np.array([[0.5, 0.5]])), [0.75])


def test_firms_without_a_stall_carry_no_stall_cost_at_exit():
    model = tiny_model()
    ms, cfg = model.msmes, model.market.msmes
    ms.listed_share[:] = 0.0
    threshold = exit_threshold_idr(ms, cfg)
    stall = ms.has_stall
    np.testing.assert_allclose(
        threshold[~stall], cfg.exit_weeks_of_cost * ms.capacity_idr[~stall] * cfg.listing_cost_share
    )
    np.testing.assert_allclose(
        threshold[stall],
        cfg.exit_weeks_of_cost * ms.capacity_idr[stall] * (cfg.stall_cost_share + cfg.listing_cost_share),
    )


def test_size_classes_follow_pp_7_2021():
    sales = np.array([1e9, 2e9, 2.1e9, 15e9, 49e9, 51e9])
    assert [SIZE_CLASSES[k] for k in size_class(sales)] == [
        "micro",
        "micro",
        "small",
        "small",
        "medium",
        "large",
    ]


# --- MSME scope: large firms and virtual goods ---------------------------------------------------


def test_large_firms_hold_their_capacity_share_and_stand_for_the_national_count():
    model = tiny_model(
        "market.msmes.large_agents=40",
        "market.msmes.large_capacity_share=0.2",
        "market.msmes.large_firms=5550",
    )
    ms = model.msmes
    assert ms.large.sum() == 40 and not ms.large[: model.market.msmes.n_agents].any()
    assert ms.weight[ms.large].sum() == pytest.approx(5550)
    # Before any week has run (no burn-in), capacity is split by weighted scale: 20% to them.
    assert ms.capacity_idr[ms.large].sum() / ms.capacity_idr.sum() == pytest.approx(0.2, rel=1e-5)
    # Official stores: no stall, listed on every marketplace open at the start, nowhere else.
    assert not ms.has_stall[ms.large].any()
    open_at_start = np.array(
        [p.initial_adoption > 0 and p.kind == "marketplace" for p in model.market.platforms.values()]
    )
    np.testing.assert_array_equal(ms.listed_share[ms.large], np.tile(open_at_start, (40, 1)))


def test_large_firms_never_exit_and_msme_outputs_leave_them_out():
    model = tiny_model("market.msmes.large_agents=40", "market.msmes.large_capacity_share=0.2")
    ms, cfg = model.msmes, model.market.msmes
    ms.cash_idr[:] = -1e30  # everyone broke
    exits = find_exits(ms, cfg)
    assert exits.size == int((ms.active & ~ms.large).sum())
    assert not ms.large[exits].any()
    model.msmes.cash_idr[:] = 1e18
    model.step()
    rec = model.recorder.values
    sold = model.clearing.sold_idr
    assert rec["msme_revenue_idr"][0, 0] == pytest.approx(sold[~ms.large].sum(), rel=1e-12)
    assert rec["large_firm_revenue_idr"][0, 0] == pytest.approx(sold[ms.large].sum(), rel=1e-12)
    assert rec["large_firm_revenue_idr"][0, 0] > 0.05 * sold.sum()


def test_virtual_goods_count_in_gmv_but_reach_no_seller():
    goods, virtual = split_virtual_goods(np.array([100.0, 50.0, 30.0]), np.array([0.6, 0.0]))
    np.testing.assert_allclose(goods, [40.0, 50.0, 30.0])
    np.testing.assert_allclose(virtual, [60.0, 0.0, 0.0])
    model = tiny_model("market.platforms.bukalapak.virtual_goods_share=0.6")
    model.step()
    j = model.platform_names.index("Bukalapak")
    demand = model.shopper_week.demand_idr[j]
    sold = model.clearing.sold_idr[:, j].sum()
    assert model.recorder.values["virtual_goods_idr"][0, j] == pytest.approx(0.6 * demand, rel=1e-12)
    assert sold <= 0.4 * demand * (1 + 1e-12)
    assert model.clearing.gmv_idr[j] == pytest.approx(sold + 0.6 * demand, rel=1e-12)
