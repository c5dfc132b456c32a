"""The dashboard's model: a chosen policy scenario and its same-seed counterfactual, stepped together.

``PolicyVsCounterfactual`` is a Mesa model whose step steps two ``EcommerceModel`` instances built
from the same seed and market (common random numbers): one with the levers the user set, one under
``no_policy``. Its ``datacollector`` reports, every week, both storefront shares, both group shares
under the policy run's group membership (so the two group lines differ by the policy, not by the
merger's bookkeeping), and MSME revenue by origin and channel in both runs. It takes keyword
arguments only, none named ``scenario`` and no ``**kwargs`` (SolaraViz's Reset rebuilds it with
``type(model)(**params)``). A lever value the config rejects (a malformed date, a date outside the
horizon) does not raise: the model keeps the message in ``error`` and does not run, so the page
can show it.
"""

from __future__ import annotations

import datetime as dt
import threading
from functools import partial
from typing import Any

import mesa
import numpy as np

from sim.core.model import EcommerceModel
from sim.core.policies import policy_events
from sim.schema.config import ConfigError
from sim.schema.packaged import default_config

# The dashboard's default scale: a whole 2021-2025 play stays quick on a laptop.
DEFAULT_SHOPPERS = 4000
DEFAULT_MSMES = 1000
# The link lever starts at the estimated behaviour (conf/market/default.yaml).
DEFAULT_LINK_FOLLOW = default_config().market.shoppers.link_follow_share
ORIGINS = ("local", "import_reseller", "cross_border", "online", "offline")


def _share(model: PolicyVsCounterfactual, run: str, j: int) -> float:
    return float(model.runs[run].recorder.values["gmv_share"][model.week, j])


def _group_share(model: PolicyVsCounterfactual, run: str, g: int) -> float:
    """Group g's share in ``run`` with the policy run's membership of the week."""
    membership = model.policy_model.policy.operator[model.week]
    shares = model.runs[run].recorder.values["gmv_share"][model.week]
    return float(shares[membership == g].sum())


def _revenue(model: PolicyVsCounterfactual, run: str, column: int) -> float:
    return float(model.runs[run].recorder.values["msme_revenue_idr"][model.week, column])


def _date(model: PolicyVsCounterfactual) -> str:
    return model.policy_model.dates[model.week].isoformat()


class PolicyVsCounterfactual(mesa.Model):
    """The levers' scenario (``policy_model``) and ``no_policy`` (``counterfactual``) on one seed."""

    def __init__(
        self,
        *,
        rng: int = 0,
        ban: bool = True,
        ban_date: str = "2023-10-04",
        ban_compliance: float = 1.0,
        link_follow_share: float = DEFAULT_LINK_FOLLOW,
        floor: bool = True,
        floor_usd: float = 100.0,
        pilot: bool = True,
        local_priority: float = 0.3,
        trial_weeks: int = 16,
        migration_date: str = "2024-03-12",
        kppu_conditions: bool = False,
        kppu_date: str = "2025-06-17",
        tiktok_commission_scale: float = 1.0,
        n_shoppers: int = DEFAULT_SHOPPERS,
        n_msmes: int = DEFAULT_MSMES,
    ) -> None:
        super().__init__(rng=rng)
        self.error: str | None = None
        self.lock = threading.Lock()
        common: dict[str, Any] = {
            "rng": rng,
            "tiktok_commission_scale": tiktok_commission_scale,
            "n_shoppers": n_shoppers,
            "n_msmes": n_msmes,
        }
        try:
            self.policy_model = EcommerceModel(
                policy="history",
                ban=ban,
                ban_date=ban_date,
                ban_compliance=ban_compliance,
                link_follow_share=link_follow_share,
                floor=floor,
                floor_usd=floor_usd,
                pilot=pilot,
                local_priority=local_priority,
                trial_weeks=trial_weeks,
                migration_date=migration_date,
                kppu_conditions=kppu_conditions,
                kppu_date=kppu_date,
                **common,
            )
            self.counterfactual = EcommerceModel(policy="no_policy", **common)
        except ConfigError as err:
            self.error = str(err)
            self.running = False
            self.runs: dict[str, EcommerceModel] = {}
            self.datacollector = mesa.DataCollector(model_reporters={})
            return
        self.runs = {"policy": self.policy_model, "counterfactual": self.counterfactual}
        self.platform_names = self.policy_model.platform_names
        self.groups = self.policy_model.policy.operators
        self.events = policy_events(self.policy_model.cfg.scenario)
        self.dates: list[dt.date] = self.policy_model.dates
        self.week = -1
        reporters: dict[str, object] = {"date": _date}
        origin_columns = self.policy_model.recorder.entities["msme_revenue_idr"]
        for run in self.runs:
            for j, name in enumerate(self.platform_names):
                reporters[f"{run}:gmv_share[{name}]"] = partial(_share, run=run, j=j)
            for g, group in enumerate(self.groups):
                reporters[f"{run}:group_gmv_share[{group}]"] = partial(_group_share, run=run, g=g)
            for origin in ORIGINS:
                reporters[f"{run}:msme_revenue_idr[{origin}]"] = partial(
                    _revenue, run=run, column=origin_columns.index(origin)
                )
        self.datacollector = mesa.DataCollector(model_reporters=reporters)

    def step(self) -> None:
        # SolaraViz steps a whole render interval at a time and may call past the last week.
        if not self.running:
            return
        with self.lock:  # the page may read the collector from another thread while playing
            self.policy_model.step()
            self.counterfactual.step()
            self.week = self.policy_model.steps - 1
            self.datacollector.collect(self)
            self.running = self.policy_model.running and self.counterfactual.running

    @property
    def current_date(self) -> dt.date | None:
        return self.dates[self.week] if self.runs and self.week >= 0 else None

    def policy_state(self) -> list[str]:
        """What the chosen policy's rules are in the week shown, in words (for the page)."""
        if not self.runs or self.week < 0:
            return []
        model, w = self.policy_model, self.week
        path = model.policy
        social = np.flatnonzero(model.is_social)
        open_share = float(path.transact_share[w][social].max()) if social.size else 1.0
        floor = float(path.floor_usd[w])
        return [
            "ban in force" if path.banned[w].any() else "no ban",
            f"TikTok Shop checkout open to {open_share:.0%} of its users",
            f"cross-border floor US${floor:g}" if floor > 0 else "no cross-border floor",
            f"local priority {float(path.local_boost[w].max()):g}",
        ]
