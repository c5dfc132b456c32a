"""Model moments comparable with the public targets, computed from the tidy table.

One place for "what does the model say about 2022 shares" so that the summary, the fit of the
defaults, the calibration test and the validation report all agree.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"


def calibration_targets() -> pd.DataFrame:
    """The public figures the defaults are fitted to (``sim/data/calibration_targets.csv``)."""
    return pd.read_csv(DATA_DIR / "calibration_targets.csv")


def _metric(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = table[table["metric"] == metric]
    return rows.pivot_table(index="date", columns="entity", values="value", aggfunc="sum",
                            observed=True)


def annual_gmv_share(table: pd.DataFrame) -> pd.DataFrame:
    """Share of each storefront in the year's online GMV (rows: years, columns: storefronts)."""
    gmv = _metric(table, "gmv_idr")
    yearly = gmv.groupby(gmv.index.year).sum()
    return yearly.div(yearly.sum(axis=1), axis=0)


def annual_total_gmv_usd_bn(table: pd.DataFrame, usd_idr: float) -> pd.Series:
    gmv = _metric(table, "gmv_idr")
    return gmv.groupby(gmv.index.year).sum().sum(axis=1) / usd_idr / 1e9


def quarterly_gmv_share(table: pd.DataFrame) -> pd.DataFrame:
    """Share of each storefront in the quarter's online GMV, indexed like ``2023Q3``."""
    gmv = _metric(table, "gmv_idr")
    quarterly = gmv.groupby(gmv.index.to_period("Q")).sum()
    share = quarterly.div(quarterly.sum(axis=1), axis=0)
    share.index = share.index.astype(str)
    return share


def annual_msme_revenue(table: pd.DataFrame) -> pd.DataFrame:
    """MSME revenue per year by origin and channel, IDR."""
    revenue = _metric(table, "msme_revenue_idr")
    return revenue.groupby(revenue.index.year).sum()


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
