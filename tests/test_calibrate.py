"""The Optuna calibration: its objective, its resumption and the config it writes."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf

from sim.schema.config import ConfigError
from sim.studies.calibrate import (
    CalibrateConfig,
    ParameterRange,
    calibrate,
    load_config,
    loss,
    main,
    pre_ban_targets,
    write_market_config,
)

TINY = ['model_overrides=["market.shoppers.n_agents=1500","market.msmes.n_agents=400",'
        '"burn_in_weeks=10"]']


def test_only_pre_ban_targets_are_fitted():
    names = {t.name for t in pre_ban_targets()}
    assert names == {"share_2022_Shopee", "share_2022_Tokopedia", "share_2022_Lazada",
                     "share_2022_Bukalapak", "share_2022_TikTok Shop", "share_2022_Blibli",
                     "gmv_2022_usd_bn", "share_2023Q3_TikTok Shop", "share_2021_TikTok Shop"}


def test_objective_is_zero_on_target_and_grows_with_the_error():
    targets = pre_ban_targets()
    exact = {t.name: t.value for t in targets}
    exact["share_2021_TikTok Shop"] = 0.005  # under the cap costs nothing
    assert loss(exact, targets) == 0.0
    off = dict(exact, **{"share_2022_Shopee": exact["share_2022_Shopee"] + 0.03})
    worse = dict(exact, **{"share_2022_Shopee": exact["share_2022_Shopee"] + 0.06})
    assert 0 < loss(off, targets) < loss(worse, targets)
    assert loss(dict(exact, **{"share_2021_TikTok Shop": 0.04}), targets) > 0


@pytest.mark.slow
def test_study_resumes_and_writes_a_selectable_market_config(tmp_path: Path):
    store, market = tmp_path / "cal", tmp_path / "calibrated.yaml"
    common = [f"storage_dir={store}", f"market_out={market}", "seeds=1", "workers=1", *TINY]
    first = calibrate(load_config([*common, "trials=1"]))
    study = optuna.load_study(study_name="default", storage=f"sqlite:///{store / 'default.db'}")
    first_trial = study.trials[0].params
    second = calibrate(load_config([*common, "trials=2"]))
    study = optuna.load_study(study_name="default", storage=f"sqlite:///{store / 'default.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 2 and study.trials[0].params == first_trial  # resumed, not restarted
    assert second["loss"] <= first["loss"]
    written = OmegaConf.load(market)
    assert list(written.defaults) == ["default", "_self_"]
    for key, value in second["params"].items():
        assert OmegaConf.select(written, key.removeprefix("market.")) == pytest.approx(value, abs=1e-6)
    assert (store / "default" / "report.md").is_file() and (store / "default" / "fit.png").is_file()


def test_market_config_writer_round_trips(tmp_path: Path):
    path = tmp_path / "m.yaml"
    write_market_config(path, {"market.shoppers.habit_weight": 2.5,
                               "market.platforms.shopee.brand_utility": 0.25}, "test")
    node = OmegaConf.load(path)
    assert node.shoppers.habit_weight == 2.5 and node.platforms.shopee.brand_utility == 0.25


def test_bad_calibration_input_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture):
    upside_down = CalibrateConfig(parameters={"market.shoppers.habit_weight":
                                              ParameterRange(low=5.0, high=1.0)},
                                  storage_dir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"parameters\.market\.shoppers\.habit_weight"):
        calibrate(upside_down)
    typo = CalibrateConfig(parameters={"market.shoppers.habit_wieght": ParameterRange()},
                           storage_dir=str(tmp_path))
    with pytest.raises(Exception, match="habit_wieght"):
        calibrate(typo)
    assert main(["trails=3"]) == 2
    assert "trails" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.db"))
