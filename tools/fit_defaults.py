"""Fit the default market's free constants to the pre-ban targets by fixed-point iteration.

    python tools/fit_defaults.py [--seeds 5] [--iterations 20] [--write]

Moments (sim.studies.moments.fit_moments), averaged over seeds, of the ``no_policy`` scenario run to
2023-09-25 (identical to ``history`` before the floor's first week, by common random numbers):
- each marketplace's 2022 GMV share -> its ``brand_utility`` (log-share contraction, as in BLP);
- TikTok Shop's 2022 share -> its ``adoption_innovation_per_week`` (how early diffusion starts);
  its brand_utility stays 0: its pull comes from discovery, variety and subsidy;
- the 2022 total online GMV (US$52 bn) -> ``shoppers.offline_utility``;
- TikTok Shop's 2023Q3 share (12.5%) -> ``shoppers.impulse_rate`` (discovery demand).
With ``--write`` the fitted values replace those in conf/market/default.yaml.
"""

from __future__ import annotations

import argparse
import math
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from sim.core.model import EcommerceModel
from sim.experiments.compose import compose_config
from sim.schema.config import Config
from sim.studies.moments import calibration_targets, fit_moments

ROOT = Path(__file__).resolve().parents[1]
FIT_END = "2023-09-25"


def targets() -> dict[str, float]:
    t = calibration_targets()
    shares = t[(t.metric == "gmv_share") & (t.period == "2022")]
    out = {f"share_2022_{r.platform}": r.value / 100 for r in shares.itertuples()}
    out["gmv_2022_usd_bn"] = float(t[(t.metric == "gmv_total") & (t.period == "2022")].value.iloc[0])
    out["share_2023Q3_TikTok Shop"] = float(
        t[(t.metric == "gmv_share") & (t.period == "2023Q3")].value.iloc[0]) / 100
    return out


def run_one(cfg: Config) -> dict[str, float]:
    model = EcommerceModel(cfg)
    model.run()
    return fit_moments(model.recorder.table(), cfg.market.usd_idr)


def evaluate(cfg: Config, seeds: int, pool: ProcessPoolExecutor) -> dict[str, float]:
    runs = list(pool.map(run_one, [replace(cfg, seed=s) for s in range(seeds)]))
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--step", type=float, default=0.4)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    cfg = compose_config(["scenario=no_policy", f"end_date={FIT_END}", "counterfactual=null"])
    goal = targets()
    platforms = cfg.market.platforms
    key_of = {p.name: k for k, p in platforms.items()}
    with ProcessPoolExecutor(max_workers=2) as pool:
        for it in range(args.iterations):
            m = evaluate(cfg, args.seeds, pool)
            errors = {k: m[k] - goal[k] for k in goal}
            worst = max(abs(v) for k, v in errors.items() if k.startswith("share"))
            total_err = errors["gmv_2022_usd_bn"] / goal["gmv_2022_usd_bn"]
            print(f"iter {it}: worst share error {worst * 100:.2f} pp, total {total_err:+.1%}, "
                  f"TikTok 2023Q3 {m['share_2023Q3_TikTok Shop']:.3f}, 2021 "
                  f"{m['share_2021_TikTok Shop']:.4f}", flush=True)
            if worst < 0.005 and abs(total_err) < 0.02:
                break
            for name, key in key_of.items():
                g, x = goal[f"share_2022_{name}"], max(m[f"share_2022_{name}"], 1e-6)
                if platforms[key].kind == "social":
                    p = platforms[key]
                    p.adoption_innovation_per_week = min(0.05, p.adoption_innovation_per_week
                                                         * (g / x) ** args.step)
                else:
                    platforms[key].brand_utility += args.step * math.log(g / x)
            cfg.market.shoppers.offline_utility += args.step * math.log(
                m["gmv_2022_usd_bn"] / goal["gmv_2022_usd_bn"])
            ratio = goal["share_2023Q3_TikTok Shop"] / max(m["share_2023Q3_TikTok Shop"], 1e-6)
            shoppers = cfg.market.shoppers
            shoppers.impulse_rate = min(1.0, shoppers.impulse_rate * ratio ** args.step)
    fitted = {key: round(p.brand_utility, 3) for key, p in platforms.items() if p.kind != "social"}
    print("brand_utility", fitted)
    print("offline_utility", round(cfg.market.shoppers.offline_utility, 3))
    print("impulse_rate", round(cfg.market.shoppers.impulse_rate, 4))
    innovation = round(platforms["tiktok_shop"].adoption_innovation_per_week, 5)
    print("tiktok adoption_innovation_per_week", innovation)
    if args.write:
        write_back(fitted, cfg)


def write_back(fitted: dict[str, float], cfg: Config) -> None:
    path = ROOT / "conf" / "market" / "default.yaml"
    text = path.read_text()
    for key, value in fitted.items():
        text = re.sub(rf"(\n  {key}:\n(?:    .*\n)*?    brand_utility: )[-0-9.e]+",
                      rf"\g<1>{value}", text)
    text = re.sub(r"(\n  offline_utility: )[-0-9.e]+",
                  rf"\g<1>{round(cfg.market.shoppers.offline_utility, 3)}", text)
    innovation = round(cfg.market.platforms["tiktok_shop"].adoption_innovation_per_week, 5)
    text = re.sub(r"(\n  tiktok_shop:\n(?:    .*\n)*?    adoption_innovation_per_week: )[-0-9.e]+",
                  rf"\g<1>{innovation}", text)
    text = re.sub(r"(\n  impulse_rate: )[-0-9.e]+",
                  rf"\g<1>{round(cfg.market.shoppers.impulse_rate, 4)}", text)
    path.write_text(text)
    print(f"wrote {path}")
    from tools.sync_param_docs import main as sync_docs

    sync_docs()  # the documented defaults follow the fitted values


if __name__ == "__main__":
    main()
