"""Behaviours that hand-made mutants of the model once removed without any test failing (issue 13).

Each test below fails when its behaviour is removed; the mutant it was checked against is named in
the test's docstring. Where a hand-computed expectation exists, the test calls the model's numpy
functions on a tiny constructed input and compares with it; where a behaviour only shows in a
running model, the test checks a rule (nothing sells where the rule forbids it, an agent reports
what the rule says) rather than a number of the model's.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sim.core.agents import Platform
from sim.core.market import (
    Offer,
    clear_market,
    eligible_sellers,
    seller_attractiveness,
    shoppers_shop,
)
from sim.core.model import EcommerceModel
from sim.core.policies import build_policy_path
from sim.core.population import CROSS_BORDER, LOCAL
from sim.schema.config import MSMEConfig
from sim.schema.weeks import weekly_dates
from tests.conftest import ROOT, small_config
from tests.mechanics import one_storefront, sellers

# --- (1) capacity rationing runs two rounds -------------------------------------------------------


def test_overflow_from_full_sellers_is_passed_on_for_two_rounds():
    """Mutant: ``range(1)`` instead of ``range(2)`` in ``clear_market`` (unmet demand x3 here).

    Three sellers with pulls 1 : 1 : 2 share 128 of demand as 32, 32, 64. Round 1: A holds 16,
    so its 16 of overflow goes to B and C (1 : 2): B 32 + 16/3 = 112/3, C 64 + 32/3. Round 2: B
    holds 36, so 112/3 - 36 = 4/3 goes to the sellers with room, A (now exactly at capacity, so
    counted as having room) and C (1 : 2): A + 4/9, C + 8/9. The final rationing cuts A back to
    16, and those 4/9 are unmet. With one round only, B's 4/3 would all be unmet and C would hold
    64 + 32/3.
    """
    ms = sellers(scale=[1.0, 1.0, 2.0], capacity_idr=[16.0, 36.0, 1e6])
    demand, eligible = one_storefront(128.0, 3)
    clearing = clear_market(ms, demand, eligible, np.zeros(1), MSMEConfig())
    np.testing.assert_allclose(clearing.sold_idr[:, 0], [16.0, 36.0, 64 + 32 / 3 + 8 / 9], rtol=1e-12)
    np.testing.assert_allclose(clearing.sold_idr[:, 1], 0.0)
    assert clearing.unmet_idr == pytest.approx(4 / 9, rel=1e-9)
    assert clearing.gmv_idr[0] == pytest.approx(128 - 4 / 9, rel=1e-12)


def test_demand_beyond_all_capacity_is_unmet_and_spare_capacity_leaves_none_unmet():
    ms = sellers(scale=[1.0, 3.0], capacity_idr=[10.0, 20.0])
    demand, eligible = one_storefront(100.0, 2)
    short = clear_market(ms, demand, eligible, np.zeros(1), MSMEConfig())
    np.testing.assert_allclose(short.sold_idr[:, 0], [10.0, 20.0])
    assert short.unmet_idr == pytest.approx(70.0)
    roomy = sellers(scale=[1.0, 3.0], capacity_idr=[1e3, 1e3])
    plenty = clear_market(roomy, demand, eligible, np.zeros(1), MSMEConfig())
    np.testing.assert_allclose(plenty.sold_idr[:, 0], [25.0, 75.0])  # in proportion to pull
    assert plenty.unmet_idr == pytest.approx(0.0, abs=1e-9)


# --- (6) sellers' price elasticity ----------------------------------------------------------------


def test_a_cheaper_seller_is_more_attractive_by_the_price_elasticity():
    """Mutant: ``np.power(ms.price, +cfg.price_elasticity)`` in ``seller_attractiveness``.

    Attractiveness is weight x scale x exp(quality) x price^-elasticity: at elasticity 2 a seller
    at twice the price pulls a quarter as hard, one at half the price four times as hard.
    """
    ms = sellers(price=[1.0, 2.0, 0.5], weight=[1.0, 1.0, 3.0], quality=[0.0, math.log(2.0), 0.0])
    cfg = MSMEConfig(price_elasticity=2.0)
    np.testing.assert_allclose(seller_attractiveness(ms, cfg), [1.0, 2.0 * 0.25, 3.0 * 4.0])
    # The split of demand follows: prices 1 and 2 at elasticity 2 share 100 as 80 and 20.
    pair = sellers(price=[1.0, 2.0])
    demand, eligible = one_storefront(100.0, 2)
    np.testing.assert_allclose(
        clear_market(pair, demand, eligible, np.zeros(1), cfg).sold_idr[:, 0], [80.0, 20.0]
    )


@pytest.mark.parametrize("elasticity", [0.5, 1.0, 3.0])
def test_the_price_response_has_the_configured_size(elasticity: float):
    ms = sellers(price=[1.0, 1.25, 1.6, 4.0])
    pull = seller_attractiveness(ms, MSMEConfig(price_elasticity=elasticity))
    np.testing.assert_allclose(np.log(pull[1:] / pull[0]), -elasticity * np.log([1.25, 1.6, 4.0]))


# --- (2) the US$100 floor from its first week -----------------------------------------------------

FLOOR_DATE = "2023-09-26"  # a Tuesday: the floor holds from the week of Monday 2023-10-02


def test_the_floor_holds_from_the_first_week_starting_on_or_after_its_date():
    """Mutant: the floor's first week index + 1 in ``build_policy_path``."""
    cfg = small_config(
        "scenario=history",
        f"scenario.cross_border_floor.date={FLOOR_DATE}",
        "scenario.cross_border_floor.min_unit_price_usd=100",
    )
    dates = weekly_dates(dt.date(2023, 9, 4), dt.date(2023, 10, 30))
    path = build_policy_path(cfg.market, cfg.scenario, dates)
    expected = [0.0 if d < dt.date(2023, 10, 2) else 100.0 for d in dates]
    assert expected[:6] == [0.0, 0.0, 0.0, 0.0, 100.0, 100.0]  # 09-04 .. 09-25, then 10-02, 10-09
    np.testing.assert_array_equal(path.floor_usd, expected)
    free = small_config("scenario=no_policy")
    assert (build_policy_path(free.market, free.scenario, dates).floor_usd == 0).all()


