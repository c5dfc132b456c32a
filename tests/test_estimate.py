"""Simulation-based estimation: the estimator's bookkeeping and identification on a tiny market."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from sim.schema.packaged import config_dir
from sim.studies.estimate import (
    PARAMETERS,
    contract_levels,
    estimate,
    from_free,
    promote,
    targets,
    to_free,
)

TINY = ["market.shoppers.n_agents=1500", "market.msmes.n_agents=400", "burn_in_weeks=8"]


def test_targets_come_from_the_data_with_tolerances():
    by_name = {t.name: t for t in targets()}
    assert by_name["gmv_growth_2023"].value == pytest.approx(0.037)
    assert by_name["ban_shopee_vs_no_policy"].value == pytest.approx(0.257)
    assert by_name["tokopedia_growth_2023"].value == pytest.approx(16.3 / 18.4 - 1)
    assert by_name["msmes_online_end_2023_m"].value == 27
    assert all(t.tolerance > 0 and t.source for t in by_name.values())
    # The backtest may only use what was observable before the ban.
    early = {t.name for t in by_name.values() if t.observed_by <= "2023-10-01"}
    assert "share_2023Q3_TikTok Shop" in early and "gmv_growth_2023" not in early


@pytest.mark.parametrize("p", PARAMETERS, ids=lambda p: p.key)
def test_transforms_round_trip(p):
    assert from_free(p, to_free(p, p.prior)) == pytest.approx(p.prior)


@pytest.mark.slow
def test_estimate_on_a_tiny_market_identifies_and_reports(tmp_path: Path):
    keys = ["market.shoppers.impulse_rate", "market.msmes.join_rate"]
    result = estimate(
        seeds=2,
        iterations=1,
        before="2024-01-01",
        base=TINY,
        out=tmp_path,
        contractions=1,
        noise_seeds=3,
        keys=keys,
    )
    # Every evaluation went through the launcher: one job directory per seed and point.
    batches = sorted(p.name for p in (tmp_path / "runs").iterdir() if not p.name.startswith("."))
    assert batches[0] == "batch_000" and batches[-1] == "noise"
    assert len(list((tmp_path / "runs" / "noise").glob("*/job.json"))) == 3
    saved = json.loads((tmp_path / "estimate.json").read_text())
    assert saved["objective"] == pytest.approx(result["objective"])
    assert [p["key"] for p in saved["parameters"]] == keys
    jac = saved["jacobian_in_tolerances"]
    # Identification: more discovery buying raises TikTok Shop's share before the ban, and a
    # higher joining rate puts more firms online; each parameter's column is led by its target.
    assert jac["market.shoppers.impulse_rate"]["share_2023Q3_TikTok Shop"] > 0
    assert jac["market.msmes.join_rate"]["msmes_online_end_2023_m"] > 0
    assert saved["noise_seeds"] == 3 and saved["objective_noise_sd"] > 0
    for p in saved["parameters"]:
        assert p["pinned"] and p["free_se"] > 0 and math.isfinite(p["estimate"])
    assert all(t["used"] for t in saved["targets"])


def test_promote_writes_the_estimate_where_the_default_run_reads_it(tmp_path: Path):
    copy = tmp_path / "default.yaml"
    shutil.copy(config_dir() / "market" / "default.yaml", copy)
    result = {
        "parameters": [
            {"key": "market.shoppers.impulse_rate", "estimate": 0.123456},
            {"key": "market.platforms.tokopedia.content_cap", "estimate": 0.0555},
            {"key": "market.macro.offline_restriction_utility", "estimate": -0.25},
        ]
    }
    promote(result, copy)
    text = copy.read_text()
    assert "  impulse_rate: 0.12346" in text
    assert "    content_cap: 0.0555" in text
    assert "  offline_restriction_utility: -0.25" in text
    # Only the Tokopedia block changed: Shopee's content cap keeps its value.
    original = (config_dir() / "market" / "default.yaml").read_text()
    assert text.count("content_cap:") == original.count("content_cap:")
    with pytest.raises(SystemExit, match=r"market\.shoppers\.no_such_key"):
        promote({"parameters": [{"key": "market.shoppers.no_such_key", "estimate": 1.0}]}, copy)


def test_shares_on_their_own_scale_stay_in_bounds_and_keep_their_jacobian():
    p = next(p for p in PARAMETERS if p.key == "market.shoppers.link_follow_share")
    assert p.transform == "unit"
    assert from_free(p, 1.3) == 1.0 and from_free(p, -0.2) == 0.0
    assert from_free(p, 0.95) - from_free(p, 0.85) == pytest.approx(0.1)


def test_the_msme_share_of_shopees_sales_is_read_from_the_data_note():
    by_name = {t.name: t for t in targets()}
    assert by_name["msme_share_2021_Shopee"].value == pytest.approx(0.714)
    assert by_name["msme_share_2021_Shopee"].observed_by <= "2023-10-01"


class _SteepLevel:
    """A fake simulator: one level target that responds to its constant with elasticity 8, far
    above the 1 / lambda the contraction's step assumes."""

    def __init__(self, names: list[str], goal: float, key: str) -> None:
        self.names, self.goal, self.key = names, goal, key

    def mean(self, theta: dict[str, float]) -> np.ndarray:
        m = np.ones(len(self.names))
        m[self.names.index("share_2022_Blibli")] = self.goal * math.exp(8.0 * (theta[self.key] - 3.0))
        return m

    def means(self, thetas: list[dict[str, float]]) -> list[np.ndarray]:
        return [self.mean(theta) for theta in thetas]


