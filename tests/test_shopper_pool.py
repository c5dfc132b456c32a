"""A second process shopping every other block over shared memory gives the numbers of one
process bit for bit, stops with the run (or with the model), and reports its own failure."""

from __future__ import annotations

import gc
import os

import numpy as np
import pandas as pd
import pytest

import sim.core.market as market
from sim.core.model import EcommerceModel

# The pilot's relaunch, the ban and the steering all fall in this horizon: installs by following a
# link, blocked discovery and steered sales all happen in the helper's blocks too.
SMALL = {"n_shoppers": 3000, "n_msmes": 400, "burn_in_weeks": 6, "end_date": "2024-06-24", "rng": 5}


@pytest.fixture
def five_blocks(monkeypatch):
    """3,000 shoppers in five blocks of 700 (the helper takes the second and the fourth)."""
    monkeypatch.setattr(market, "ONE_BLOCK_UP_TO", 1000)
    monkeypatch.setattr(market, "SHOPPER_BLOCK", 700)
    assert len(market.shopper_blocks(SMALL["n_shoppers"])) == 5


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_second_shopping_process_gives_the_same_numbers_bit_for_bit(five_blocks):
    alone = EcommerceModel(**SMALL)
    alone.run()
    helped = EcommerceModel(shopper_processes=2, **SMALL)
    assert helped._shopping_helper is not None  # forked when the shoppers were built
    pid = helped._shopping_helper.pool.pid
    helped.run()
    pd.testing.assert_frame_equal(alone.recorder.table(), helped.recorder.table(), check_exact=True)
    for name in ("habit", "adopted", "deferred_idr", "ties_using"):
        np.testing.assert_array_equal(getattr(alone.shoppers, name), getattr(helped.shoppers, name))
    # The run's end stopped the helper, which said how much memory of its own it held.
    assert helped._shopping_helper is None and not _alive(pid)
    assert helped.helper_private_mb is not None and helped.helper_private_mb > 0


def test_shopping_alone_midway_keeps_the_numbers_and_a_dropped_model_stops_its_helper(five_blocks):
    alone = EcommerceModel(**SMALL)
    helped = EcommerceModel(shopper_processes=2, **SMALL)
    for _ in range(40):
        alone.step()
        helped.step()
    helped.shop_alone()
    alone.run()
    helped.run()
    pd.testing.assert_frame_equal(alone.recorder.table(), helped.recorder.table(), check_exact=True)

    dropped = EcommerceModel(shopper_processes=2, **SMALL)
    assert dropped._shopping_helper is not None
    pid = dropped._shopping_helper.pool.pid
    del dropped
    gc.collect()
    assert not _alive(pid)


def test_a_failure_in_the_helper_is_raised_here_with_its_traceback(five_blocks, monkeypatch):
    shop_block = market._shop_block

    def fails_past_the_first_block(sh, rows, *rest):
        if rows.start == 700:  # the helper's first block
            raise ValueError("a broken block")
        return shop_block(sh, rows, *rest)

    monkeypatch.setattr(market, "_shop_block", fails_past_the_first_block)
    with pytest.raises(RuntimeError, match=r"(?s)helper process failed.*ValueError: a broken block"):
        EcommerceModel(shopper_processes=2, **SMALL)
    gc.collect()


def test_only_one_or_two_shopping_processes_are_accepted():
    from sim.schema.config import ConfigError

    with pytest.raises(ConfigError, match="shopper_processes"):
        EcommerceModel(shopper_processes=3, **SMALL)


def test_a_branch_of_a_helped_model_shops_alone_and_the_original_keeps_its_helper(five_blocks):
    helped = EcommerceModel(shopper_processes=2, policy="history", **SMALL)
    alone = EcommerceModel(policy="no_policy", **SMALL)
    counterfactual = alone.cfg.scenario
    for _ in range(helped.weeks_shared_with(counterfactual)):
        helped.step()
        alone.step()
    branch = helped.branch(counterfactual)
    assert branch._shopping_helper is None and helped._shopping_helper is not None
    pid = helped._shopping_helper.pool.pid
    branch.run()
    assert _alive(pid)  # the copy's end did not stop the original's helper
    alone.run()
    pd.testing.assert_frame_equal(alone.recorder.table(), branch.recorder.table(), check_exact=True)
    helped.run()
    history = EcommerceModel(policy="history", **SMALL)
    history.run()
    pd.testing.assert_frame_equal(history.recorder.table(), helped.recorder.table(), check_exact=True)
