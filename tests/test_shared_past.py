"""Scenarios of one seed are the same model until their rules first differ: the shared weeks run
once and the model is copied under each scenario (``EcommerceModel.branch``), with the numbers of
runs made one by one."""

from __future__ import annotations

import copy
from dataclasses import fields, replace

import numpy as np
import pandas as pd
import pytest

from sim.core.model import EcommerceModel
from sim.core.policies import WEEKLY_FIELDS, PolicyPath, build_policy_path, first_difference
from sim.experiments.compose import compose_config, compose_scenarios, load_scenario
from sim.experiments.run import plan_tasks, sharing_past, simulate_sharing_past, simulate_with_history
from sim.schema.config import horizon_dates, parse_date
from sim.schema.packaged import config_dir
from sim.schema.weeks import first_step_on_or_after
from sim.studies.estimate import ESTIMATION_END

# 2023 to spring 2024: the floor, the ban and the pilot's relaunch fall inside.
SHORT = [
    "market.shoppers.n_agents=900",
    "market.msmes.n_agents=250",
    "start_date=2023-01-02",
    "end_date=2024-04-29",
    "burn_in_weeks=4",
    "agent_history.every_weeks=5",
]


def test_runs_sharing_their_past_equal_runs_one_by_one():
    cfg = compose_config(SHORT)
    # A ban in May parts before the floor; a floor with another positive list draws other
    # sellers, so it shares no week and runs on its own.
    ban = replace(cfg.scenario.social_commerce_ban, date="2023-05-01")
    may_ban = replace(cfg.scenario, name="may_ban", social_commerce_ban=ban)
    other_list = replace(
        cfg.scenario,
        name="other_list",
        cross_border_floor=replace(cfg.scenario.cross_border_floor, positive_list_share=0.5),
    )
    scenarios = [
        cfg.scenario,
        load_scenario("no_policy"),
        load_scenario("ban_only"),
        load_scenario("loose_enforcement"),
        may_ban,
        other_list,
    ]
    cfgs = [replace(cfg, scenario=s) for s in scenarios]
    together = simulate_sharing_past(cfgs)
    for job, (table, history) in zip(cfgs, together, strict=True):
        alone, alone_history = simulate_with_history(job)
        pd.testing.assert_frame_equal(table, alone)
        assert history is not None and alone_history is not None
        pd.testing.assert_frame_equal(history, alone_history)
        assert table["scenario"].iloc[0] == job.scenario.name


def test_the_progress_bar_of_runs_sharing_their_past_counts_every_week_of_each(capsys):
    cfg = compose_config(SHORT[:5])
    simulate_sharing_past([cfg, replace(cfg, scenario=load_scenario("no_policy"))], show_progress=True)
    weeks = len(horizon_dates(cfg))
    last = capsys.readouterr().err.strip().split("\r")[-1]
    assert last.startswith("history+no_policy seed 0: 100%") and f" {2 * weeks}/{2 * weeks} " in last


def test_a_branch_is_the_model_of_its_scenario_down_to_the_collector_and_the_random_streams():
    cfg = compose_config(SHORT)
    no_policy = load_scenario("no_policy")
    model = EcommerceModel(cfg)
    shared = model.weeks_shared_with(no_policy)
    assert 0 < shared < len(model.dates)
    for _ in range(shared):
        model.step()
    branch = model.branch(no_policy)
    alone = EcommerceModel(replace(cfg, scenario=no_policy))
    for _ in range(shared):
        alone.step()
    assert branch.policy.banned.sum() == 0 and model.policy.banned.sum() > 0
    for other in (branch, alone):
        while other.running:
            other.step()
    pd.testing.assert_frame_equal(
        branch.datacollector.get_model_vars_dataframe(), alone.datacollector.get_model_vars_dataframe()
    )
    assert branch.shopper_rng.bit_generator.state == alone.shopper_rng.bit_generator.state
    assert branch.agent_id_counter == alone.agent_id_counter
    assert [a.unique_id for a in branch.agents] == [a.unique_id for a in alone.agents]
    # The original goes on under its own rules, untouched by its copy's weeks.
    model.step()
    assert model.steps == shared + 1 and model.scenario_name == cfg.scenario.name


def test_a_model_past_the_shared_weeks_refuses_to_branch():
    cfg = compose_config(SHORT)
    model = EcommerceModel(cfg)
    shared = model.weeks_shared_with(load_scenario("no_policy"))
    for _ in range(shared + 1):
        model.step()
    with pytest.raises(ValueError, match=f"differ from week {shared}"):
        model.branch(load_scenario("no_policy"))
    other_list = copy.deepcopy(cfg.scenario)
    other_list.cross_border_floor.positive_list_share += 0.1
    fresh = EcommerceModel(cfg)  # the burn-in already ran under other sellers
    with pytest.raises(ValueError, match="differ from week 0"):
        fresh.branch(other_list)


