"""One validation pass over every field: declared bounds on every number, finite values, the
relations between fields, the resource guard; each refusal names the key and what is allowed."""

from __future__ import annotations

import typing
from dataclasses import fields, is_dataclass

import pytest

import sim.schema.config as config_module
from sim.schema.config import Config, ConfigError, PlatformConfig, RateChange
from tests.conftest import small_config


def _dataclass_types(cls: type, seen: set[type] | None = None) -> set[type]:
    seen = set() if seen is None else seen
    seen.add(cls)
    for kind in typing.get_type_hints(cls).values():
        for inner in (kind, *typing.get_args(kind)):
            if is_dataclass(inner) and inner not in seen:
                _dataclass_types(inner, seen)
    return seen


def test_every_numeric_field_of_the_schema_declares_bounds():
    classes = _dataclass_types(Config) | {PlatformConfig, RateChange}
    assert PlatformConfig in classes and RateChange in classes
    missing = []
    for cls in classes:
        for f in fields(cls):
            kind = typing.get_type_hints(cls)[f.name]
            numeric = kind in (int, float) or typing.get_args(kind)[-1:] == (float,)
            if numeric and "bounds" not in f.metadata:
                missing.append(f"{cls.__name__}.{f.name}")
    assert not missing, f"add metadata=bounds(lo, hi) to: {sorted(missing)}"


def test_a_number_without_declared_bounds_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"^x: declares no bounds"):
        config_module._check_value("x", 1.0, {})


def test_every_default_lies_within_its_bounds():
    config_module.check_fields(Config())
    config_module.check_fields(small_config())


REFUSED = [
    # non-finite numbers, also in fields the old checks did not know
    (["market.shoppers.population=inf"], "market.shoppers.population", "finite"),
    (["market.shoppers.habit_weight=nan"], "market.shoppers.habit_weight", "finite"),
    (["market.shoppers.budget_median_idr=-inf"], "market.shoppers.budget_median_idr", "finite"),
    (["market.platforms.shopee.brand_utility=inf"], "market.platforms.shopee.brand_utility", "finite"),
    (["market.msmes.origin_agent_shares.local=nan"], "market.msmes.origin_agent_shares.local", "finite"),
    # outside the domain
    (["market.shoppers.price_sensitivity_mean=-1"], "market.shoppers.price_sensitivity_mean", "[0, 50]"),
    (["market.shoppers.shop_prob_mean=0"], "market.shoppers.shop_prob_mean", "(0, 1)"),
    (["market.platforms.shopee.subsidy_max=1"], "market.platforms.shopee.subsidy_max", "[0, 0.95]"),
    (["market.shoppers.n_agents=1000000000"], "market.shoppers.n_agents", "[1, 100000000]"),
    (["seed=18446744073709551616"], "seed", "[0, 4294967295]"),
    (["seed=-1"], "seed", "[0, 4294967295]"),
    (["burn_in_weeks=1000000"], "burn_in_weeks", "[0, 520]"),
    (["end_date=2200-01-06"], "end_date", "at most 2600"),
    # orderings and caps
    (
        ["market.msmes.min_markup=0.5", "market.msmes.max_markup=0.4"],
        "market.msmes.min_markup",
        "min_markup <= markup <= max_markup",
    ),
    (["market.platforms.shopee.subsidy=0.5"], "market.platforms.shopee.subsidy", "subsidy_max"),
    (
        ["market.platforms.shopee.subsidy_min=0.05", "market.platforms.shopee.subsidy=0.01"],
        "market.platforms.shopee.subsidy_min",
        "subsidy_min <= subsidy",
    ),
    (
        ["market.platforms.shopee.initial_adoption=0.9", "market.platforms.shopee.reach=0.5"],
        "market.platforms.shopee.initial_adoption",
        "reach",
    ),
    # dates in the window and in order
    (
        ["scenario.tiktok_tokopedia_pilot.deal_date=2024-03-20"],
        "scenario.tiktok_tokopedia_pilot.close_date",
        "deal_date",
    ),
    (
        ["scenario.tiktok_tokopedia_pilot.close_date=2030-01-01"],
        "scenario.tiktok_tokopedia_pilot.close_date",
        "outside the horizon",
    ),
    (
        [
            "scenario=no_policy",
            "scenario.kppu_conditions.enabled=true",
            "scenario.kppu_conditions.date=2019-01-01",
        ],
        "scenario.kppu_conditions.date",
        "outside the horizon",
    ),
    (["market.platforms.shopee.launch_date=2020-02-30"], "market.platforms.shopee.launch_date", "YYYY-MM-DD"),
    # names in the roster, contradictions, empty strings
    (
        ["scenario.tiktok_tokopedia_pilot.partner=TikTok Shop"],
        "scenario.tiktok_tokopedia_pilot.partner",
        "also the storefront",
    ),
    (
        ["scenario.social_commerce_ban.platforms=[TikTok Shop,TikTok Shop]"],
        "scenario.social_commerce_ban.platforms",
        "twice",
    ),
    (
        ["market.platforms.tiktok_shop.kind=marketplace"],
        "scenario.social_commerce_ban.enabled",
        "no social platform",
    ),
    (["market.msmes.categories=[food,food]"], "market.msmes.categories", "unique"),
    (["market.msmes.categories=[food,'']"], "market.msmes.categories.1", "empty"),
    (["market.platforms.shopee.name=''"], "market.platforms.shopee.name", "empty"),
    (["scenario.name=''"], "scenario.name", "empty"),
    (["counterfactual=''"], "counterfactual", "null for none"),
    (["progress=sometimes"], "progress", "auto, on, off"),
    (["point=3"], "point", "without point_file"),
    (
        [
            "market.platforms.shopee.commission_changes=[{date: '2023-01-02', rate: 0.1},"
            "{date: '2023-01-02', rate: 0.2}]"
        ],
        "market.platforms.shopee.commission_changes",
        "one date",
    ),
    # what was asked would be silently dropped
    (
        ["market.platforms.tiktok_shop.commission=0.05"],
        "market.platforms.tiktok_shop.commission",
        "commission_changes=[]",
    ),
]


