"""Simulation-based estimation: the estimator's bookkeeping and identification on a tiny market."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from sim.estimate import PARAMETERS, ROOT, estimate, from_free, promote, targets, to_free

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
    result = estimate(seeds=2, iterations=1, before="2024-01-01", base=TINY, out=tmp_path,
                      contractions=1, noise_seeds=3, keys=keys)
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
    shutil.copy(ROOT / "conf" / "market" / "default.yaml", copy)
    result = {"parameters": [{"key": "market.shoppers.impulse_rate", "estimate": 0.123456},
                             {"key": "market.platforms.tokopedia.content_cap", "estimate": 0.0555},
                             {"key": "market.macro.offline_restriction_utility", "estimate": -0.25}]}
    promote(result, copy)
    text = copy.read_text()
    assert "  impulse_rate: 0.12346" in text
    assert "    content_cap: 0.0555" in text
    assert "  offline_restriction_utility: -0.25" in text
    # Only the Tokopedia block changed: Shopee's content cap keeps its value.
    original = (ROOT / "conf" / "market" / "default.yaml").read_text()
    assert text.count("content_cap:") == original.count("content_cap:")
    with pytest.raises(SystemExit, match=r"market\.shoppers\.no_such_key"):
        promote({"parameters": [{"key": "market.shoppers.no_such_key", "estimate": 1.0}]}, copy)