def test_first_difference_is_the_first_week_any_rule_differs():
    cfg = compose_config(SHORT)
    dates = horizon_dates(cfg)
    base = build_policy_path(cfg.market, load_scenario("no_policy"), dates)
    assert first_difference(base, copy.deepcopy(base)) == len(dates)
    arrays = {f.name for f in fields(PolicyPath) if isinstance(getattr(base, f.name), np.ndarray)}
    by_week = arrays - {"steer_to"}
    assert set(WEEKLY_FIELDS) == by_week  # every rule of the week is compared
    for name in WEEKLY_FIELDS:
        for week in (0, 17, len(dates) - 1):
            other = copy.deepcopy(base)
            rows = getattr(other, name)
            rows[week] = rows[week] + 1 if rows.dtype != bool else ~rows[week]
            assert first_difference(base, other) == week, name
            assert first_difference(other, base) == week, name
    # A steering partner counts only from the first week either path steers that storefront.
    other = copy.deepcopy(base)
    other.steer_to[3] = 1
    assert first_difference(base, other) == len(dates)
    other.steer_share[30:, 3] = 0.2
    assert first_difference(base, other) == 30
    other = copy.deepcopy(base)
    other.positive_list_share += 0.1
    assert first_difference(base, other) == 0
    # history against no_policy: the week the first of its dated rules (the floor) applies.
    history = build_policy_path(cfg.market, cfg.scenario, dates)
    floor = first_step_on_or_after(dates, parse_date("floor", cfg.scenario.cross_border_floor.date))
    ban = first_step_on_or_after(dates, parse_date("ban", cfg.scenario.social_commerce_ban.date))
    assert floor < ban
    assert first_difference(history, base) == floor
    assert np.array_equal(history.floor_usd[floor - 1 : floor + 1], [0.0, 100.0])


def test_runs_share_their_past_only_where_that_ends_sooner():
    cfg = compose_config(SHORT)
    no_policy = load_scenario("no_policy")
    pairs = [replace(cfg, seed=s, scenario=sc) for s in (0, 1) for sc in (cfg.scenario, no_policy)]
    assert sharing_past(pairs) == [[0, 1], [2, 3]]
    assert sharing_past([cfg, replace(cfg, market=replace(cfg.market, usd_idr=15000.0))]) == [[0], [1]]
    assert plan_tasks(pairs, 2) == [[0, 1], [2, 3]]  # two seeds' pairs on two cores: a pair on each
    assert plan_tasks(pairs[:1] + pairs[2:3], 2) == [[0], [1]]  # nothing shared
    # One pair of 2021-2025 on two cores: a run on each ends sooner than the pair on one...
    full = compose_config([*SHORT[:2], "burn_in_weeks=52"])
    assert plan_tasks([full, replace(full, scenario=no_policy)], 2) == [[0], [1]]
    assert plan_tasks([full, replace(full, scenario=no_policy)], 1) == [[0, 1]]
    # ...and the estimator's runs (to 2024-03-18) share all but 25 weeks: 245 weeks on one core
    # against 220 on each of two; on one core, or with two seeds, they share.
    estimator = replace(full, end_date=ESTIMATION_END)
    assert plan_tasks([estimator, replace(estimator, scenario=no_policy)], 2) == [[0], [1]]
    assert plan_tasks([estimator, replace(estimator, scenario=no_policy)], 1) == [[0, 1]]
    seeds = [
        replace(estimator, seed=s, scenario=sc) for s in (0, 1) for sc in (estimator.scenario, no_policy)
    ]
    assert plan_tasks(seeds, 2) == [[0, 1], [2, 3]]


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["seed=4", "end_date=2024-03-18", "market.shoppers.impulse_rate=0.05"],
        ["scenario.social_commerce_ban.compliance=0.8"],  # a scenario key: each one composed
    ],
)
def test_scenarios_composed_once_equal_each_composed(overrides):
    names = sorted(p.stem for p in config_dir().joinpath("scenario").glob("*.yaml"))
    assert {"history", "no_policy", "early_ban"} <= set(names)
    together = compose_scenarios(names, overrides)
    for name, cfg in zip(names, together, strict=True):
        assert cfg == compose_config([f"scenario={name}", *overrides]), name
