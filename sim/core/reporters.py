"""``model.datacollector``: Mesa's DataCollector over the arrays the model already keeps.

Every reporter reads one number of the week just recorded by ``sim.core.recorder.Recorder`` or of the
precomputed policy path (``sim.core.policies.PolicyPath``): no loop over agents, no new accounting.
Reporter names follow the tidy table, ``metric[entity]`` (``gmv_share[Shopee]``,
``group_gmv_share[Tokopedia group]``, ``msme_revenue_idr[local]``), plus ``date`` and the policy
state of the week (``ban_in_force``, ``transact_share[TikTok Shop]``, ``floor_usd``,
``local_boost``, ``commission[TikTok Shop]``). The model collects once per weekly step, so row
``k`` of ``get_model_vars_dataframe()`` is week ``k`` (the tidy table's ``step``).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from sim.core.model import EcommerceModel

# The recorder's metrics that the collector reports, entity by entity.
COLLECTED_METRICS = (
    "gmv_share",
    "group_gmv_share",
    "msme_revenue_idr",
    "online_gmv_idr",
    "offline_sales_idr",
    "hhi",
)


def recorded_value(metric: str, column: int, model: EcommerceModel) -> float:
    """One recorded value of the week the model just stepped."""
    return float(model.recorder.values[metric][model.steps - 1, column])


def policy_value(field: str, column: int | None, model: EcommerceModel) -> float:
    """A storefront's (or, for a per-week field, the week's) entry of the policy path."""
    row = getattr(model.policy, field)[model.steps - 1]
    return float(row if column is None else row[column])


def week_date(model: EcommerceModel) -> str:
    return model.dates[model.steps - 1].isoformat()


def ban_in_force(model: EcommerceModel) -> bool:
    return bool(model.policy.banned[model.steps - 1].any())


def local_boost(model: EcommerceModel) -> float:
    return float(model.policy.local_boost[model.steps - 1].max())


def model_reporters(model: EcommerceModel) -> dict[str, object]:
    reporters: dict[str, object] = {"date": week_date}
    entities = model.recorder.entities
    for metric in COLLECTED_METRICS:
        for column, entity in enumerate(entities[metric]):
            reporters[f"{metric}[{entity}]"] = partial(recorded_value, metric, column)
    reporters["ban_in_force"] = ban_in_force
    for j, name in enumerate(model.platform_names):
        if model.is_social[j]:
            reporters[f"transact_share[{name}]"] = partial(policy_value, "transact_share", j)
            reporters[f"commission[{name}]"] = partial(policy_value, "commission", j)
    reporters["floor_usd"] = partial(policy_value, "floor_usd", None)
    reporters["local_boost"] = local_boost
    return reporters


def make_datacollector(model: EcommerceModel) -> mesa.DataCollector:
    return mesa.DataCollector(model_reporters=model_reporters(model))
