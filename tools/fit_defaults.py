"""Fit the default market's free constants to the pre-ban targets by fixed-point iteration.

    python tools/fit_defaults.py [seeds=5] [iterations=20] [step=0.4] [write=false]
                                 [launcher=parallel] [workers=2]      (--help: every key)

Moments (sim.studies.moments.fit_moments), averaged over seeds, of the ``no_policy`` scenario run to
2023-09-25 (identical to ``history`` before the floor's first week, by common random numbers):
- each marketplace's 2022 GMV share -> its ``brand_utility`` (log-share contraction, as in BLP);
- TikTok Shop's 2022 share -> its ``adoption_innovation_per_week`` (how early diffusion starts);
  its brand_utility stays 0: its pull comes from discovery, variety and subsidy;
- the 2022 total online GMV (US$52 bn) -> ``shoppers.offline_utility``;
- TikTok Shop's 2023Q3 share (12.5%) -> ``shoppers.impulse_rate`` (discovery demand).
With ``write=true`` the fitted values replace those in conf/market/default.yaml.

Each iteration's seeds are one fan-out through Hydra's launchers (``sim.experiments.fanout``,
the ``launcher`` key: serial, parallel, slurm, cluster_local) into ``runs_dir/iter_NN``; the
iteration itself depends on the one before, so it stays here. A rerun skips the finished runs.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.experiments.compose import compose_config
from sim.experiments.fanout import Launch, check_launch, fan_out, helps
from sim.faces.commands import Verb, execute
from sim.schema.config import Config, ConfigError
from sim.studies.moments import calibration_targets

ROOT = Path(__file__).resolve().parents[1]
FIT_END = "2023-09-25"
BASE = ["scenario=no_policy", f"end_date={FIT_END}", "counterfactual=null"]


@dataclass
class FitDefaultsConfig(Launch):
    """The tool's keys (``Launch`` adds the launcher's)."""

    seeds: int = field(default=5, metadata=helps("seeds averaged per iteration"))
    iterations: int = field(default=20, metadata=helps("fixed-point iterations at most"))
    step: float = field(default=0.4, metadata=helps("damping: the share of the log error corrected"))
    write: bool = field(
        default=False,
        metadata=helps("write the fitted values into conf/market/default.yaml (and the parameter docs)"),
    )
    runs_dir: str = field(
        default="results/fit_defaults/runs",
        metadata=helps("the iterations' job directories (kept: a rerun skips the finished ones)"),
    )


def targets() -> dict[str, float]:
    t = calibration_targets()
    shares = t[(t.metric == "gmv_share") & (t.period == "2022")]
    out = {f"share_2022_{r.platform}": r.value / 100 for r in shares.itertuples()}
    out["gmv_2022_usd_bn"] = float(t[(t.metric == "gmv_total") & (t.period == "2022")].value.iloc[0])
    out["share_2023Q3_TikTok Shop"] = (
        float(t[(t.metric == "gmv_share") & (t.period == "2023Q3")].value.iloc[0]) / 100
    )
    return out


def fitted_overrides(cfg: Config) -> list[str]:
    """The values being fitted, as overrides that give them exactly (``repr`` round-trips)."""
    out = []
    for key, p in cfg.market.platforms.items():
        out.append(f"market.platforms.{key}.brand_utility={p.brand_utility!r}")
        out.append(f"market.platforms.{key}.adoption_innovation_per_week={p.adoption_innovation_per_week!r}")
    shoppers = cfg.market.shoppers
    return [
        *out,
        f"market.shoppers.offline_utility={shoppers.offline_utility!r}",
        f"market.shoppers.impulse_rate={shoppers.impulse_rate!r}",
    ]


def evaluate(cfg: Config, seeds: int, fc: FitDefaultsConfig, iteration: int) -> dict[str, float]:
    jobs = [{"overrides": [*BASE, f"seed={s}", *fitted_overrides(cfg)]} for s in range(seeds)]
    runs = fan_out(
        "sim.studies.moments.run_fit_moments",
        jobs,
        Path(fc.runs_dir) / f"iter_{iteration:02d}",
        fc,
        label="fit_defaults",
    )
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def fit(fc: FitDefaultsConfig) -> int:
    """Fit, print the fitted values, and write them back if ``write=true``."""
    for name in ("seeds", "iterations"):
        if getattr(fc, name) < 1:
            raise ConfigError(name, f"must be >= 1, got {getattr(fc, name)}")
    if not 0 < fc.step <= 1:
        raise ConfigError("step", f"must be in (0, 1], got {fc.step}")
    check_launch(fc)
    cfg = compose_config(BASE)
    goal = targets()
    platforms = cfg.market.platforms
    key_of = {p.name: k for k, p in platforms.items()}
    for it in range(fc.iterations):
        m = evaluate(cfg, fc.seeds, fc, it)
        errors = {k: m[k] - goal[k] for k in goal}
        worst = max(abs(v) for k, v in errors.items() if k.startswith("share"))
        total_err = errors["gmv_2022_usd_bn"] / goal["gmv_2022_usd_bn"]
        print(
            f"iter {it}: worst share error {worst * 100:.2f} pp, total {total_err:+.1%}, "
            f"TikTok 2023Q3 {m['share_2023Q3_TikTok Shop']:.3f}, 2021 "
            f"{m['share_2021_TikTok Shop']:.4f}",
            flush=True,
        )
        if worst < 0.005 and abs(total_err) < 0.02:
            break
        for name, key in key_of.items():
            g, x = goal[f"share_2022_{name}"], max(m[f"share_2022_{name}"], 1e-6)
            if platforms[key].kind == "social":
                p = platforms[key]
                p.adoption_innovation_per_week = min(
                    0.05, p.adoption_innovation_per_week * (g / x) ** fc.step
                )
            else:
                platforms[key].brand_utility += fc.step * math.log(g / x)
        cfg.market.shoppers.offline_utility += fc.step * math.log(
            m["gmv_2022_usd_bn"] / goal["gmv_2022_usd_bn"]
        )
        ratio = goal["share_2023Q3_TikTok Shop"] / max(m["share_2023Q3_TikTok Shop"], 1e-6)
        shoppers = cfg.market.shoppers
        shoppers.impulse_rate = min(1.0, shoppers.impulse_rate * ratio**fc.step)
    fitted = {key: round(p.brand_utility, 3) for key, p in platforms.items() if p.kind != "social"}
    print("brand_utility", fitted)
    print("offline_utility", round(cfg.market.shoppers.offline_utility, 3))
    print("impulse_rate", round(cfg.market.shoppers.impulse_rate, 4))
    innovation = round(platforms["tiktok_shop"].adoption_innovation_per_week, 5)
    print("tiktok adoption_innovation_per_week", innovation)
    if fc.write:
        write_back(fitted, cfg)
    return 0


def write_back(fitted: dict[str, float], cfg: Config) -> None:
    path = ROOT / "conf" / "market" / "default.yaml"
    text = path.read_text()
    for key, value in fitted.items():
        text = re.sub(rf"(\n  {key}:\n(?:    .*\n)*?    brand_utility: )[-0-9.e]+", rf"\g<1>{value}", text)
    text = re.sub(
        r"(\n  offline_utility: )[-0-9.e]+", rf"\g<1>{round(cfg.market.shoppers.offline_utility, 3)}", text
    )
    innovation = round(cfg.market.platforms["tiktok_shop"].adoption_innovation_per_week, 5)
    text = re.sub(
        r"(\n  tiktok_shop:\n(?:    .*\n)*?    adoption_innovation_per_week: )[-0-9.e]+",
        rf"\g<1>{innovation}",
        text,
    )
    text = re.sub(
        r"(\n  impulse_rate: )[-0-9.e]+", rf"\g<1>{round(cfg.market.shoppers.impulse_rate, 4)}", text
    )
    path.write_text(text)
    print(f"wrote {path}")
    from tools.sync_param_docs import main as sync_docs

    sync_docs()  # the documented defaults follow the fitted values


VERB = Verb(
    "fit_defaults",
    "fit the default market's constants to the pre-ban targets",
    "Fits the storefronts' brand constants, TikTok Shop's Bass innovation, the offline constant "
    "and the impulse rate to the 2022 shares and total and TikTok Shop's 2023Q3 share by damped "
    "fixed-point iteration on no_policy runs to 2023-09-25, averaged over seeds. Each "
    "iteration's seeds are a fan-out through Hydra's launchers into runs_dir. Prints the fitted "
    "values; write=true writes them into conf/market/default.yaml.",
    (
        "python tools/fit_defaults.py seeds=5 iterations=20",
        "python tools/fit_defaults.py seeds=5 write=true launcher=serial",
    ),
    FitDefaultsConfig,
    fit,
    prog="python tools/fit_defaults.py",
)


def main(argv: list[str] | None = None) -> int:
    """``python tools/fit_defaults.py [key=value ...]``: the keys as for a ``sim`` verb."""
    return execute(VERB, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # the tools package (tools.sync_param_docs), from a checkout
    sys.exit(main())
