"""Opt-in agent-level history: chosen fields of every agent every K weeks, in preallocated arrays.

Off by default (``agent_history.every_weeks=0``); its size is checked against
``agent_history.max_mb`` before the run starts, so it never grows without bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sim.core.model import EcommerceModel

COLUMNS = ["scenario", "seed", "step", "date", "agent_type", "agent_index", "field", "value"]


def _msme_field(model: EcommerceModel, name: str) -> np.ndarray:
    ms = model.msmes
    if name == "revenue_idr":
        return ms.revenue_idr.sum(axis=1)
    if name == "storefronts":
        return ms.listed_share.sum(axis=1)
    return getattr(ms, name)


def _shopper_field(model: EcommerceModel, name: str) -> np.ndarray:
    if name == "apps":
        return model.shoppers.adopted.sum(axis=0)
    return getattr(model.shoppers, name)


class AgentHistory:
    def __init__(self, model: EcommerceModel) -> None:
        self.model = model
        cfg = model.cfg.agent_history
        self.every = cfg.every_weeks
        n_snapshots = -(-len(model.dates) // self.every)
        self.steps = np.full(n_snapshots, -1)
        self.msme = {f: np.zeros((n_snapshots, model.msmes.n), np.float32) for f in cfg.msme_fields}
        self.shopper = {f: np.zeros((n_snapshots, model.shoppers.n), np.float32) for f in cfg.shopper_fields}

    def record(self, week: int) -> None:
        if week % self.every:
            return
        k = week // self.every
        self.steps[k] = week
        for name, values in self.msme.items():
            values[k] = _msme_field(self.model, name)
        for name, values in self.shopper.items():
            values[k] = _shopper_field(self.model, name)

    def table(self) -> pd.DataFrame:
        """Long table of the recorded snapshots (MSME rows of exited firms' slots included,
        with ``active`` telling them apart when recorded)."""
        taken = self.steps >= 0
        steps = self.steps[taken]
        dates = pd.to_datetime(pd.Series([self.model.dates[s] for s in steps]))
        frames = []
        # Seller rows of large firms' agents say so: they are not MSMEs.
        seller_types = np.where(self.model.msmes.large, "LargeFirm", "MSME")
        shopper_types = np.full(self.model.shoppers.n, "Shopper")
        for types, store in ((seller_types, self.msme), (shopper_types, self.shopper)):
            for name, values in store.items():
                block = values[taken]
                n = block.shape[1]
                frames.append(
                    pd.DataFrame(
                        {
                            "step": np.repeat(steps, n),
                            "date": np.repeat(dates.to_numpy(), n),
                            "agent_type": np.tile(types, len(steps)),
                            "agent_index": np.tile(np.arange(n), len(steps)),
                            "field": name,
                            "value": block.reshape(-1),
                        }
                    )
                )
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS[2:])
        out.insert(0, "seed", self.model.cfg.seed)
        out.insert(0, "scenario", self.model.scenario_name)
        for col in ("scenario", "agent_type", "field"):
            out[col] = out[col].astype("category")
        return out[COLUMNS]
