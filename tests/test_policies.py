"""Policies on their real dates: the ban, the pilot, the deal, the floor, weak enforcement."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest

from sim.core.policies import build_policy_path
from sim.schema.weeks import first_step_on_or_after, weekly_dates
from tests.conftest import run_table, series, small_config, window_mean

BAN, RELAUNCH, DEAL, FLOOR = "2023-10-04", "2023-12-12", "2023-12-11", "2023-09-26"
CLOSE = "2024-01-31"


def test_default_horizon_is_weekly_from_2021_01_04_to_2025_12_29():
    dates = weekly_dates(dt.date(2021, 1, 4), dt.date(2025, 12, 29))
    assert dates[0] == dt.date(2021, 1, 4) and dates[-1] == dt.date(2025, 12, 29)
    assert len(dates) == 261 and all((b - a).days == 7 for a, b in itertools.pairwise(dates))


def test_event_takes_effect_from_first_week_starting_on_or_after_its_date():
    dates = weekly_dates(dt.date(2023, 9, 25), dt.date(2023, 10, 30))
    assert dates[first_step_on_or_after(dates, dt.date(2023, 10, 4))] == dt.date(2023, 10, 9)
    assert dates[first_step_on_or_after(dates, dt.date(2023, 10, 2))] == dt.date(2023, 10, 2)


def test_history_ban_stops_tiktok_shop_until_the_pilot_then_it_trades_again():
    table = run_table("scenario=history")
    gmv = series(table, "gmv_idr", "TikTok Shop")
    banned = (gmv.index >= pd.Timestamp(BAN)) & (gmv.index < pd.Timestamp(RELAUNCH))
    assert banned.sum() == 10
    assert (gmv[banned] == 0).all()
    assert (gmv[(gmv.index >= pd.Timestamp("2023-07-01")) & (gmv.index < pd.Timestamp(BAN))] > 0).all()
    after = gmv[gmv.index >= pd.Timestamp(RELAUNCH)]
    assert (after > 0).all()
    # Other storefronts keep trading through the ban.
    assert (series(table, "gmv_idr", "Shopee")[banned] > 0).all()


def test_tiktok_shop_counts_in_the_tokopedia_group_from_legal_close_on():
    table = run_table("scenario=history")
    group = series(table, "group_gmv_idr", "Tokopedia group")
    tokopedia = series(table, "gmv_idr", "Tokopedia")
    tiktok = series(table, "gmv_idr", "TikTok Shop")
    before = group.index < pd.Timestamp(CLOSE)
    # Between the announcement and legal close TikTok Shop is still ByteDance's own storefront.
    announced = (group.index >= pd.Timestamp(RELAUNCH)) & before
    assert announced.sum() >= 5
    assert series(table, "group_gmv_idr", "ByteDance")[announced].gt(0).all()
    np.testing.assert_allclose(group[before], tokopedia[before], rtol=1e-12)
    np.testing.assert_allclose(group[~before], (tokopedia + tiktok)[~before], rtol=1e-12)
    assert series(table, "group_gmv_idr", "ByteDance")[~before].eq(0).all()
    bytedance = series(table, "group_gmv_idr", "ByteDance")
    assert (
        bytedance[(bytedance.index >= pd.Timestamp("2023-01-01")) & (bytedance.index < pd.Timestamp(BAN))]
        .gt(0)
        .all()
    )


def test_cross_border_revenue_falls_after_the_floor():
    history = run_table("scenario=history")
    no_policy = run_table("scenario=no_policy")
    before = window_mean(history, "msme_revenue_idr", "cross_border", "2023-06-01", FLOOR)
    after = window_mean(history, "msme_revenue_idr", "cross_border", "2023-11-01", "2024-03-01")
    counterfactual = window_mean(no_policy, "msme_revenue_idr", "cross_border", "2023-11-01", "2024-03-01")
    assert after < 0.3 * before
    assert after < 0.3 * counterfactual
    # The positive list keeps a little trade alive.
    assert after > 0


@pytest.mark.slow
def test_ban_with_half_compliance_leaves_some_tiktok_shop_gmv():
    full = run_table("scenario=ban_only")
    loose = run_table("scenario=ban_only", "scenario.social_commerce_ban.compliance=0.5")
    free = run_table("scenario=no_policy")
    window = ("2023-10-09", "2023-12-31")
    loose_gmv = window_mean(loose, "gmv_idr", "TikTok Shop", *window)
    assert window_mean(full, "gmv_idr", "TikTok Shop", *window) == 0
    assert 0.2 * window_mean(free, "gmv_idr", "TikTok Shop", *window) < loose_gmv
    assert loose_gmv < 0.8 * window_mean(free, "gmv_idr", "TikTok Shop", *window)


def test_ban_sends_part_of_tiktok_demand_to_marketplaces_and_loses_part():
    # Half the blocked discovery buyers follow a link (the estimate has all of them follow one,
    # and then none of it is lost).
    half = "market.shoppers.link_follow_share=0.5"
    ban = run_table("scenario=ban_only", half)
    free = run_table("scenario=no_policy", half)
    window = ("2023-10-09", "2023-12-31")
    for name in ("Shopee", "Tokopedia"):
        assert window_mean(ban, "gmv_idr", name, *window) > window_mean(free, "gmv_idr", name, *window)
    assert window_mean(ban, "discovery_lost_idr", "all", *window) > 0
    assert window_mean(free, "discovery_lost_idr", "all", *window) == 0
    assert window_mean(ban, "online_gmv_idr", "all", *window) < window_mean(
        free, "online_gmv_idr", "all", *window
    )


def test_pilot_without_migration_ends_with_the_trial():
    cfg = small_config(
        "scenario=history",
        "scenario.tiktok_tokopedia_pilot.migration_date=2025-06-02",
        "scenario.tiktok_tokopedia_pilot.trial_weeks=12",
    )
    dates = weekly_dates(dt.date(2021, 1, 4), dt.date(2025, 12, 29))
    path = build_policy_path(cfg.market, cfg.scenario, dates)
    tiktok = [p.name for p in cfg.market.platforms.values()].index("TikTok Shop")
    relaunch = first_step_on_or_after(dates, dt.date(2023, 12, 12))
    assert not path.banned[relaunch : relaunch + 12, tiktok].any()
    assert path.banned[relaunch + 12 :, tiktok].all()
    assert (path.local_boost[relaunch : relaunch + 12, tiktok] == 0.3).all()
    assert (path.local_boost[relaunch + 12 :, tiktok] == 0).all()


@pytest.mark.slow
def test_local_priority_raises_local_producers_sales_on_the_pilot_storefronts():
    weak = run_table("scenario=history", "scenario.tiktok_tokopedia_pilot.local_priority=0.0")
    strong = run_table("scenario=strong_local_priority")
    window = ("2023-12-18", "2024-03-31")
    assert window_mean(strong, "msme_revenue_idr", "local", *window) > window_mean(
        weak, "msme_revenue_idr", "local", *window
    )
    assert window_mean(strong, "msme_revenue_idr", "import_reseller", *window) < window_mean(
        weak, "msme_revenue_idr", "import_reseller", *window
    )


def test_history_and_no_policy_share_the_past_before_the_first_policy():
    history = run_table("scenario=history")
    no_policy = run_table("scenario=no_policy")
    cut = pd.Timestamp(FLOOR)
    h = history[history["date"] < cut].reset_index(drop=True)
    n = no_policy[no_policy["date"] < cut].reset_index(drop=True)
    np.testing.assert_array_equal(h["value"].to_numpy(), n["value"].to_numpy())
