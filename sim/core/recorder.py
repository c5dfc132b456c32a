"""Per-week aggregate metrics, kept in preallocated arrays and returned as one tidy long table.

Schema of the table (one row per week, metric and entity):
``scenario, seed, step, date, metric, entity, value``. Nothing here grows with agents x weeks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.core.population import CROSS_BORDER, ORIGINS, online_share

if TYPE_CHECKING:
    from sim.core.model import EcommerceModel

COLUMNS = ["scenario", "seed", "step", "date", "metric", "entity", "value"]


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: list[float]) -> np.ndarray:
    """Quantiles of a distribution where each value stands for ``weight`` units (firms)."""
    if values.size == 0 or weights.sum() <= 0:
        return np.zeros(len(qs))
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    positions = np.searchsorted(cum, np.asarray(qs) * cum[-1], side="left")
    return values[order][np.minimum(positions, values.size - 1)]


# PP 7/2021 size classes by annual sales (IDR): micro <= 2 bn, small <= 15 bn, medium <= 50 bn.
SIZE_CLASSES = ("micro", "small", "medium", "large")
SIZE_BOUNDS_IDR_PER_YEAR = np.array([2e9, 15e9, 50e9])


def size_class(annual_sales_idr: np.ndarray) -> np.ndarray:
    """Index into SIZE_CLASSES of each firm's annual sales (2021 prices)."""
    return np.searchsorted(SIZE_BOUNDS_IDR_PER_YEAR, annual_sales_idr, side="left")


def hhi(shares: np.ndarray) -> float:
    """Herfindahl-Hirschman index on shares in [0, 1] (1 = monopoly)."""
    return float((shares**2).sum())


