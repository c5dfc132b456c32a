"""Fuzz the whole schema: random override sets (every type of value, non-finite, empty, huge and
mutually inconsistent ones) are either refused with a ConfigError naming a key they changed, or run
at tiny scale to finite outputs that keep the model's invariants."""

from __future__ import annotations

import copy
import datetime as dt
import math
import typing
from dataclasses import fields, is_dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from sim.core.model import EcommerceModel
from sim.experiments.compose import check_overrides, compose_config, to_config
from sim.experiments.run import check_finite
from sim.schema.config import Config, ConfigError, PlatformConfig, dataclass_keys, validate

# Tiny scale: a short window that holds the history scenario's dates, few agents, short burn-in.
BASE = compose_config(
    [
        "scenario=history",
        "start_date=2023-09-04",
        "end_date=2024-03-25",
        "counterfactual=null",
        "burn_in_weeks=1",
        "figures=false",
        "market.shoppers.n_agents=150",
        "market.msmes.n_agents=24",
        "market.shoppers.network_degree=4",
    ]
)
BASE_NODE = OmegaConf.to_container(OmegaConf.structured(BASE))
PLATFORMS = list(BASE.market.platforms)
ROSTER = [p.name for p in BASE.market.platforms.values()]

# Keys whose valid values set the run's size: in-bounds draws stay tiny so that a valid set runs
# in a fraction of a second; out-of-bounds draws may be anything.
TINY = {
    "market.shoppers.n_agents": (1, 200),
    "market.msmes.n_agents": (1, 30),
    "market.shoppers.network_degree": (0, 8),
    "burn_in_weeks": (0, 3),
    "agent_history.every_weeks": (0, 13),
    "market.platform_rule.share_memory_weeks": (1, 30),
    "scenario.tiktok_tokopedia_pilot.trial_weeks": (1, 30),
    "scenario.tiktok_tokopedia_pilot.relaunch_ramp_weeks": (0, 30),
}
SKIP = {"point_file", "point", "force", "progress", "figures"}  # orchestration, not the model


def _leaf_fields(cls: type, prefix: str = "") -> dict[str, tuple[typing.Any, dict]]:
    """Dotted key -> (type, metadata) of every leaf of a dataclass type, platforms expanded."""
    hints = typing.get_type_hints(cls)
    out: dict[str, tuple[typing.Any, dict]] = {}
    for f in fields(cls):
        key, kind = f"{prefix}{f.name}", hints[f.name]
        if is_dataclass(kind):
            out.update(_leaf_fields(kind, key + "."))
        elif key == "market.platforms":
            for name in PLATFORMS:
                out.update(_leaf_fields(PlatformConfig, f"{key}.{name}."))
        else:
            out[key] = (kind, dict(f.metadata))
    return out


LEAVES = {k: v for k, v in _leaf_fields(Config).items() if k not in SKIP}
assert set(LEAVES) >= {k for k in dataclass_keys(BASE) if k != "market.platforms"} - SKIP

WORDS = st.text(alphabet="abcxyzTSP _-0123456789", max_size=12)
HOSTILE_NUMBERS = st.sampled_from(
    [math.nan, math.inf, -math.inf, 1e300, -1e300, -1, 0, 1e9, 2**64, -(2**63), 0.5, 1.0]
)
DATES = st.dates(dt.date(2023, 9, 4), dt.date(2024, 3, 25)).map(str)
ANY_DATE = st.one_of(
    DATES,
    st.dates(dt.date(1990, 1, 1), dt.date(2100, 1, 1)).map(str),
    st.sampled_from(["", "soon", "2023-02-30", "2024-13-01"]),
)


def numbers(kind: typing.Any, meta: dict, key: str) -> st.SearchStrategy:
    limits = meta["bounds"]
    lo, hi = TINY.get(key, (limits.lo, limits.hi))
    if kind is int:
        inside = st.integers(math.ceil(lo), math.floor(min(hi, 10**6)))
        return st.one_of(
            inside, inside, st.integers(-(2**70), 2**70), HOSTILE_NUMBERS, st.sampled_from(["abc", "", 1.5])
        )
    inside = st.floats(lo, min(hi, 1e6), allow_nan=False)
    return st.one_of(inside, inside, st.floats(), HOSTILE_NUMBERS, st.sampled_from(["abc", "", True]))


