"""The default (estimated) market against the public record, over 5 seeds of `history` and its
same-seed `no_policy`.

Targets are read from sim/data/calibration_targets.csv (copied from the shared brief), never typed
here; tolerances are those of the model issue: 3 percentage points per 2022 share, 15% on the 2022
total, TikTok Shop between 10% and 15% in 2023Q3 and under 2% in 2021, online GMV below no policy
in the ban weeks and Shopee's GMV 15% to 40% above it. The patterns the model misses are reported,
with their bands, in docs/validation.md rather than asserted here.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import pytest

from sim.experiments.compose import compose_config
from sim.experiments.run import simulate
from sim.studies.moments import calibration_targets, fit_moments, record_moments

# Several seeds of the full default market: the slow tier.
pytestmark = pytest.mark.slow

SEEDS = range(5)


def _moments(seed: int) -> dict[str, float]:
    cfg = compose_config(["scenario=history", f"seed={seed}", "counterfactual=null", "end_date=2024-03-18"])
    history = simulate(cfg)
    no_policy = simulate(
        compose_config(["scenario=no_policy", f"seed={seed}", "counterfactual=null", "end_date=2024-03-18"])
    )
    return {**fit_moments(history, cfg.market.usd_idr), **record_moments(history, no_policy)}


@pytest.fixture(scope="module")
def moments() -> dict[str, float]:
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        runs = list(pool.map(_moments, SEEDS))
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def test_2022_shares_within_3_points(moments):
    targets = calibration_targets()
    shares = targets[(targets.metric == "gmv_share") & (targets.period == "2022")]
    assert len(shares) == 6
    for row in shares.itertuples():
        model = 100 * moments[f"share_2022_{row.platform}"]
        assert abs(model - row.value) <= 3.0, (row.platform, model, row.value)


def test_2022_total_gmv_within_15_percent(moments):
    targets = calibration_targets()
    total = float(targets[(targets.metric == "gmv_total") & (targets.period == "2022")].value.iloc[0])
    assert abs(moments["gmv_2022_usd_bn"] / total - 1) <= 0.15, moments["gmv_2022_usd_bn"]


def test_tiktok_shop_pre_ban_run_rate_and_slow_start(moments):
    targets = calibration_targets()
    q3 = targets[(targets.metric == "gmv_share") & (targets.period == "2023Q3")].iloc[0]
    assert q3.low <= 100 * moments["share_2023Q3_TikTok Shop"] <= q3.high
    assert 100 * moments["share_2021_TikTok Shop"] < 2.0


def test_2023_online_growth_and_tokopedias_fall_within_the_issue_bands(moments):
    assert -0.01 <= moments["gmv_growth_2023"] <= 0.09, moments["gmv_growth_2023"]
    assert -0.20 <= moments["tokopedia_growth_2023"] <= -0.02, moments["tokopedia_growth_2023"]


def test_msmes_online_at_end_2023_within_20_percent_of_27_million(moments):
    assert abs(moments["msmes_online_end_2023_m"] / 27 - 1) <= 0.2, moments["msmes_online_end_2023_m"]


def test_the_ban_weeks_lose_online_gmv_and_move_part_of_it_to_shopee(moments):
    assert moments["ban_online_vs_no_policy"] < 0
    # The issue's band around the Compas panel's +25.7%.
    assert 0.15 <= moments["ban_shopee_vs_no_policy"] <= 0.40, moments["ban_shopee_vs_no_policy"]
