"""The tidy table every run writes, and the reductions that every layer reads it by.

A run's table has one row per week, scenario, seed, metric and entity (``date``, ``scenario``,
``seed``, ``metric``, ``entity``, ``value``; a sweep adds ``run``, ``variant`` and ``ov.<key>``).
These helpers reduce it to annual and quarterly figures, pair a policy run with its same-seed
counterfactual, and say what a policy changed; the run summary, the aggregate of a sweep, the
figures and the studies all read the table through them, so they agree.
"""

from __future__ import annotations

import pandas as pd

# A sweep's comparison figures (sim.views.figures) draw these metrics only, and none past this many
# variants (a sampled design, every run its own variant, has no readable comparison figure). The
# aggregate reads both before it imports the plotting code.
SWEEP_FIGURE_METRICS = ("gmv_share", "msme_revenue_idr", "online_gmv_idr", "offline_sales_idr")
MAX_VARIANTS = 12


def metric_frame(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = table[table["metric"] == metric]
    return rows.pivot_table(index="date", columns="entity", values="value", aggfunc="sum", observed=True)


def annual_gmv_share(table: pd.DataFrame) -> pd.DataFrame:
    """Share of each storefront in the year's online GMV (rows: years, columns: storefronts)."""
    gmv = metric_frame(table, "gmv_idr")
    yearly = gmv.groupby(gmv.index.year).sum()
    return yearly.div(yearly.sum(axis=1), axis=0)


def annual_group_share(table: pd.DataFrame) -> pd.DataFrame:
    """Share of each operator group in the year's online GMV (rows: years, columns: groups), with
    each week's membership (a storefront counts in its new group from the deal's legal close)."""
    gmv = metric_frame(table, "group_gmv_idr")
    yearly = gmv.groupby(gmv.index.year).sum()
    return yearly.div(yearly.sum(axis=1), axis=0)


def annual_total_gmv_usd_bn(table: pd.DataFrame, usd_idr: float) -> pd.Series:
    """Online GMV per year in US$ billion (summed over the table's seeds and storefronts, at the
    exchange rate ``usd_idr`` IDR per US$)."""
    gmv = metric_frame(table, "gmv_idr")
    return gmv.groupby(gmv.index.year).sum().sum(axis=1) / usd_idr / 1e9


def quarterly_gmv_share(table: pd.DataFrame) -> pd.DataFrame:
    """Share of each storefront in the quarter's online GMV, indexed like ``2023Q3``."""
    gmv = metric_frame(table, "gmv_idr")
    quarterly = gmv.groupby(gmv.index.to_period("Q")).sum()
    share = quarterly.div(quarterly.sum(axis=1), axis=0)
    share.index = share.index.astype(str)
    return share


def annual_msme_revenue(table: pd.DataFrame) -> pd.DataFrame:
    """MSME revenue per year by origin and channel, IDR."""
    revenue = metric_frame(table, "msme_revenue_idr")
    return revenue.groupby(revenue.index.year).sum()


BAN_WEEKS = ("2023-10-09", "2023-12-10")  # first and last week start of the 2023 closure


def window_sum(table: pd.DataFrame, metric: str, start: str, end: str) -> pd.Series:
    frame = metric_frame(table, metric)
    return frame.loc[(frame.index >= start) & (frame.index <= end)].sum()


def annual_mean(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    frame = metric_frame(table, metric)
    return frame.groupby(frame.index.year).mean()


def diversion_ratios(
    policy: pd.DataFrame,
    counterfactual: pd.DataFrame,
    storefront: str = "TikTok Shop",
    window: tuple[str, str] = BAN_WEEKS,
) -> dict[str, float]:
    """Where each rupiah of ``storefront``'s lost sales went in ``window``: the change of every
    other channel's sales (storefronts and offline) per rupiah the storefront lost, policy run
    against its same-seed counterfactual; ``lost`` is what went nowhere. Empty when the storefront
    lost nothing."""
    gmv_p = window_sum(policy, "gmv_idr", *window)
    gmv_c = window_sum(counterfactual, "gmv_idr", *window)
    loss = float(gmv_c[storefront] - gmv_p[storefront])
    if loss <= 0:
        return {}
    out = {name: float(gmv_p[name] - gmv_c[name]) / loss for name in gmv_p.index if name != storefront}
    out["offline"] = (
        float(
            window_sum(policy, "offline_sales_idr", *window)["offline"]
            - window_sum(counterfactual, "offline_sales_idr", *window)["offline"]
        )
        / loss
    )
    out["lost"] = 1.0 - sum(out.values())
    return out


def paired_effects(policy: pd.DataFrame, counterfactual: pd.DataFrame) -> dict:
    """What a competition authority and a ministry read off a policy run and its counterfactual:
    diversion in the ban window, group concentration (HHI) by year and its change, and MSME
    revenue in real terms (2021 prices) by origin, with the % difference."""
    hhi_p = annual_mean(policy, "group_hhi")["market"]
    hhi_c = annual_mean(counterfactual, "group_hhi")["market"]
    real_p = metric_frame(policy, "msme_revenue_real_idr")
    real_c = metric_frame(counterfactual, "msme_revenue_real_idr")
    real_p, real_c = real_p.groupby(real_p.index.year).sum(), real_c.groupby(real_c.index.year).sum()
    return {
        "ban_window": list(BAN_WEEKS),
        "diversion_ratios_ban_window": {
            k: round(v, 4) for k, v in diversion_ratios(policy, counterfactual).items()
        },
        "group_hhi": {
            str(y): {
                "policy": round(float(hhi_p[y]), 4),
                "counterfactual": round(float(hhi_c[y]), 4),
                "change": round(float(hhi_p[y] - hhi_c[y]), 4),
            }
            for y in hhi_p.index
        },
        "msme_revenue_real_idr_2021_prices": {
            str(y): {
                origin: {
                    "policy": float(real_p.loc[y, origin]),
                    "counterfactual": float(real_c.loc[y, origin]),
                    "pct_difference": round(100 * float(real_p.loc[y, origin] / real_c.loc[y, origin] - 1), 3)
                    if real_c.loc[y, origin] > 0
                    else None,
                }
                for origin in real_p.columns
            }
            for y in real_p.index
        },
    }


def own_rows(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Each run's rows for its own scenario (not its counterfactual's)."""
    ok = runs[runs["status"] == "ok"]
    scenario_of_run = dict(zip(ok["run"].astype(str), ok["scenario"].astype(str), strict=True))
    # Mapping the categorical run column, not each row's string: cheap for large sweeps.
    expected = table["run"].astype("category").map(scenario_of_run).astype(object).to_numpy()
    return table[expected == table["scenario"].astype(object).to_numpy()]


def paired_counterfactual(table: pd.DataFrame, own: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per run, the counterfactual it is compared with, paired by seed (column ``pair_run``): its
    own counterfactual rows if it carried them, else the sweep's no_policy run with its seed."""
    pieces = []
    ok = runs[runs["status"] == "ok"]
    baseline = ok[ok["scenario"] == "no_policy"]
    by_run = {str(k): v for k, v in table.groupby("run", observed=True)}
    own_by_run = {str(k): v for k, v in own.groupby("run", observed=True)}
    for run in ok.itertuples():
        if run.scenario == "no_policy":
            continue
        cf = getattr(run, "counterfactual", None)
        if isinstance(cf, str) and cf and cf != run.scenario:
            rows = by_run.get(str(run.run))
            rows = None if rows is None else rows[rows["scenario"] == cf]
        else:
            match = baseline[baseline["seed"] == run.seed]
            rows = None if match.empty else own_by_run.get(str(match["run"].iloc[0]))
        if rows is not None and len(rows):
            pieces.append(rows.assign(pair_run=str(run.run), variant=run.variant))
    return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()
