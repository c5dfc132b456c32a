"""Model moments comparable with the public targets, computed from the tidy table.

One place for "what does the model say about 2022 shares" so that the summary, the fit of the
defaults, the calibration test and the validation report all agree.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.schema.tables import (
    BAN_WEEKS,
    annual_gmv_share,
    annual_total_gmv_usd_bn,
    metric_frame,
    quarterly_gmv_share,
    window_sum,
)

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def calibration_targets() -> pd.DataFrame:
    """The public figures the defaults are fitted to (``sim/data/calibration_targets.csv``)."""
    return pd.read_csv(DATA_DIR / "calibration_targets.csv")


def fit_moments(table: pd.DataFrame, usd_idr: float) -> dict[str, float]:
    """The moments the defaults are fitted to: 2022 shares and total, TikTok Shop in 2023Q3 and 2021."""
    shares = annual_gmv_share(table)
    quarterly = quarterly_gmv_share(table)
    moments = {f"share_2022_{name}": float(shares.loc[2022, name]) for name in shares.columns}
    moments["gmv_2022_usd_bn"] = float(annual_total_gmv_usd_bn(table, usd_idr).loc[2022])
    if "TikTok Shop" in quarterly.columns:
        moments["share_2023Q3_TikTok Shop"] = float(quarterly.loc["2023Q3", "TikTok Shop"])
        moments["share_2021_TikTok Shop"] = float(shares.loc[2021, "TikTok Shop"])
    return moments


def history_moments(history: pd.DataFrame) -> dict[str, float]:
    """The record through 2023 that one ``history`` run gives without a counterfactual."""
    gmv = metric_frame(history, "gmv_idr")
    yearly = gmv.groupby(gmv.index.year).sum()
    msme = metric_frame(history, "msme_gmv_idr")
    msme_yearly = msme.groupby(msme.index.year).sum()
    return {
        "msme_share_2021_Shopee": float(msme_yearly.loc[2021, "Shopee"] / yearly.loc[2021, "Shopee"]),
        "gmv_growth_2023": float(yearly.loc[2023].sum() / yearly.loc[2022].sum() - 1.0),
        "tokopedia_growth_2023": float(yearly.loc[2023, "Tokopedia"] / yearly.loc[2022, "Tokopedia"] - 1.0),
    }


def record_moments(history: pd.DataFrame, no_policy: pd.DataFrame) -> dict[str, float]:
    """The public record through 2023 as model moments, from a `history` run and its same-seed
    `no_policy` run: 2022 shares, 2023 growth, the ban window, Tokopedia's 2023 fall, MSMEs online."""
    shares = annual_gmv_share(history)
    out = {f"share_2022_{name}": float(shares.loc[2022, name]) for name in shares.columns}
    out.update(history_moments(history))
    quarterly = quarterly_gmv_share(history)
    out["share_2023Q3_TikTok Shop"] = float(quarterly.loc["2023Q3", "TikTok Shop"])
    ban_h = window_sum(history, "gmv_idr", *BAN_WEEKS)
    ban_n = window_sum(no_policy, "gmv_idr", *BAN_WEEKS)
    out["ban_shopee_vs_no_policy"] = float(ban_h["Shopee"] / ban_n["Shopee"] - 1.0)
    out["ban_online_vs_no_policy"] = float(ban_h.sum() / ban_n.sum() - 1.0)
    online = metric_frame(history, "msmes_online")["all"]
    out["msmes_online_end_2023_m"] = float(online[online.index.year == 2023].iloc[-1] / 1e6)
    return out


def run_fit_moments(overrides: list[str]) -> dict[str, float]:
    """``fit_moments`` of one run of the config composed with ``overrides`` (a job of the fan-out
    of ``tools/fit_defaults.py``)."""
    from sim.core.model import EcommerceModel
    from sim.experiments.compose import compose_config

    cfg = compose_config(overrides)
    model = EcommerceModel(cfg)
    model.run()
    return fit_moments(model.recorder.table(), cfg.market.usd_idr)
