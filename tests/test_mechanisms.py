"""Every mechanism, switched or moved, shifts the outputs in the expected direction.

Runs are small (4,000 shoppers, 1,000 MSMEs) and share seed 0, so the shocks are common and a
difference is the mechanism's, not noise; windows average several weeks.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.core.market import Offer, channel_utility, nested_logit_draw
from sim.core.model import EcommerceModel
from sim.core.population import build_shoppers
from tests.conftest import run_table, series, small_config, window_mean
from tests.mechanics import assert_within_sampling_error, nested_logit_probabilities, poisson_binomial_se

Y2022 = ("2022-01-01", "2023-01-01")
PRE_BAN = ("2023-01-01", "2023-10-01")


@pytest.mark.slow
def test_word_of_mouth_speeds_app_adoption():
    base = run_table("scenario=no_policy")
    no_wom = run_table("scenario=no_policy", "market.platforms.tiktok_shop.adoption_wom_per_week=0")
    assert window_mean(no_wom, "adopters", "TikTok Shop", *Y2022) < 0.5 * window_mean(
        base, "adopters", "TikTok Shop", *Y2022
    )


@pytest.mark.slow
def test_ties_matter_for_word_of_mouth():
    """With no ties in the network, word of mouth has nobody to come from."""
    base = run_table("scenario=no_policy")
    isolated = run_table("scenario=no_policy", "market.shoppers.network_degree=0")
    assert window_mean(isolated, "adopters", "TikTok Shop", *Y2022) < 0.5 * window_mean(
        base, "adopters", "TikTok Shop", *Y2022
    )


@pytest.mark.slow
def test_discovery_creates_new_demand_on_social_platforms():
    base = run_table("scenario=no_policy")
    no_impulse = run_table("scenario=no_policy", "market.shoppers.impulse_rate=0")
    assert window_mean(no_impulse, "gmv_idr", "TikTok Shop", *PRE_BAN) < window_mean(
        base, "gmv_idr", "TikTok Shop", *PRE_BAN
    )

    # Not only diverted: total retail (online plus offline) rises with discovery purchases.
    def retail(t):
        return window_mean(t, "online_gmv_idr", "all", *PRE_BAN) + window_mean(
            t, "offline_sales_idr", "offline", *PRE_BAN
        )

    assert retail(no_impulse) < retail(base)


@pytest.mark.slow
def test_discovery_taste_draws_planned_purchases_to_social_platforms():
    low = run_table("scenario=no_policy", "market.shoppers.discovery_weight=0")
    high = run_table("scenario=no_policy", "market.shoppers.discovery_weight=4")
    assert window_mean(high, "gmv_share", "TikTok Shop", *PRE_BAN) > window_mean(
        low, "gmv_share", "TikTok Shop", *PRE_BAN
    )


@pytest.mark.slow
def test_more_subsidy_more_share():
    def fixed_subsidy(rate: float) -> list[str]:
        p = "market.platforms.lazada"
        return [
            f"{p}.subsidy={rate}",
            f"{p}.subsidy_min={rate}",
            f"{p}.subsidy_max={rate}",
            f"{p}.subsidy_budget_idr_per_year=1e16",
        ]

    low = run_table("scenario=no_policy", *fixed_subsidy(0.0))
    high = run_table("scenario=no_policy", *fixed_subsidy(0.10))
    assert window_mean(high, "gmv_share", "Lazada", *Y2022) > 1.2 * window_mean(
        low, "gmv_share", "Lazada", *Y2022
    )
    assert window_mean(high, "subsidy_idr", "Lazada", *Y2022) > 0
    assert window_mean(low, "subsidy_idr", "Lazada", *Y2022) == 0


@pytest.mark.slow
def test_price_sensitivity_amplifies_subsidy_gaps():
    args = [
        "market.platforms.lazada.subsidy_min=0.1",
        "market.platforms.lazada.subsidy=0.1",
        "market.platforms.lazada.subsidy_max=0.1",
        "market.platforms.lazada.subsidy_budget_idr_per_year=1e16",
    ]
    dull = run_table("scenario=no_policy", *args, "market.shoppers.price_sensitivity_mean=1")
    keen = run_table("scenario=no_policy", *args, "market.shoppers.price_sensitivity_mean=12")
    assert window_mean(keen, "gmv_share", "Lazada", *Y2022) > window_mean(dull, "gmv_share", "Lazada", *Y2022)


@pytest.mark.slow
def test_seller_variety_attracts_buyers():
    few = run_table(
        "scenario=no_policy", "market.platforms.blibli.initial_seller_share=0.02", "market.msmes.join_rate=0"
    )
    many = run_table(
        "scenario=no_policy", "market.platforms.blibli.initial_seller_share=0.6", "market.msmes.join_rate=0"
    )
    assert window_mean(many, "gmv_share", "Blibli", "2021-01-01", "2021-07-01") > 1.5 * window_mean(
        few, "gmv_share", "Blibli", "2021-01-01", "2021-07-01"
    )


@pytest.mark.slow
def test_higher_habit_slows_switching_back_after_the_ban():
    def recovery(habit: str) -> float:
        history = run_table("scenario=history", f"market.shoppers.habit_weight={habit}")
        free = run_table("scenario=no_policy", f"market.shoppers.habit_weight={habit}")
        # After the relaunch ramp (6 weeks from 2023-12-12), which alone caps the first weeks.
        window = ("2024-02-01", "2024-06-01")
        return window_mean(history, "gmv_idr", "TikTok Shop", *window) / window_mean(
            free, "gmv_idr", "TikTok Shop", *window
        )

    assert recovery("4.0") < recovery("0.5")


def test_nested_logit_new_app_draws_more_from_other_apps_than_from_offline():
    """Opening one more storefront to every shopper takes less from offline when the nest
    parameter is low (storefronts are close substitutes) than under a plain logit, by as much as
    the closed form says: with the same uniform, a shopper leaves offline exactly when the new app
    lifts her online probability above her uniform, a Bernoulli draw with the drop in her
    closed-form offline probability."""
    rng = np.random.default_rng(0)
    n = 200_000
    utility = rng.normal(0.0, 1.0, (4, n)).astype(np.float32)  # three apps and offline
    u = rng.random(n)
    without_app = np.ones((4, n), dtype=bool)
    without_app[2] = False
    all_open = np.ones((4, n), dtype=bool)

    def offline_loss(nest: float) -> float:
        before = (nested_logit_draw(utility, without_app, u, nest) == 3).mean()
        after = (nested_logit_draw(utility, all_open, u, nest) == 3).mean()
        return float(before - after)

    for nest in (0.3, 1.0):
        drop = (
            nested_logit_probabilities(utility, without_app, nest)[3]
            - nested_logit_probabilities(utility, all_open, nest)[3]
        )
        assert_within_sampling_error(
            offline_loss(nest),
            float(drop.mean()),
            poisson_binomial_se(drop) / n,
            f"offline loss at lambda {nest}",
        )
    assert 0 < offline_loss(0.3) < 0.8 * offline_loss(1.0)


def test_preference_for_local_goods_favours_channels_selling_local():
    """Two storefronts alike but for the local share of what they sell: local-minded shoppers
    pick the local one more often, the more so the higher local_weight, and as often as the
    closed-form nested logit says for utilities beta_l L_j l_i (every other term is zero here)."""
    cfg = small_config("market.shoppers.n_agents=20000")
    shoppers = build_shoppers(cfg.market, np.random.default_rng(0))
    shoppers.adopted[:] = True
    shoppers.habit[:] = 0.0
    n_channels = len(cfg.market.platforms) + 1
    offer = Offer(
        brand_utility=np.zeros(n_channels),
        log_effective_price=np.zeros(n_channels),
        log_variety=np.zeros(n_channels),
        discovery=np.zeros(n_channels),
        local_share=np.array([0.9, 0.1, 0.5, 0.5, 0.5, 0.5, 0.5]),
        subsidy=np.zeros(n_channels),
    )
    u = np.random.default_rng(1).random(shoppers.n)
    available = np.ones((n_channels, shoppers.n), dtype=bool)

    def local_pick_ratio(weight: float) -> float:
        cfg.market.shoppers.local_weight = weight
        utility = channel_utility(shoppers, offer, cfg.market.shoppers)
        choice = nested_logit_draw(utility, available, u, 0.5)
        counts = np.bincount(choice, minlength=n_channels)
        by_hand = weight * offer.local_share[:, None] * shoppers.local_preference[None, :]
        probabilities = nested_logit_probabilities(by_hand, available, 0.5)
        for j in (0, 1):
            assert_within_sampling_error(
                float(counts[j]),
                float(probabilities[j].sum()),
                poisson_binomial_se(probabilities[j]),
                f"choosers of storefront {j} at local_weight {weight}",
            )
        return counts[0] / counts[1]

    assert local_pick_ratio(2.0) > local_pick_ratio(0.5) > local_pick_ratio(0.0)


@pytest.mark.slow
def test_sellers_join_platforms_with_buyers():
    base = run_table("scenario=no_policy")
    frozen = run_table("scenario=no_policy", "market.msmes.join_rate=0")
    assert window_mean(frozen, "sellers", "TikTok Shop", *PRE_BAN) < 0.2 * window_mean(
        base, "sellers", "TikTok Shop", *PRE_BAN
    )
    assert window_mean(frozen, "msmes_online", "all", *PRE_BAN) < window_mean(
        base, "msmes_online", "all", *PRE_BAN
    )


@pytest.mark.slow
def test_peer_learning_speeds_joining():
    solo = run_table("scenario=no_policy", "market.msmes.peer_weight=0")
    peers = run_table("scenario=no_policy", "market.msmes.peer_weight=2")
    # With strong peer learning, joining waits for peers: TikTok Shop's seller base starts slower.
    assert window_mean(peers, "sellers", "TikTok Shop", "2021-06-01", "2022-01-01") < window_mean(
        solo, "sellers", "TikTok Shop", "2021-06-01", "2022-01-01"
    )


@pytest.mark.slow
def test_costly_storefronts_are_left():
    cheap = run_table("scenario=no_policy", "market.msmes.listing_cost_share=0.0")
    dear = run_table("scenario=no_policy", "market.msmes.listing_cost_share=0.05")
    assert window_mean(dear, "msmes_online", "all", *Y2022) < window_mean(
        cheap, "msmes_online", "all", *Y2022
    )


@pytest.mark.slow
def test_higher_commission_drives_sellers_away():
    low = run_table("scenario=no_policy", "market.platforms.shopee.commission=0.02")
    high = run_table("scenario=no_policy", "market.platforms.shopee.commission=0.25")
    assert window_mean(high, "sellers", "Shopee", *Y2022) < window_mean(low, "sellers", "Shopee", *Y2022)


@pytest.mark.slow
def test_commission_schedule_is_applied_on_its_dates():
    table = run_table("scenario=no_policy")
    rate = series(table, "commission_rate", "TikTok Shop")
    assert rate[:"2023-05-29"].eq(0.01).all()
    assert rate["2023-06-05":"2024-09-09"].eq(0.03).all()
    assert rate["2024-09-16":].eq(0.10).all()


@pytest.mark.slow
def test_tight_capacity_raises_prices():
    loose = run_table("scenario=no_policy", "market.msmes.capacity_slack=3.0")
    tight = run_table("scenario=no_policy", "market.msmes.capacity_slack=0.9")
    assert window_mean(tight, "price_paid_index", "offline", "2021-03-01", "2021-09-01") > window_mean(
        loose, "price_paid_index", "offline", "2021-03-01", "2021-09-01"
    )


@pytest.mark.slow
def test_capacity_adjustment_absorbs_demand():
    fixed = run_table(
        "scenario=no_policy", "market.msmes.capacity_slack=0.9", "market.msmes.capacity_adjust_rate=0"
    )
    adaptive = run_table("scenario=no_policy", "market.msmes.capacity_slack=0.9")
    assert window_mean(adaptive, "unmet_demand_idr", "all", *Y2022) < window_mean(
        fixed, "unmet_demand_idr", "all", *Y2022
    )


@pytest.mark.slow
def test_fixed_costs_cause_exits_and_entry_refills():
    base = run_table("scenario=no_policy")
    costly = run_table("scenario=no_policy", "market.msmes.stall_cost_share=0.25")
    assert series(costly, "msme_exited", "all").iloc[-1] > series(base, "msme_exited", "all").iloc[-1]
    no_entry = run_table("scenario=no_policy", "market.msmes.entry_rate_per_week=0")
    assert series(no_entry, "msme_active", "all").iloc[-1] < series(base, "msme_active", "all").iloc[-1]


def test_cross_border_sellers_undercut_on_price():
    model = EcommerceModel(small_config("scenario=no_policy"))
    ms = model.msmes
    prices = [ms.price[ms.origin == k].mean() for k in range(3)]
    assert prices[2] < prices[1] < prices[0]


@pytest.mark.slow
def test_subsidy_rule_defends_share_and_budget_caps_it():
    table = run_table("scenario=history")
    rate = series(table, "subsidy_rate", "Shopee")
    # TikTok Shop's return costs Shopee share; Shopee answers with more subsidy.
    assert rate["2024-01-01":"2024-04-01"].mean() > rate["2023-11-01":"2023-12-10"].mean()
    flat = run_table("scenario=history", "market.platform_rule.subsidy_response=0")
    flat_rate = series(flat, "subsidy_rate", "Shopee")
    assert rate["2024-01-01":"2024-04-01"].mean() > flat_rate["2024-01-01":"2024-04-01"].mean()
    broke = run_table("scenario=no_policy", "market.platforms.shopee.subsidy_budget_idr_per_year=1e11")
    assert window_mean(broke, "subsidy_idr", "Shopee", *Y2022) < 0.2 * window_mean(
        table, "subsidy_idr", "Shopee", *Y2022
    )


@pytest.mark.slow
def test_shared_backend_brings_partner_sellers_to_the_storefront():
    late = run_table(
        "scenario=history",
        "scenario.tiktok_tokopedia_pilot.migration_date=2025-12-01",
        "scenario.tiktok_tokopedia_pilot.trial_weeks=200",
    )
    real = run_table("scenario=history", "scenario.tiktok_tokopedia_pilot.trial_weeks=200")
    window = ("2024-06-01", "2025-06-01")
    assert window_mean(real, "sellers", "TikTok Shop", *window) > window_mean(
        late, "sellers", "TikTok Shop", *window
    )


@pytest.mark.slow
def test_weights_scale_totals_not_per_firm_figures():
    """Twice the agents, same population: national totals and per-firm figures stay put."""
    one = run_table("scenario=no_policy", "market.shoppers.n_agents=3000", "market.msmes.n_agents=800")
    two = run_table("scenario=no_policy", "market.shoppers.n_agents=6000", "market.msmes.n_agents=1600")
    for metric, entity in [
        ("online_gmv_idr", "all"),
        ("offline_sales_idr", "offline"),
        ("msme_revenue_per_firm_idr", "median"),
        ("msme_active", "all"),
    ]:
        a, b = window_mean(one, metric, entity, *Y2022), window_mean(two, metric, entity, *Y2022)
        assert np.isclose(a, b, rtol=0.2), (metric, a, b)