class Recorder:
    """Collects the weekly outputs (docs/ODD.md, section 4, Observation) after each week clears;
    ``table()`` gives the long format."""

    def __init__(self, model: EcommerceModel) -> None:
        self.model = model
        names = model.platform_names
        self.groups = list(model.policy.operators)
        self.entities: dict[str, list[str]] = {
            "gmv_idr": names,
            "gmv_share": names,
            "buyers": names,
            "sellers": names,
            "adopters": names,
            "subsidy_idr": names,
            "commission_idr": names,
            "subsidy_rate": names,
            "commission_rate": names,
            "price_paid_index": [*names, "offline"],
            "group_gmv_idr": self.groups,
            "group_gmv_share": self.groups,
            "online_gmv_idr": ["all"],
            "offline_sales_idr": ["offline"],
            "msme_revenue_idr": ["all", *ORIGINS, "online", "offline"],
            "msme_revenue_per_firm_idr": ["p10", "median", "p90"],
            "msme_active": ["all", *ORIGINS],
            "msmes_online": ["all"],
            "msme_exited": ["all"],
            "discovery_lost_idr": ["all"],
            "unmet_demand_idr": ["all"],
            "hhi": ["market"],
            "group_hhi": ["market"],
            "discovery_strength": names,
            "impulse_idr": ["all"],
            "displaced_idr": ["all"],
            "msme_revenue_real_idr": ["all", *ORIGINS],
            "msme_net_income_idr": ["all", *ORIGINS],
            "msmes_online_by_origin": list(ORIGINS),
            "msme_firms_by_size": list(SIZE_CLASSES),
            "msme_revenue_by_size_idr": list(SIZE_CLASSES),
            "cpi_index": ["all"],
            "msme_gmv_idr": names,
            "large_firm_gmv_idr": names,
            "virtual_goods_idr": names,
            "large_firm_revenue_idr": ["all", "online"],
        }
        n_weeks = len(model.dates)
        self.values = {k: np.zeros((n_weeks, len(v))) for k, v in self.entities.items()}
        self.exited_total = 0.0

    def record(self, week: int) -> None:
        m, v = self.model, self.values
        ms, cl, sw, ledger = m.msmes, m.clearing, m.shopper_week, m.ledger
        n_platforms = len(m.platform_names)
        gmv = cl.gmv_idr[:n_platforms]
        online = gmv.sum()
        share = gmv / online if online > 0 else np.zeros(n_platforms)
        v["gmv_idr"][week] = gmv
        v["gmv_share"][week] = share
        group_idx = m.policy.operator[week]
        v["group_gmv_idr"][week] = np.bincount(group_idx, weights=gmv, minlength=len(self.groups))
        group_share = np.bincount(group_idx, weights=share, minlength=len(self.groups))
        v["group_gmv_share"][week] = group_share
        v["group_hhi"][week] = hhi(group_share)
        v["discovery_strength"][week] = m.discovery[:n_platforms]
        v["impulse_idr"][week] = sw.impulse_idr.sum()
        v["displaced_idr"][week] = sw.displaced_idr
        v["cpi_index"][week] = m.cpi_index[week]
        v["buyers"][week] = sw.buyers[:n_platforms]
        # Firms that can sell there this week: a closed checkout has no sellers, whatever their
        # dormant listings.
        v["sellers"][week] = (m.eligible[:, :n_platforms] * ms.weight[:, None]).sum(0) * (
            m.transact_share > 0
        )
        # Row by row: numpy counts a long bool row several times faster than it sums across rows.
        users = [np.count_nonzero(app) for app in m.shoppers.adopted]
        v["adopters"][week] = np.array(users) * m.shoppers.weight
        v["subsidy_idr"][week] = ledger.subsidy[:n_platforms]
        v["commission_idr"][week] = ledger.commission[:n_platforms]
        v["subsidy_rate"][week] = m.subsidy
        v["commission_rate"][week] = m.commission
        subsidy = np.concatenate([m.subsidy, [0.0]])
        v["price_paid_index"][week] = m.price_index * (1.0 - subsidy)
        v["online_gmv_idr"][week] = online
        v["offline_sales_idr"][week] = cl.gmv_idr[n_platforms]

        # MSME outputs leave out the agents of large firms and the storefronts' virtual goods.
        msme = ~ms.large
        sold = cl.sold_idr
        by_agent = sold.sum(axis=1)
        msme_sold = sold * msme[:, None]
        v["msme_gmv_idr"][week] = msme_sold[:, :n_platforms].sum(axis=0)
        v["large_firm_gmv_idr"][week] = sold[ms.large, :n_platforms].sum(axis=0)
        v["virtual_goods_idr"][week] = cl.virtual_idr[:n_platforms]
        v["large_firm_revenue_idr"][week] = [by_agent[ms.large].sum(), sold[ms.large, :n_platforms].sum()]
        by_origin = np.bincount(ms.origin, weights=by_agent * msme, minlength=3)
        v["msme_revenue_idr"][week] = [
            by_origin.sum(),
            *by_origin,
            msme_sold[:, :n_platforms].sum(),
            msme_sold[:, n_platforms].sum(),
        ]
        domestic = ms.active & (ms.origin != CROSS_BORDER)
        domestic_msme = domestic & msme
        v["msme_revenue_per_firm_idr"][week] = weighted_quantiles(
            by_agent[domestic_msme] / ms.weight[domestic_msme], ms.weight[domestic_msme], [0.1, 0.5, 0.9]
        )
        active_by_origin = np.bincount(ms.origin, weights=ms.weight * ms.active * msme, minlength=3)
        v["msme_active"][week] = [active_by_origin.sum(), *active_by_origin]
        online_firms = ms.weight * ms.active * msme * online_share(ms.listed_share)
        v["msmes_online"][week] = online_firms.sum()
        v["msmes_online_by_origin"][week] = np.bincount(ms.origin, weights=online_firms, minlength=3)
        real = by_origin / m.cpi_index[week]
        v["msme_revenue_real_idr"][week] = [real.sum(), *real]
        income = np.bincount(ms.origin, weights=m.weekly_profit * ms.active * msme, minlength=3)
        v["msme_net_income_idr"][week] = [income.sum(), *income]
        # Size classes by each agent's firms' annual sales (2021 prices): the large firms' agents
        # fill the "large" class, so this counts every domestic firm by PP 7/2021.
        size = size_class(52.0 * by_agent / ms.weight / m.cpi_index[week])
        v["msme_firms_by_size"][week] = np.bincount(
            size, weights=ms.weight * domestic, minlength=len(SIZE_CLASSES)
        )
        v["msme_revenue_by_size_idr"][week] = np.bincount(
            size, weights=by_agent * domestic, minlength=len(SIZE_CLASSES)
        )
        self.exited_total += m.exited_firms_this_week
        v["msme_exited"][week] = self.exited_total
        v["discovery_lost_idr"][week] = sw.lost_discovery_idr
        v["unmet_demand_idr"][week] = cl.unmet_idr
        v["hhi"][week] = hhi(share)

    def table(self) -> pd.DataFrame:
        """The tidy long table of every recorded week (weeks not yet simulated are left out)."""
        m = self.model
        n = m.steps
        dates = pd.to_datetime(pd.Series(m.dates[:n]))
        frames = []
        for metric, entities in self.entities.items():
            values = self.values[metric][:n]
            frames.append(
                pd.DataFrame(
                    {
                        "step": np.repeat(np.arange(n), len(entities)),
                        "date": np.repeat(dates.to_numpy(), len(entities)),
                        "metric": metric,
                        "entity": np.tile(entities, n),
                        "value": values.reshape(-1),
                    }
                )
            )
        out = pd.concat(frames, ignore_index=True)
        out.insert(0, "seed", m.cfg.seed)
        out.insert(0, "scenario", m.scenario_name)
        for col in ("scenario", "metric", "entity"):
            out[col] = out[col].astype("category")
        return out[COLUMNS]
