"""Shoppers are shopped in blocks, by two threads: the same numbers as all of them at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim.core.market as market
from sim.core.model import EcommerceModel
from tests.conftest import small_config

# A ban some shoppers evade and whose blocked discovery demand follows links (installing apps),
# then the pilot's steering: every branch of the week's shopping runs.
OVERRIDES = (
    "market.shoppers.n_agents=2000",
    "market.msmes.n_agents=200",
    "scenario=history",
    "scenario.social_commerce_ban.compliance=0.7",
    "market.shoppers.link_follow_share=0.6",
    "end_date=2024-09-30",
    "burn_in_weeks=4",
)


def _run(monkeypatch: pytest.MonkeyPatch, one_block_up_to: int, threads: int) -> EcommerceModel:
    monkeypatch.setattr(market, "SHOPPER_BLOCK", 450)  # also the chunk the sums are taken over
    monkeypatch.setattr(market, "ONE_BLOCK_UP_TO", one_block_up_to)
    monkeypatch.setattr(market, "SHOPPER_THREADS", threads)
    model = EcommerceModel(small_config(*OVERRIDES))
    model.run()
    return model


def test_blocks_and_threads_change_no_number(monkeypatch):
    whole = _run(monkeypatch, one_block_up_to=1 << 20, threads=1)
    blocked = _run(monkeypatch, one_block_up_to=450, threads=2)  # five blocks, the last one short
    assert [rows.stop - rows.start for rows in market.shopper_blocks(2000)] == [450] * 4 + [200]
    pd.testing.assert_frame_equal(whole.recorder.table(), blocked.recorder.table(), check_exact=True)
    for name in ("habit", "adopted", "ties_using", "deferred_idr"):
        assert np.array_equal(getattr(whole.shoppers, name), getattr(blocked.shoppers, name)), name
    # Each shopper's count of ties using each app is still the count (the installs that blocks
    # hand back, counted after the threads are done, are in it).
    sh = blocked.shoppers
    recount = sum(sh.adopted[:, tie].astype(np.int64) for tie in sh.ties)
    assert np.array_equal(sh.ties_using, recount)
    assert blocked.recorder.values["discovery_lost_idr"].sum() > 0


def test_sums_over_shoppers_do_not_depend_on_how_they_are_split_into_blocks(monkeypatch):
    monkeypatch.setattr(market, "SHOPPER_BLOCK", 1000)
    rng = np.random.default_rng(3)
    spend = rng.lognormal(12.0, 2.0, 4500)  # IDR, over many orders of magnitude
    channel = rng.integers(0, 7, 4500)
    whole = market.add_in_order([market.chunk_sums(spend, channel, 7)])
    blocks = [slice(0, 2000), slice(2000, 3000), slice(3000, 4500)]  # each starts at a chunk
    split = market.add_in_order([market.chunk_sums(spend[b], channel[b], 7) for b in blocks])
    assert np.array_equal(whole, split)
    np.testing.assert_allclose(whole, np.bincount(channel, weights=spend, minlength=7), rtol=1e-12)
    assert float(market.add_in_order([market.chunk_sums(spend[b]) for b in blocks])) == float(
        market.add_in_order([market.chunk_sums(spend)])
    )
    # Up to one chunk of shoppers the sums are numpy's own, as before there were chunks.
    small = slice(0, 1000)
    assert np.array_equal(
        market.add_in_order([market.chunk_sums(spend[small], channel[small], 7)]),
        np.bincount(channel[small], weights=spend[small], minlength=7),
    )