# Each case composes a config through Hydra (about half a second): one case of each kind above
# stays in the fast tier, the others are slow.
FAST_REFUSED = {
    "market.shoppers.habit_weight:finite",
    "market.shoppers.price_sensitivity_mean:[0, 50]",
    "market.msmes.min_markup:min_markup <= markup <= max_markup",
    "scenario.tiktok_tokopedia_pilot.close_date:outside the horizon",
    "market.msmes.categories:unique",
    "market.platforms.tiktok_shop.commission:commission_changes=[]",
}


def _refused_cases() -> list:
    cases = []
    for overrides, key, fragment in REFUSED:
        case_id = f"{key}:{fragment}"
        marks = () if case_id in FAST_REFUSED else pytest.mark.slow
        cases.append(pytest.param(overrides, key, fragment, id=case_id, marks=marks))
    assert {c.id for c in cases} >= FAST_REFUSED
    return cases


@pytest.mark.parametrize(("overrides", "key", "fragment"), _refused_cases())
def test_bad_values_are_refused_naming_the_key_and_what_is_allowed(overrides, key, fragment):
    with pytest.raises(ConfigError) as caught:
        small_config(*overrides)
    assert caught.value.key == key, str(caught.value)
    assert str(caught.value).startswith(f"{key}: ") and fragment in str(caught.value)


def test_a_dated_commission_can_be_replaced_by_a_flat_rate_or_a_new_schedule():
    flat = small_config(
        "market.platforms.tiktok_shop.commission=0.05", "market.platforms.tiktok_shop.commission_changes=[]"
    )
    assert flat.market.platforms["tiktok_shop"].commission == 0.05
    assert flat.market.platforms["tiktok_shop"].commission_changes == []
    moved = small_config(
        "market.platforms.tiktok_shop.commission=0.05",
        "market.platforms.tiktok_shop.commission_changes=[{date: '2024-01-01', rate: 0.08}]",
    )
    assert [c.rate for c in moved.market.platforms["tiktok_shop"].commission_changes] == [0.08]


def test_the_resource_guard_refuses_what_the_machine_cannot_hold(monkeypatch):
    cfg = small_config()
    memory, seconds = config_module.estimate_resources(cfg, 260)
    assert memory > config_module.BASE_BYTES and seconds > 0
    bigger, _ = config_module.estimate_resources(small_config("market.shoppers.n_agents=40000"), 260)
    assert bigger > memory
    monkeypatch.setattr(config_module, "available_memory", lambda: memory)  # too little headroom
    with pytest.raises(ConfigError, match=r"^market\.shoppers\.n_agents: .* needs about .* GB .* free"):
        config_module.validate(cfg)
    monkeypatch.setattr(config_module, "available_memory", lambda: 10 * memory)
    config_module.validate(cfg)


def test_the_guard_refuses_the_billion_shopper_run_before_allocating():
    cfg = small_config()
    cfg.market.shoppers.n_agents = 90_000_000  # within the schema's bound; not within this machine's RAM
    memory, _ = config_module.estimate_resources(cfg, 260)
    if memory < 0.8 * config_module.available_memory():
        pytest.skip("this machine could hold the run")
    with pytest.raises(ConfigError, match="needs about"):
        config_module.validate(cfg)


def test_a_config_error_survives_a_worker_process_boundary():
    import pickle

    err = ConfigError("market.msmes.markup", "is above max_markup", ("market.msmes.max_markup",))
    back = pickle.loads(pickle.dumps(err))
    assert (back.key, back.keys, str(back)) == (err.key, err.keys, str(err))