def test_the_floor_blocks_cheap_direct_imports_unless_positive_listed():
    ms = sellers(
        2,
        origin=[CROSS_BORDER, CROSS_BORDER, CROSS_BORDER, LOCAL],
        unit_price_usd=[40.0, 40.0, 150.0, 5.0],
        positive_listed=[0, 1, 0, 0],
        has_stall=[0, 0, 0, 1],
    )
    blocked = eligible_sellers(ms, 100.0, np.array([-1, -1]))
    np.testing.assert_array_equal(blocked, [[0, 0, 0], [1, 1, 0], [1, 1, 0], [1, 1, 1]])
    np.testing.assert_array_equal(eligible_sellers(ms, 0.0, np.array([-1, -1]))[0], [1, 1, 0])


def test_in_the_floors_first_week_cheap_direct_imports_sell_nothing_online():
    model = EcommerceModel(
        small_config(
            "scenario=no_policy",
            "scenario.cross_border_floor.enabled=true",
            f"scenario.cross_border_floor.date={FLOOR_DATE}",
            "scenario.cross_border_floor.min_unit_price_usd=100",
            "market.shoppers.n_agents=1500",
            "market.msmes.n_agents=600",
            "burn_in_weeks=4",
            "start_date=2023-09-04",
            "end_date=2023-10-30",
        )
    )
    ms = model.msmes
    model.run_to_date("2023-09-25")
    # Which agents the floor blocks: fixed here, since entrants may take over exited rows.
    cheap = (ms.origin == CROSS_BORDER) & (ms.unit_price_usd < 100) & ~ms.positive_listed & ms.active
    assert cheap.sum() >= 5
    assert model.clearing.sold_idr[cheap, :-1].sum() > 0  # the week before: they sell online
    model.step()
    assert model.current_date == dt.date(2023, 10, 2)
    assert model.clearing.sold_idr[cheap, :-1].sum() == 0.0


# --- (3) blocked discovery demand leaks to marketplaces -------------------------------------------


def test_blocked_discovery_demand_follows_links_at_the_configured_share_while_the_ban_holds():
    """Mutant: the link-follow share left at 0 for banned storefronts in ``build_policy_path``."""
    cfg = small_config("scenario=ban_only", "market.shoppers.link_follow_share=0.45")
    dates = weekly_dates(dt.date(2023, 9, 4), dt.date(2023, 11, 27))
    path = build_policy_path(cfg.market, cfg.scenario, dates)
    names = [p.name for p in cfg.market.platforms.values()]
    tiktok = names.index("TikTok Shop")
    ban = dates.index(dt.date(2023, 10, 9))  # the ban of 2023-10-04 holds from this week
    expected = np.zeros((len(dates), len(names)))
    expected[ban:, tiktok] = 0.45
    np.testing.assert_array_equal(path.link_leak_share, expected)


