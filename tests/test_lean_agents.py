"""Lean agents: the Mesa agent objects of shoppers and sellers are built on first access.

A headless run never builds them; a model that builds them late (or eagerly, as a plain Mesa model
does) has the same agents (ids, types, order, exits and entrants) and computes the same numbers.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sim.core.agents import MSME, LargeFirm, Platform, Shopper
from sim.core.model import EcommerceModel
from sim.schema.config import ConfigError
from tests.conftest import small_config

# Costly stalls and a high entry rate: firms exit and entrants take their rows within the run.
CHURN = (
    "market.shoppers.n_agents=600",
    "market.msmes.n_agents=200",
    "scenario=history",
    "market.msmes.stall_cost_share=0.2",
    "market.msmes.entry_rate_per_week=0.2",
    "burn_in_weeks=8",
    "end_date=2024-03-25",
)


def _model(agent_objects: str) -> EcommerceModel:
    return EcommerceModel(small_config(*CHURN), agent_objects=agent_objects)


def _roster(model: EcommerceModel) -> list[tuple[int, str, int]]:
    return [(a.unique_id, type(a).__name__, a.index) for a in model.agents]


def test_a_headless_run_builds_no_shopper_or_seller_objects():
    model = _model("lazy")
    model.run()
    assert not model.agent_objects_built
    # Only the platforms (a handful) exist as objects; Mesa's own registry holds nothing else.
    registered = EcommerceModel.__mro__[1].agents.fget(model)  # mesa.Model.agents, no build
    assert {type(a) for a in registered} == {Platform}
    assert model.recorder.values["msme_exited"][-1, 0] > 0  # the run had exits to keep track of


def test_same_seed_same_numbers_with_and_without_agent_objects():
    eager, lazy = _model("eager"), _model("lazy")
    for model in (eager, lazy):
        model.run()
    assert eager.agent_objects_built and not lazy.agent_objects_built
    pd.testing.assert_frame_equal(eager.recorder.table(), lazy.recorder.table())
    pd.testing.assert_frame_equal(
        eager.datacollector.get_model_vars_dataframe(), lazy.datacollector.get_model_vars_dataframe()
    )


def test_agents_built_mid_run_are_those_an_eager_build_has():
    eager, lazy, never = _model("eager"), _model("lazy"), _model("lazy")
    for model in (eager, lazy, never):
        model.run_to_date("2023-06-30")
    assert eager.recorder.values["msme_exited"][eager.steps - 1, 0] > 0
    assert not lazy.agent_objects_built
    # First access, after exits and entries: same ids, types and registration order.
    assert _roster(lazy) == _roster(eager)
    assert list(lazy.agents_by_type) == list(eager.agents_by_type) == [Platform, Shopper, MSME, LargeFirm]
    assert lazy.agent_id_counter == eager.agent_id_counter
    for model in (eager, lazy):
        assert all(a.active for a in model.agents_by_type[MSME])
        assert len(model.agents_by_type[Shopper]) == model.shoppers.n
    local = [a.unique_id for a in lazy.agents_by_type[MSME].select(lambda a: a.origin == "local")]
    assert local == [a.unique_id for a in eager.agents_by_type[MSME].select(lambda a: a.origin == "local")]
    assert lazy.shopper_agents[7].unique_id == eager.shopper_agents[7].unique_id
    # Once built, exits remove agents and entrants add them, as in the eager model.
    followed = list(lazy.agents_by_type[MSME])
    for model in (eager, lazy, never):
        model.run()
    assert _roster(lazy) == _roster(eager)
    assert [m.unique_id if m else None for m in lazy.msme_agents] == [
        m.unique_id if m else None for m in eager.msme_agents
    ]
    assert any(a.exit_date is not None and not a.active for a in followed)
    # Building the objects changed nothing in the run.
    pd.testing.assert_frame_equal(never.recorder.table(), lazy.recorder.table())
    pd.testing.assert_frame_equal(never.recorder.table(), eager.recorder.table())


def test_unknown_agent_objects_mode_names_the_keyword():
    with pytest.raises(ConfigError) as err:
        EcommerceModel(small_config(*CHURN), agent_objects="none")
    assert err.value.key == "agent_objects"
