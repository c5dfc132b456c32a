"""Mesa conventions: keyword construction from the packaged defaults, model.datacollector, batch_run."""

from __future__ import annotations

import dataclasses
import datetime as dt

import mesa
import numpy as np
import pandas as pd
import pytest

from sim.core.levers import LEVER_KEYS, Levers
from sim.core.model import EcommerceModel
from sim.experiments.compose import compose_config
from sim.schema.config import ConfigError
from sim.schema.packaged import policies
from tests.conftest import series, small_config

SMALL = {"n_shoppers": 1500, "n_msmes": 400, "burn_in_weeks": 8}


@pytest.mark.slow
def test_keyword_model_uses_the_same_defaults_as_the_command_line():
    assert EcommerceModel().cfg == compose_config([])  # python -m sim: history, seed 0
    model = EcommerceModel(policy="no_policy", rng=7, end_date="2021-02-01")
    assert model.cfg == compose_config(["scenario=no_policy", "seed=7", "end_date=2021-02-01"])
    assert set(policies()) >= {"history", "no_policy", "ban_only"}


def test_each_lever_sets_its_config_key():
    levers = dict(
        ban_date="2023-11-06",
        ban_compliance=0.6,
        link_follow_share=0.2,
        floor=False,
        floor_usd=50.0,
        relaunch_date="2023-12-18",
        local_priority=1.0,
        trial_weeks=20,
        migration_date="2024-04-01",
        kppu_conditions=True,
        kppu_date="2025-07-01",
        n_shoppers=3000,
        n_msmes=700,
        burn_in_weeks=10,
        end_date="2025-09-29",
    )
    model = EcommerceModel(rng=2, **levers)
    expected = compose_config(
        [
            "seed=2",
            "scenario.social_commerce_ban.date=2023-11-06",
            "scenario.social_commerce_ban.compliance=0.6",
            "market.shoppers.link_follow_share=0.2",
            "scenario.cross_border_floor.enabled=false",
            "scenario.cross_border_floor.min_unit_price_usd=50",
            "scenario.tiktok_tokopedia_pilot.relaunch_date=2023-12-18",
            "scenario.tiktok_tokopedia_pilot.local_priority=1.0",
            "scenario.tiktok_tokopedia_pilot.trial_weeks=20",
            "scenario.tiktok_tokopedia_pilot.migration_date=2024-04-01",
            "scenario.kppu_conditions.enabled=true",
            "scenario.kppu_conditions.date=2025-07-01",
            "market.shoppers.n_agents=3000",
            "market.msmes.n_agents=700",
            "burn_in_weeks=10",
            "end_date=2025-09-29",
        ]
    )
    assert model.cfg.scenario.name == "history+levers"  # its table rows do not claim "history"
    assert model.cfg == dataclasses.replace(
        expected, scenario=dataclasses.replace(expected.scenario, name="history+levers")
    )
    assert set(LEVER_KEYS) == {f.name for f in dataclasses.fields(Levers)}


def test_commission_lever_scales_tiktok_shops_whole_schedule():
    short = {"policy": "no_policy", "end_date": "2021-02-01", **SMALL}
    base = EcommerceModel(**short).cfg.market.platforms["tiktok_shop"]
    scaled = EcommerceModel(tiktok_commission_scale=2.0, **short)
    shop = scaled.cfg.market.platforms["tiktok_shop"]
    assert shop.commission == pytest.approx(2 * base.commission)
    assert [c.rate for c in shop.commission_changes] == pytest.approx(
        [2 * c.rate for c in base.commission_changes]
    )
    assert scaled.cfg.market.platforms["shopee"] == EcommerceModel(**short).cfg.market.platforms["shopee"]


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"policy": "no_such_policy"}, "policy"),
        ({"ban_compliance": "high"}, "ban_compliance"),
        ({"trial_weeks": 2.5}, "trial_weeks"),
        ({"ban": 1}, "ban"),
        ({"rng": np.random.default_rng(1)}, "rng"),
        ({"ban_date": "2031-01-01"}, "scenario.social_commerce_ban.date"),
        ({"n_shoppers": -5}, "market.shoppers.n_agents"),
    ],
)
def test_bad_lever_names_the_key(kwargs, key):
    with pytest.raises(ConfigError) as err:
        EcommerceModel(**kwargs)
    assert err.value.key == key


@pytest.mark.slow
def test_model_from_cfg_and_from_keywords_run_the_same():
    from_cfg = EcommerceModel(small_config("scenario=ban_only", "end_date=2024-01-29"))
    from_keywords = EcommerceModel(
        rng=0, policy="ban_only", n_shoppers=4000, n_msmes=1000, end_date="2024-01-29"
    )
    for model in (from_cfg, from_keywords):
        model.run()
    pd.testing.assert_frame_equal(
        from_cfg.datacollector.get_model_vars_dataframe(),
        from_keywords.datacollector.get_model_vars_dataframe(),
    )


