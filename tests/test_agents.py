"""Platforms, shoppers and MSMEs are Mesa agents a user can select and inspect."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from sim.core.agents import MSME, LargeFirm, Platform, Shopper
from sim.core.model import EcommerceModel
from tests.conftest import small_config


def _model(*overrides: str) -> EcommerceModel:
    return EcommerceModel(
        small_config("market.shoppers.n_agents=1000", "market.msmes.n_agents=300", *overrides)
    )


def test_agent_sets_by_type_and_roster():
    model = _model()
    platforms = model.agents_by_type[Platform]
    assert [p.name for p in platforms] == [
        "Shopee",
        "Tokopedia",
        "TikTok Shop",
        "Lazada",
        "Bukalapak",
        "Blibli",
    ]
    tiktok = platforms.select(lambda p: p.kind == "social")
    assert len(tiktok) == 1 and tiktok.to_list()[0].launch_date == dt.date(2021, 4, 17)
    assert len(model.agents_by_type[Shopper]) == 1000
    ms = model.msmes
    assert len(model.agents_by_type[MSME]) == int((ms.active & ~ms.large).sum()) > 250
    # The large firms' agents are their own type, so MSME agent sets leave them out.
    large = model.agents_by_type[LargeFirm]
    assert len(large) == model.market.msmes.large_agents == int(ms.large.sum()) > 0
    assert sum(a.weight for a in large) == pytest.approx(model.market.msmes.large_firms)


def test_agents_read_the_model_arrays():
    model = _model()
    for _ in range(10):
        model.step()
    shopper = model.shopper_agents[7]
    assert shopper.budget == float(model.shoppers.budget[7]) > 0
    assert set(shopper.apps) <= set(model.platform_names)
    assert shopper.habit.keys() == {*model.platform_names, "offline"}
    msmes = model.agents_by_type[MSME]
    local = msmes.select(lambda a: a.origin == "local")
    assert 0 < len(local) < len(msmes)
    revenues = np.array(msmes.get("revenue"))
    ms = model.msmes
    assert np.isclose(revenues.sum(), model.clearing.sold_idr[ms.active & ~ms.large].sum(), rtol=1e-12)
    firm = max(msmes, key=lambda a: a.revenue)
    assert firm.revenue_per_firm == firm.revenue / firm.weight
    assert firm.price >= firm.unit_cost
    sales = firm.sales_by_channel
    assert sales.keys() == {*model.platform_names, "offline"}
    assert np.isclose(sum(sales.values()), firm.revenue, rtol=1e-12)
    assert {name for name, idr in sales.items() if idr > 0 and name != "offline"} <= set(firm.platforms)


def test_exited_firms_leave_the_agent_set_and_entrants_join_it():
    model = _model(
        "scenario=no_policy", "market.msmes.stall_cost_share=0.2", "market.msmes.entry_rate_per_week=0.2"
    )
    model.run()
    agents = model.agents_by_type[MSME]
    assert len(agents) == int((model.msmes.active & ~model.msmes.large).sum())
    assert all(a.active for a in agents)
    assert model.recorder.values["msme_exited"][-1, 0] > 0


def test_platform_operator_changes_at_the_legal_close():
    model = _model("scenario=history")
    tiktok = next(p for p in model.agents_by_type[Platform] if p.name == "TikTok Shop")
    owners = {}
    while model.running:
        model.step()
        owners[model.current_date] = tiktok.operator
    # One operator group from the legal close (2024-01-31), not from the deal's announcement.
    assert owners[dt.date(2023, 12, 11)] == "ByteDance"
    assert owners[dt.date(2024, 1, 29)] == "ByteDance"
    assert owners[dt.date(2024, 2, 5)] == "Tokopedia group"
    assert tiktok.commission == 0.10 and tiktok.may_transact is not False


def test_platform_reports_last_weeks_gmv():
    model = _model("scenario=no_policy")
    for _ in range(5):
        model.step()
    shopee = next(p for p in model.agents_by_type[Platform] if p.name == "Shopee")
    assert shopee.gmv_idr == model.clearing.gmv_idr[0] > 0


def test_an_exited_firm_keeps_what_it_was_though_an_entrant_takes_its_row():
    model = _model(
        "scenario=no_policy", "market.msmes.stall_cost_share=0.2", "market.msmes.entry_rate_per_week=1.0"
    )
    everyone = list(model.agents_by_type[MSME])  # strong references: exited agents stay readable
    before = {a.unique_id: (a.origin, a.category, a.price, a.weight) for a in everyone}
    model.run()
    gone = [a for a in everyone if a.exit_date is not None]
    assert gone, "no firm exited: the test needs exits"
    reused = [a for a in gone if model.msme_agents[a.index] is not None]
    assert reused, "no entrant took an exited firm's row: the test needs one"
    for agent in gone:
        assert not agent.active and agent.platforms == [] and agent.revenue == 0.0
        assert agent not in model.agents_by_type[MSME]
        assert model.dates[0] <= agent.exit_date <= model.dates[-1]
        origin, category, _, weight = before[agent.unique_id]
        assert (agent.origin, agent.category, agent.weight) == (origin, category, weight)
    # The entrant in the same row reads the live arrays; the exited agent does not follow them.
    agent = reused[0]
    entrant = model.msme_agents[agent.index]
    assert entrant.active and entrant.price == float(model.msmes.price[agent.index])
    assert agent.at_exit is not None and agent.price == agent.at_exit["price"]
    assert "left" in repr(agent)


def test_run_to_date_stops_after_the_last_week_starting_on_or_before_it():
    model = _model("scenario=history")
    model.run_to_date("2023-10-03")
    assert model.current_date <= dt.date(2023, 10, 3) < model.current_date + dt.timedelta(weeks=1)
    steps = model.steps
    model.run_to_date(dt.date(2023, 10, 3))  # already there: no step
    assert model.steps == steps
    model.run_to_date("2030-01-01")  # past the horizon: runs to the end and stops
    assert not model.running and model.current_date == model.dates[-1]
