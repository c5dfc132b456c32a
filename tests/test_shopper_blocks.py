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


def _run(monkeypatch: pytest.MonkeyPatch, block: int, threads: int) -> EcommerceModel:
    monkeypatch.setattr(market, "SHOPPER_BLOCK", block)
    monkeypatch.setattr(market, "ONE_BLOCK_UP_TO", min(block, 1 << 20))  # blocks however few the shoppers
    monkeypatch.setattr(market, "SHOPPER_THREADS", threads)
    model = EcommerceModel(small_config(*OVERRIDES))
    model.run()
    return model


def test_blocks_and_threads_change_no_number(monkeypatch):
    whole = _run(monkeypatch, block=1 << 30, threads=1)
    blocked = _run(monkeypatch, block=450, threads=2)  # five blocks, the last one short
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