def test_signature_is_keyword_only_without_kwargs_or_scenario():
    """SolaraViz's Reset rebuilds a model with keywords; **kwargs or a `scenario` parameter makes
    it pass Mesa's own Scenario object as well."""
    import inspect

    params = inspect.signature(EcommerceModel).parameters
    assert "scenario" not in params
    assert all(p.kind is not p.VAR_KEYWORD for p in params.values())
    assert [n for n, p in params.items() if p.kind is p.POSITIONAL_OR_KEYWORD] == ["cfg"]


@pytest.fixture(scope="module")
def history_run() -> EcommerceModel:
    model = EcommerceModel(rng=1, end_date="2024-06-24", **SMALL)
    model.run()
    return model


def test_datacollector_reports_every_week_from_the_recorded_arrays(history_run):
    model = history_run
    df = model.datacollector.get_model_vars_dataframe()
    table = model.recorder.table()
    assert len(df) == len(model.dates)
    assert list(df["date"]) == [d.isoformat() for d in model.dates]
    for metric, entity in [
        ("gmv_share", "TikTok Shop"),
        ("group_gmv_share", "Tokopedia group"),
        ("msme_revenue_idr", "local"),
        ("msme_revenue_idr", "offline"),
        ("hhi", "market"),
    ]:
        np.testing.assert_allclose(
            df[f"{metric}[{entity}]"].to_numpy(), series(table, metric, entity).to_numpy()
        )
    # Shares as reported, against shares recomputed from the storefronts' GMV in IDR (a group's
    # GMV is its storefronts' from the legal close on, so TikTok Shop's joins Tokopedia's then).
    gmv = {name: series(table, "gmv_idr", name).to_numpy() for name in model.platform_names}
    online = sum(gmv.values())
    for name in model.platform_names:
        np.testing.assert_allclose(
            df[f"gmv_share[{name}]"].to_numpy(), gmv[name] / online, rtol=1e-9, atol=1e-15
        )
    close = np.array([d >= dt.date(2024, 2, 5) for d in model.dates])
    tokopedia_group = gmv["Tokopedia"] + np.where(close, gmv["TikTok Shop"], 0.0)
    np.testing.assert_allclose(
        df["group_gmv_share[Tokopedia group]"].to_numpy(), tokopedia_group / online, rtol=1e-9
    )
    origins = df[[f"msme_revenue_idr[{o}]" for o in ("local", "import_reseller", "cross_border")]]
    np.testing.assert_allclose(origins.sum(axis=1), df["msme_revenue_idr[all]"], rtol=1e-9)


def test_datacollector_policy_state_follows_the_dates(history_run):
    df = history_run.datacollector.get_model_vars_dataframe().set_index("date")
    ban_week = "2023-10-09"  # the first week starting on or after 2023-10-04
    assert not df.loc["2023-10-02", "ban_in_force"] and df.loc[ban_week, "ban_in_force"]
    assert df.loc[ban_week, "transact_share[TikTok Shop]"] == 0.0
    assert df.loc["2023-09-25", "floor_usd"] == 0.0 and df.loc["2023-10-02", "floor_usd"] == 100.0
    assert df.loc["2023-12-18", "local_boost"] == pytest.approx(0.3)
    assert df.loc["2023-06-05", "commission[TikTok Shop]"] == pytest.approx(0.03)


@pytest.mark.slow
def test_batch_run_over_policies_and_seeds(history_run):
    results = mesa.batch_run(
        EcommerceModel,
        parameters={"policy": ["history", "no_policy"], "end_date": "2024-06-24", **SMALL},
        rng=[1, 2],
        max_steps=1000,
        number_processes=1,
        data_collection_period=-1,
        display_progress=False,
    )
    df = pd.DataFrame(results)
    assert len(df) == 4
    assert set(zip(df["policy"], df["rng"], strict=True)) == {
        ("history", 1),
        ("history", 2),
        ("no_policy", 1),
        ("no_policy", 2),
    }
    assert (df["date"] == "2024-06-24").all()
    history = df[df["policy"] == "history"].set_index("rng")
    no_policy = df[df["policy"] == "no_policy"].set_index("rng")
    assert (history["floor_usd"] == 100.0).all() and (no_policy["floor_usd"] == 0.0).all()
    # Same keywords and seed as the fixture's own run: the same last week.
    last = history_run.datacollector.get_model_vars_dataframe().iloc[-1]
    for column in ("gmv_share[Shopee]", "msme_revenue_idr[local]", "hhi[market]"):
        assert history.loc[1, column] == last[column]
    assert history.loc[1, "gmv_share[Shopee]"] != history.loc[2, "gmv_share[Shopee]"]


def test_model_core_imports_neither_hydra_nor_the_dashboard():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sim.core.model import EcommerceModel\n"
        "EcommerceModel(policy='no_policy', end_date='2021-02-01', n_shoppers=500, n_msmes=200,"
        " burn_in_weeks=2).run()\n"
        "loaded = sorted({k.split('.')[0] for k in sys.modules} & "
        "{'hydra', 'solara', 'matplotlib', 'reacton', 'ipywidgets'})\n"
        "loaded += [k for k in sys.modules"
        " if k.startswith(('sim.views', 'sim.experiments', 'sim.studies', 'sim.faces', 'sim.app'))]\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
