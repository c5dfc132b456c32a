"""The validation report: every pattern measured, and checks that can fail."""

from __future__ import annotations

from pathlib import Path

from sim.validate import evaluate, main, run_pair

TINY = ("market.shoppers.n_agents=2000", "market.msmes.n_agents=500")


def test_report_lists_every_pattern_with_its_source_and_result(tmp_path: Path):
    assert main(["--seeds", "1", "--workers", "1", "--out", str(tmp_path), *TINY]) == 0
    report = (tmp_path / "validation.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 13
    assert all(("pass" in row or "FAIL" in row) for row in rows[1:])
    for picture in ("validation_shares.png", "validation_ban.png"):
        assert (tmp_path / picture).stat().st_size > 20_000 and picture in report


def test_ban_patterns_fail_when_there_is_no_ban():
    runs = [run_pair(0, TINY)]
    swapped = [{"history": r["no_policy"], "no_policy": r["history"]} for r in runs]
    by_name = {p.name: p for p in evaluate(swapped)}
    assert not by_name["TikTok Shop's GMV stops under the ban"].passed
    assert not by_name["Part of it is lost"].passed
    honest = {p.name: p for p in evaluate(runs)}
    assert honest["TikTok Shop's GMV stops under the ban"].passed