def value_for(key: str, kind: typing.Any, meta: dict) -> st.SearchStrategy:
    if "bounds" in meta and kind in (int, float):
        return numbers(kind, meta, key)
    if kind is bool:
        return st.one_of(st.booleans(), st.sampled_from(["maybe", 2]))
    if meta.get("date"):
        return ANY_DATE
    if "choices" in meta:
        return st.one_of(st.sampled_from(meta["choices"]), WORDS)
    if key.endswith((".storefront", ".partner", ".name")) or key == "counterfactual":
        options = (
            ROSTER
            if not key.endswith(("scenario.name", "counterfactual"))
            else ["history", "no_policy", "ban_only", "x"]
        )
        return st.one_of(
            st.sampled_from(options), WORDS, st.none() if key == "counterfactual" else st.just("")
        )
    if key.endswith("origin_agent_shares"):
        share = st.one_of(st.floats(0, 1), HOSTILE_NUMBERS)
        return st.one_of(
            st.fixed_dictionaries({"local": share, "import_reseller": share, "cross_border": share}),
            st.just({"local": 0.5, "import_reseller": 0.25, "cross_border": 0.25}),
            st.dictionaries(WORDS, share, max_size=3),
        )
    if key.endswith("commission_changes"):
        rate = st.one_of(st.floats(0, 1), HOSTILE_NUMBERS)
        change = st.fixed_dictionaries({"date": ANY_DATE, "rate": rate})
        return st.lists(change, max_size=3)
    if key.endswith("social_commerce_ban.platforms"):
        return st.lists(st.one_of(st.sampled_from(ROSTER), WORDS), max_size=3)
    if key.endswith("categories"):
        return st.lists(st.one_of(st.sampled_from(["fashion", "food", "toys"]), WORDS), max_size=4)
    if key.endswith("_fields"):
        return st.lists(st.sampled_from(["revenue_idr", "price", "apps", "budget", "nope", ""]), max_size=3)
    return st.one_of(WORDS, st.just(""))


@st.composite
def override_sets(draw: st.DrawFn) -> dict[str, typing.Any]:
    keys = draw(st.lists(st.sampled_from(sorted(LEAVES)), min_size=1, max_size=4, unique=True))
    return {key: draw(value_for(key, *LEAVES[key])) for key in keys}


def _set(node: dict, key: str, value: typing.Any) -> None:
    *path, last = key.split(".")
    for part in path:
        node = node[part]
    node[last] = value


def _typed(kind: typing.Any, value: typing.Any) -> bool:
    """True if ``value`` is already of the field's type (no OmegaConf conversion could apply)."""
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    return False  # lists, dicts, optionals: through OmegaConf


def _set_attr(cfg: Config, key: str, value: typing.Any) -> None:
    *path, last = key.split(".")
    node: typing.Any = cfg
    for part in path:
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    setattr(node, last, float(value) if isinstance(getattr(node, last), float) else value)


def _names_a_changed_key(err: ConfigError, changed: set[str]) -> bool:
    return any(k == c or c.startswith(k + ".") or k.startswith(c + ".") for k in err.keys for c in changed)


def _run_checking_invariants(cfg: Config) -> None:
    model = EcommerceModel(cfg)
    while model.running:
        model.step()
        week = model.steps - 1
        ledger, clearing = model.ledger, model.clearing
        np.testing.assert_allclose(
            ledger.buyer_paid + ledger.subsidy,
            ledger.seller_receipts + ledger.commission,
            rtol=1e-9,
            atol=1.0,
        )
        assert (clearing.sold_idr >= 0).all() and (ledger.commission >= 0).all()
        if clearing.gmv_idr[:-1].sum() > 0:
            assert np.isclose(model.recorder.values["gmv_share"][week].sum(), 1.0)
        assert (model.recorder.values["msme_revenue_idr"][week] >= 0).all()
        if cfg.scenario.social_commerce_ban.compliance == 1.0:
            assert (clearing.gmv_idr[:-1][model.policy.banned[week]] == 0).all()
    table = model.recorder.table()
    check_finite(table)
    assert isinstance(table, pd.DataFrame) and len(table)


OUTCOMES = {"refused": 0, "ran": 0}


@pytest.mark.slow
@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(changes=override_sets())
def test_random_overrides_are_refused_naming_a_changed_key_or_run_to_finite_outputs(changes):
    overrides = [f"{key}={value}" for key, value in changes.items()]
    try:
        if all(_typed(LEAVES[key][0], value) for key, value in changes.items()):
            # Values of the schema's types need no conversion: straight to the checks, quickly.
            cfg = copy.deepcopy(BASE)
            for key, value in changes.items():
                _set_attr(cfg, key, value)
            validate(cfg)
            check_overrides(overrides, cfg)
        else:  # the way the command line goes: OmegaConf converts or refuses, then the checks
            node = OmegaConf.to_container(OmegaConf.create(BASE_NODE))
            for key, value in changes.items():
                _set(node, key, value)
            cfg = to_config(OmegaConf.create(node), overrides)
    except ConfigError as err:
        OUTCOMES["refused"] += 1
        assert _names_a_changed_key(err, set(changes)), (str(err), changes)
        assert str(err).startswith(err.key)
        return
    OUTCOMES["ran"] += 1
    _run_checking_invariants(cfg)


@pytest.mark.slow
def test_the_fuzz_both_refuses_and_runs():
    """The fuzz is not vacuous: over its examples some sets ran and some were refused."""
    if not any(OUTCOMES.values()):  # run alone: draw the same examples again
        test_random_overrides_are_refused_naming_a_changed_key_or_run_to_finite_outputs()
    print(OUTCOMES)
    assert OUTCOMES["ran"] >= 30 and OUTCOMES["refused"] >= 30, OUTCOMES