def test_the_level_contraction_halves_the_step_of_a_level_that_overshoots():
    p = next(p for p in PARAMETERS if p.key == "market.platforms.blibli.brand_utility")
    names = [t.name for t in targets()]
    goal = np.ones(len(names))
    goal[names.index("share_2022_Blibli")] = 0.04
    sim = _SteepLevel(names, 0.04, p.key)
    x = np.array([2.7])
    m = sim.mean({p.key: 2.7})
    x, m = contract_levels(sim, [p], x, m, names, goal, np.ones(len(names), bool), rounds=8)
    # A fixed step of 0.35 x 8 = 2.8 times the log error would overshoot further every round.
    assert abs(m[names.index("share_2022_Blibli")] / 0.04 - 1) < 0.03
    assert x[0] == pytest.approx(3.0, abs=0.01)


def test_a_step_past_a_shares_bound_stays_at_the_bound():
    from sim.studies.estimate import within_bounds

    by_key = {p.key: p for p in PARAMETERS}
    link, rate = by_key["market.shoppers.link_follow_share"], by_key["market.shoppers.impulse_rate"]
    x = within_bounds([link, rate], np.array([1.8, math.log(0.1)]))
    assert x[0] == 1.0 and x[1] == pytest.approx(math.log(0.1))


class _Linear:
    """A fake simulator whose first moment is the link share itself (capped at 1 by the model)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def mean(self, theta: dict[str, float]) -> np.ndarray:
        m = np.zeros(len(self.names))
        m[0] = theta["market.shoppers.link_follow_share"]
        return m

    def means(self, thetas: list[dict[str, float]]) -> list[np.ndarray]:
        return [self.mean(theta) for theta in thetas]


def test_the_jacobian_of_a_share_at_its_bound_looks_inward():
    from sim.studies.estimate import jacobian

    link = next(p for p in PARAMETERS if p.key == "market.shoppers.link_follow_share")
    names = [t.name for t in targets()]
    sim = _Linear(names)
    for value in (0.5, 1.0):
        x = np.array([value])
        jac = jacobian(sim, [link], x, sim.mean({link.key: value}))
        # A forward step from 1.0 would be clipped back to 1.0 and read as no effect at all.
        assert jac[0, 0] == pytest.approx(1.0)
