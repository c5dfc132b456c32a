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


def annual_group_share(table: pd.DataFrame) -> pd.DataFrame:
    """Share of each operator group in the year's online GMV (rows: years, columns: groups), with
    each week's membership (a storefront counts in its new group from the deal's legal close)."""
    gmv = _metric(table, "group_gmv_idr")
    yearly = gmv.groupby(gmv.index.year).sum()
    return yearly.div(yearly.sum(axis=1), axis=0)


def annual_total_gmv_usd_bn(table: pd.DataFrame, usd_idr: float) -> pd.Series:
    """Online GMV per year in US$ billion (summed over the table's seeds and storefronts, at the
    exchange rate ``usd_idr`` IDR per US$)."""
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


BAN_WEEKS = ("2023-10-09", "2023-12-10")  # first and last week start of the 2023 closure


def _window_sum(table: pd.DataFrame, metric: str, start: str, end: str) -> pd.Series:
    frame = _metric(table, metric)
    return frame.loc[(frame.index >= start) & (frame.index <= end)].sum()


def history_moments(history: pd.DataFrame) -> dict[str, float]:
    """The record through 2023 that one ``history`` run gives without a counterfactual."""
    gmv = _metric(history, "gmv_idr")
    yearly = gmv.groupby(gmv.index.year).sum()
    msme = _metric(history, "msme_gmv_idr")
    msme_yearly = msme.groupby(msme.index.year).sum()
    return {
        "msme_share_2021_Shopee": float(msme_yearly.loc[2021, "Shopee"] / yearly.loc[2021, "Shopee"]),
        "gmv_growth_2023": float(yearly.loc[2023].sum() / yearly.loc[2022].sum() - 1.0),
        "tokopedia_growth_2023": float(yearly.loc[2023, "Tokopedia"] / yearly.loc[2022, "Tokopedia"]
                                       - 1.0),
    }


def record_moments(history: pd.DataFrame, no_policy: pd.DataFrame) -> dict[str, float]:
    """The public record through 2023 as model moments, from a `history` run and its same-seed
    `no_policy` run: 2022 shares, 2023 growth, the ban window, Tokopedia's 2023 fall, MSMEs online."""
    shares = annual_gmv_share(history)
    out = {f"share_2022_{name}": float(shares.loc[2022, name]) for name in shares.columns}
    out.update(history_moments(history))
    quarterly = quarterly_gmv_share(history)
    out["share_2023Q3_TikTok Shop"] = float(quarterly.loc["2023Q3", "TikTok Shop"])
    ban_h = _window_sum(history, "gmv_idr", *BAN_WEEKS)
    ban_n = _window_sum(no_policy, "gmv_idr", *BAN_WEEKS)
    out["ban_shopee_vs_no_policy"] = float(ban_h["Shopee"] / ban_n["Shopee"] - 1.0)
    out["ban_online_vs_no_policy"] = float(ban_h.sum() / ban_n.sum() - 1.0)
    online = _metric(history, "msmes_online")["all"]
    out["msmes_online_end_2023_m"] = float(online[online.index.year == 2023].iloc[-1] / 1e6)
    return out


def annual_mean(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    frame = _metric(table, metric)
    return frame.groupby(frame.index.year).mean()


def diversion_ratios(policy: pd.DataFrame, counterfactual: pd.DataFrame,
                     storefront: str = "TikTok Shop", window: tuple[str, str] = BAN_WEEKS
                     ) -> dict[str, float]:
    """Where each rupiah of ``storefront``'s lost sales went in ``window``: the change of every
    other channel's sales (storefronts and offline) per rupiah the storefront lost, policy run
    against its same-seed counterfactual; ``lost`` is what went nowhere. Empty when the storefront
    lost nothing."""
    gmv_p = _window_sum(policy, "gmv_idr", *window)
    gmv_c = _window_sum(counterfactual, "gmv_idr", *window)
    loss = float(gmv_c[storefront] - gmv_p[storefront])
    if loss <= 0:
        return {}
    out = {name: float(gmv_p[name] - gmv_c[name]) / loss for name in gmv_p.index if name != storefront}
    out["offline"] = float(_window_sum(policy, "offline_sales_idr", *window)["offline"]
                           - _window_sum(counterfactual, "offline_sales_idr", *window)["offline"]) / loss
    out["lost"] = 1.0 - sum(out.values())
    return out


def paired_effects(policy: pd.DataFrame, counterfactual: pd.DataFrame) -> dict:
    """What a competition authority and a ministry read off a policy run and its counterfactual:
    diversion in the ban window, group concentration (HHI) by year and its change, and MSME
    revenue in real terms (2021 prices) by origin, with the % difference."""
    hhi_p = annual_mean(policy, "group_hhi")["market"]
    hhi_c = annual_mean(counterfactual, "group_hhi")["market"]
    real_p = _metric(policy, "msme_revenue_real_idr")
    real_c = _metric(counterfactual, "msme_revenue_real_idr")
    real_p, real_c = real_p.groupby(real_p.index.year).sum(), real_c.groupby(real_c.index.year).sum()
    return {
        "ban_window": list(BAN_WEEKS),
        "diversion_ratios_ban_window": {k: round(v, 4) for k, v in
                                        diversion_ratios(policy, counterfactual).items()},
        "group_hhi": {str(y): {"policy": round(float(hhi_p[y]), 4),
                               "counterfactual": round(float(hhi_c[y]), 4),
                               "change": round(float(hhi_p[y] - hhi_c[y]), 4)}
                      for y in hhi_p.index},
        "msme_revenue_real_idr_2021_prices": {
            str(y): {origin: {"policy": float(real_p.loc[y, origin]),
                              "counterfactual": float(real_c.loc[y, origin]),
                              "pct_difference": round(100 * float(real_p.loc[y, origin]
                                                                  / real_c.loc[y, origin] - 1), 3)
                              if real_c.loc[y, origin] > 0 else None}
                     for origin in real_p.columns}
            for y in real_p.index},
    }