def test_a_shopper_whose_app_is_closed_buys_on_her_open_marketplace_if_she_follows_the_link():
    """Blocked discovery purchases: a share ``leak`` of the shoppers whose content app is closed
    buy on a marketplace they hold instead; the rest of that spend is lost. Hand-computed on
    four shoppers who all see TikTok's content, hold Shopee, and whose leak draws are 0.1 .. 0.7."""
    model = EcommerceModel(
        small_config(
            "market.shoppers.n_agents=4",
            "market.msmes.n_agents=50",
            "market.shoppers.network_degree=2",
            "burn_in_weeks=0",
            "market.shoppers.impulse_rate=1",
            "market.shoppers.impulse_spend_share=0.5",
        )
    )
    sh, cfg = model.shoppers, model.market.shoppers
    names = model.platform_names
    tiktok, shopee = names.index("TikTok Shop"), names.index("Shopee")
    j = len(names)
    sh.adopted[:] = False
    sh.adopted[[tiktok, shopee]] = True
    sh.discovery_taste[:] = 1.0
    sh.budget[:] = [100.0, 200.0, 300.0, 400.0]
    discovery = np.zeros(j + 1)
    discovery[tiktok] = 1.0
    offer = Offer(
        brand_utility=np.zeros(j + 1),
        log_effective_price=np.zeros(j + 1),
        log_variety=np.zeros(j + 1),
        discovery=discovery,
        local_share=np.zeros(j + 1),
        subsidy=np.zeros(j + 1),
    )
    transact = np.ones(j)
    transact[tiktok] = 0.0  # the ban at full compliance
    leak = np.zeros(j)
    leak[tiktok] = 0.5
    draws = {
        "shop": np.ones(4, np.float32),
        "impulse": np.zeros(4, np.float32),
        "choice": np.full(4, 0.5, np.float32),
        "leak": np.array([0.1, 0.7, 0.3, 0.6], np.float32),
        "steer": np.ones(4, np.float32),
    }
    week = shoppers_shop(
        sh, offer, transact, leak, np.zeros(j), np.full(j, -1), model.is_social, 1.0, cfg, draws
    )
    # Shoppers 0 and 2 (draws 0.1, 0.3 < 0.5) follow the link: half of budgets 100 and 300.
    assert week.impulse_idr[shopee] == pytest.approx(sh.weight * 0.5 * (100 + 300), rel=1e-6)
    assert week.impulse_idr[tiktok] == 0.0
    assert week.lost_discovery_idr == pytest.approx(sh.weight * 0.5 * (200 + 400), rel=1e-6)


# --- (4) a banned platform may not transact -------------------------------------------------------


def test_a_platform_reports_may_transact_as_the_rules_of_the_week_say():
    """Mutant: ``Platform.may_transact`` true for a banned storefront (full compliance)."""
    model = EcommerceModel(
        small_config(
            "scenario=ban_only",
            "scenario.social_commerce_ban.compliance=1.0",
            "market.shoppers.n_agents=1000",
            "market.msmes.n_agents=300",
            "burn_in_weeks=0",
            "start_date=2021-03-29",
            "end_date=2023-10-30",
        )
    )
    platforms = {p.name: p for p in model.agents_by_type[Platform]}
    tiktok, shopee = platforms["TikTok Shop"], platforms["Shopee"]
    reported = {}
    while model.running:
        model.step()
        reported[model.current_date] = (tiktok.may_transact, shopee.may_transact)
    # TikTok Shop launched 2021-04-17 (first week 2021-04-19); the ban holds from 2023-10-09.
    assert reported[dt.date(2021, 4, 12)] == (False, True)
    assert reported[dt.date(2021, 4, 19)] == (True, True)
    assert reported[dt.date(2023, 10, 2)] == (True, True)
    assert reported[dt.date(2023, 10, 9)] == (False, True)
    assert reported[dt.date(2023, 10, 30)] == (False, True)
    assert model.clearing.gmv_idr[tiktok.index] == 0.0


# --- (5) summary.json is written last -------------------------------------------------------------

# Eight weeks of a tiny market: enough for a run directory, quick enough to start many times.
SHORT_RUN = (
    "scenario=no_policy",
    "start_date=2023-09-04",
    "end_date=2023-10-30",
    "burn_in_weeks=0",
    "figures=false",
    "market.shoppers.n_agents=150",
    "market.msmes.n_agents=24",
)

KILLED_WHILE_WRITING_THE_TABLE = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    import pandas as pd
    from sim.experiments.compose import compose_config
    from sim.experiments.run import run_job

    def killed(*args, **kwargs):
        os._exit(9)  # as SIGKILL, an OOM kill or a cluster time limit: no cleanup runs

    pd.DataFrame.to_parquet = killed
    cfg = compose_config(sys.argv[2:])
    run_job(cfg, Path(sys.argv[1]), None)
""")


def test_a_run_killed_while_writing_its_table_leaves_no_summary_json(tmp_path: Path):
    """Mutant: ``summary.json`` written before ``timeseries.parquet`` in ``sim.experiments.run``.

    summary.json is what marks a run as finished, so it is written last: a run that dies while
    writing its table (where no ``finally`` runs) leaves no summary.json anywhere, not even in its
    staging directory."""
    out = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_WHILE_WRITING_THE_TABLE,
            str(out),
            *SHORT_RUN,
            "counterfactual=null",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 9, result.stderr
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left, "the killed run should leave its staging directory behind"
    assert not [name for name in left if name.endswith("summary.json")], left
    assert not out.exists()


def test_a_finished_run_lists_in_its_summary_only_files_that_exist(tmp_path: Path):
    from sim.experiments.run import run_job

    cfg = small_config(*SHORT_RUN)
    run_job(cfg, tmp_path / "run", None)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["files"] == ["timeseries.parquet"]
    assert all((tmp_path / "run" / name).is_file() for name in summary["files"])
