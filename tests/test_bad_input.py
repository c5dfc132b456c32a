"""Bad input stops before any simulation: one clear message naming the key, exit code not 0,
and no summary.json anywhere (nothing that looks like a finished run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.experiments.compose import load_scenario
from sim.schema.config import ConfigError
from tests.conftest import run_cli, small_config

CASES = [
    ("unknown scenario", ["scenario=nope"], ["scenario", "history", "no_policy"]),
    ("typo in a key", ["market.shoppers.n_agentz=5"], ["n_agentz"]),
    ("typo added with +", ["+market.shoppers.n_agentz=5"], ["n_agentz"]),
    ("typo at the top with +", ["+sede=3"], ["sede"]),
    ("wrong type", ["seed=abc"], ["seed"]),
    ("zero agents", ["market.shoppers.n_agents=0"], ["market.shoppers.n_agents", "[1, "]),
    ("negative agents", ["market.msmes.n_agents=-5"], ["market.msmes.n_agents", "[1, "]),
    (
        "probability above 1",
        ["scenario.social_commerce_ban.compliance=1.5"],
        ["scenario.social_commerce_ban.compliance", "[0, 1]"],
    ),
    (
        "share below 0",
        ["market.platforms.shopee.commission=-0.1"],
        ["market.platforms.shopee.commission", "[0, 1]"],
    ),
    (
        "policy date after the horizon",
        ["scenario.social_commerce_ban.date=2030-01-01"],
        ["scenario.social_commerce_ban.date", "outside the horizon"],
    ),
    (
        "policy date before the horizon",
        ["scenario.cross_border_floor.date=2019-05-01"],
        ["scenario.cross_border_floor.date", "outside the horizon"],
    ),
    (
        "not a date",
        ["scenario.social_commerce_ban.date=soon"],
        ["scenario.social_commerce_ban.date", "YYYY-MM-DD"],
    ),
    ("end before start", ["end_date=2020-01-06"], ["end_date", "after start_date"]),
    (
        "migration before relaunch",
        ["scenario.tiktok_tokopedia_pilot.migration_date=2023-11-01"],
        ["scenario.tiktok_tokopedia_pilot.migration_date", "before relaunch_date"],
    ),
    (
        "platform not in the roster",
        ["scenario.social_commerce_ban.platforms=[Friendster]"],
        ["scenario.social_commerce_ban.platforms.0", "Friendster", "TikTok Shop"],
    ),
    (
        "pilot storefront not in the roster",
        ["scenario.tiktok_tokopedia_pilot.partner=Tokopediaa"],
        ["scenario.tiktok_tokopedia_pilot.partner", "roster"],
    ),
    (
        "shares that do not add up",
        ["market.msmes.origin_agent_shares.local=0.7"],
        ["market.msmes.origin_agent_shares", "sum to 1"],
    ),
    ("unknown counterfactual", ["counterfactual=nope"], ["counterfactual", "no_policy"]),
]


# Each case starts `python -m sim` (about 2 s): two stay in the fast tier, the rest are slow.
FAST_CASES = ("unknown scenario", "zero agents")


@pytest.mark.parametrize(
    ("case", "overrides", "expected"),
    [pytest.param(*c, id=c[0], marks=() if c[0] in FAST_CASES else pytest.mark.slow) for c in CASES],
)
def test_bad_input_fails_fast_with_the_key_named(case, overrides, expected, workdir: Path):
    result = run_cli(
        *overrides,
        "market.shoppers.n_agents=500" if "n_agents" not in str(overrides) else "figures=false",
        cwd=workdir,
    )
    assert result.returncode != 0, case
    message = result.stderr + result.stdout
    for fragment in expected:
        assert fragment in message, (case, fragment, message[-2000:])
    assert "Traceback" not in message, message[-2000:]
    assert not list(workdir.rglob("summary.json"))
    assert not list(workdir.rglob("timeseries.parquet"))


def test_validation_error_is_raised_before_any_agent_exists():
    with pytest.raises(ConfigError, match=r"market\.shoppers\.network_degree"):
        small_config("market.shoppers.network_degree=3")


@pytest.mark.slow
def test_every_named_scenario_loads_and_validates():
    names = [
        "no_policy",
        "ban_only",
        "history",
        "early_ban",
        "loose_enforcement",
        "no_pilot",
        "strong_local_priority",
    ]
    for name in names:
        assert load_scenario(name).name == name
        small_config(f"scenario={name}")
