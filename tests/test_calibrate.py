"""The Optuna calibration: its objective, its resumption, the config it writes under results/ and
the explicit step that promotes it into conf/."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf

from sim.faces.commands import main
from sim.schema.config import ConfigError
from sim.schema.packaged import config_dir
from sim.studies.calibrate import (
    CalibrateConfig,
    ParameterRange,
    calibrate,
    load_config,
    loss,
    pre_ban_targets,
    promote,
    write_market_config,
)

TINY = ['model_overrides=["market.shoppers.n_agents=1500","market.msmes.n_agents=400","burn_in_weeks=10"]']


def test_only_pre_ban_targets_are_fitted():
    names = {t.name for t in pre_ban_targets()}
    assert names == {
        "share_2022_Shopee",
        "share_2022_Tokopedia",
        "share_2022_Lazada",
        "share_2022_Bukalapak",
        "share_2022_TikTok Shop",
        "share_2022_Blibli",
        "gmv_2022_usd_bn",
        "share_2023Q3_TikTok Shop",
        "share_2021_TikTok Shop",
    }


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
    store = tmp_path / "cal"
    common = [f"out={store}", "seeds=1", "workers=1", "launcher=serial", *TINY]
    first = calibrate(load_config([*common, "trials=1"]))
    study = optuna.load_study(study_name="default", storage=f"sqlite:///{store / 'default.db'}")
    first_trial = study.trials[0].params
    second = calibrate(load_config([*common, "trials=2"]))
    study = optuna.load_study(study_name="default", storage=f"sqlite:///{store / 'default.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 2 and study.trials[0].params == first_trial  # resumed, not restarted
    assert second["loss"] <= first["loss"]
    # The result goes under the study's output folder, never into the package's conf/.
    market = store / "default" / "calibrated.yaml"
    assert second["market_config"] == str(market)
    assert not (config_dir() / "market" / "calibrated.yaml").exists()
    written = OmegaConf.load(market)
    assert list(written.defaults) == ["default", "_self_"]
    for key, value in second["params"].items():
        assert OmegaConf.select(written, key.removeprefix("market.")) == pytest.approx(value, abs=1e-6)
    assert (store / "default" / "report.md").is_file() and (store / "default" / "fit.png").is_file()
    assert "sim calibrate promote=" in (store / "default" / "report.md").read_text()


def test_market_config_writer_round_trips(tmp_path: Path):
    path = tmp_path / "m.yaml"
    write_market_config(
        path, {"market.shoppers.habit_weight": 2.5, "market.platforms.shopee.brand_utility": 0.25}, "test"
    )
    node = OmegaConf.load(path)
    assert node.shoppers.habit_weight == 2.5 and node.platforms.shopee.brand_utility == 0.25
    assert path.read_text().startswith("# Written by sim calibrate: test.")


@pytest.mark.slow  # a copy of conf/ and three compositions
def test_promote_is_an_explicit_step_that_checks_the_config(tmp_path: Path, monkeypatch):
    # Into a copy of conf/, so that the checkout (and the code digest of finished runs) is untouched.
    import shutil

    import sim.experiments.compose
    import sim.schema.packaged
    from sim.experiments.compose import compose_config

    conf = tmp_path / "conf"
    shutil.copytree(config_dir(), conf)
    for module in (sim.schema.packaged, sim.experiments.compose):
        monkeypatch.setattr(module, "config_dir", lambda: conf)
    good = tmp_path / "calibrated.yaml"
    write_market_config(good, {"market.shoppers.habit_weight": 2.5}, "test")
    assert promote(good) == conf / "market" / "calibrated.yaml"
    assert compose_config(["market=calibrated"]).market.shoppers.habit_weight == 2.5
    # A file that does not compose is refused and leaves what was there.
    bad = tmp_path / "bad" / "calibrated.yaml"
    write_market_config(bad, {"market.shoppers.habit_wieght": 2.5}, "test")
    with pytest.raises(ConfigError, match=r"promote: .*habit_wieght"):
        promote(bad)
    assert OmegaConf.load(conf / "market" / "calibrated.yaml").shoppers.habit_weight == 2.5
    default = tmp_path / "default.yaml"
    default.write_text("shoppers: {habit_weight: 1.0}\n")
    with pytest.raises(ConfigError, match=r"would replace conf/market/default\.yaml"):
        promote(default)


def test_bad_calibration_input_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture):
    upside_down = CalibrateConfig(
        parameters={"market.shoppers.habit_weight": ParameterRange(low=5.0, high=1.0)}, out=str(tmp_path)
    )
    with pytest.raises(ConfigError, match=r"parameters\.market\.shoppers\.habit_weight"):
        calibrate(upside_down)
    typo = CalibrateConfig(parameters={"market.shoppers.habit_wieght": ParameterRange()}, out=str(tmp_path))
    with pytest.raises(Exception, match="habit_wieght"):
        calibrate(typo)
    assert main(["calibrate", "trails=3"]) == 2
    assert "trails" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.db"))
