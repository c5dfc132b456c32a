"""The vectorised shopper rule and the plain-Mesa reference agree in distribution.

The engine changed its algorithm (one uniform per chooser, channel-major arrays, tie counts kept
by a followers index), so draws are not the same stream as a per-agent implementation; what must
match is the distribution of choices. Both implementations get the same population and offer.
"""

from __future__ import annotations

import numpy as np

from benchmarks.bench import channel_shares_agree
from sim.core.market import spread_app_adoption
from sim.core.population import build_shoppers
from tests.conftest import small_config


def test_numpy_kernel_and_mesa_reference_choose_alike():
    # 12,000 shoppers: at 4,000 the seed noise of one share alone reaches 0.02.
    result = channel_shares_agree(12000, 3)
    assert result["within_5_se"], result
    assert result["max_abs_diff"] < 0.02


def test_adoption_probability_matches_the_bass_formula():
    cfg = small_config("market.shoppers.n_agents=50000")
    sh = build_shoppers(cfg.market, np.random.default_rng(0))
    j = 2  # TikTok Shop: nobody uses it at the start
    sh.adopted[j] = False
    sh.ties_using[j] = 0
    p, q = np.array([0.0, 0.0, 0.05, 0, 0, 0]), np.zeros(6)
    launched = np.array([False, False, True, False, False, False])
    spread_app_adoption(sh, launched, p, q, np.random.default_rng(1))
    reachable = sh.can_reach[j]
    rate = sh.adopted[j][reachable].mean()
    se = np.sqrt(0.05 * 0.95 / reachable.sum())
    assert abs(rate - 0.05) < 5 * se
    assert not sh.adopted[j][~reachable].any()


def test_nested_logit_never_picks_an_unavailable_channel_even_at_the_edges():
    from sim.core.market import nested_logit_draw

    utility = np.array([[0.0, 0.0, 0.0], [1.0, -50.0, 0.0], [0.0, 0.0, 60.0]], dtype=np.float32).T
    available = np.array([[False, True, True], [True, False, True], [True, True, True]]).T
    for u in (0.0, 1e-9, 0.5, 0.999999):
        choice = nested_logit_draw(utility.copy(), available, np.full(3, u, np.float32), 0.5)
        assert available[choice, np.arange(3)].all(), (u, choice)
    # No storefront open at all: offline, whatever u is.
    closed = np.zeros_like(available)
    closed[-1] = True
    for u in (0.0, 0.7):
        assert (nested_logit_draw(utility.copy(), closed, np.full(3, u, np.float32), 0.5) == 2).all()


def test_the_fast_array_helpers_give_numpys_own_answers_bit_for_bit():
    """The week's hand-written replacements for ``argmax(axis=0)`` and ``where(mask, x, fill)``
    must give numpy's answers exactly, ties, infinities, NaN-free extremes and empty rows
    included: the run's numbers depend on them to the last bit."""
    from sim.core.market import _where_else, index_of_first_max

    rng = np.random.default_rng(3)
    for rows, n in ((1, 5), (2, 1000), (6, 20000)):
        values = rng.integers(0, 4, (rows, n)).astype(np.float32)  # many ties
        values[:, :10] = np.float32(-np.inf)
        values[0, 10:20] = np.float32(np.inf)
        assert np.array_equal(index_of_first_max(values), values.argmax(axis=0))
        keep = rng.random((rows, n)) < 0.6
        keep[:, :3] = False
        x = rng.normal(size=(rows, n)).astype(np.float32) * np.float32(1e30)
        x[:, 3:6] = np.float32(-0.0)
        for fill in (-np.inf, np.inf, 0.0, 1.0):
            expected = np.where(keep, x, np.float32(fill))
            got = _where_else(keep, x.copy(), fill)
            assert got.dtype == np.float32
            assert np.array_equal(got.view(np.int32), expected.view(np.int32)), fill
