"""A fixed-seed regression test: the main outputs of one small ``history`` run, pinned.

The mechanism tests check rules and sizes; this one notices any change in what the model computes,
intended or not. When a change is intended, refresh the fixture with one command and review the
diff of ``tests/regression/history_small.json`` before committing it:

    SIM_UPDATE_REGRESSION=1 .venv/bin/python -m pytest tests/test_regression.py

(the test then rewrites the fixture and reports itself as skipped). The run goes through the public
API only (``sim.api``), so moving modules does not touch it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from sim.api import compose_config, simulate

FIXTURE = Path(__file__).resolve().parent / "regression" / "history_small.json"
OVERRIDES = [
    "scenario=history",
    "seed=0",
    "counterfactual=null",
    "market.shoppers.n_agents=2000",
    "market.msmes.n_agents=500",
]
REL = 1e-9  # the run is deterministic; only floating-point summation order may differ
REFRESH = "SIM_UPDATE_REGRESSION=1 python -m pytest tests/test_regression.py"
UPDATE = os.environ.get("SIM_UPDATE_REGRESSION") == "1"


def _yearly(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = table[table["metric"] == metric]
    wide = rows.pivot_table(index="date", columns="entity", values="value", aggfunc="sum", observed=True)
    return wide.groupby(wide.index.year).sum()


def main_outputs() -> dict[str, dict[str, dict[str, float]]]:
    """Per year: each storefront's share of online GMV, total online GMV (IDR) with its large
    firms' and virtual goods' parts, and MSME revenue by origin and channel (IDR), from the weekly
    table of the run."""
    table = simulate(compose_config(OVERRIDES))
    gmv = _yearly(table, "gmv_idr")
    revenue = _yearly(table, "msme_revenue_idr")
    large = _yearly(table, "large_firm_gmv_idr")
    virtual = _yearly(table, "virtual_goods_idr")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for year in gmv.index:
        total = float(gmv.loc[year].sum())
        out[str(year)] = {
            "gmv_share": {str(k): float(v) / total for k, v in gmv.loc[year].items()},
            "online_gmv_idr": {
                "all": total,
                "large_firms": float(large.loc[year].sum()),
                "virtual_goods": float(virtual.loc[year].sum()),
            },
            "msme_revenue_idr": {str(k): float(v) for k, v in revenue.loc[year].items()},
        }
    return out


def test_a_small_history_run_reproduces_its_pinned_outputs():
    outputs = main_outputs()
    for year, groups in outputs.items():  # two cuts of the same sales, recorded separately
        revenue = groups["msme_revenue_idr"]
        origins = sum(revenue[o] for o in ("local", "import_reseller", "cross_border"))
        assert origins == pytest.approx(revenue["online"] + revenue["offline"], rel=1e-9), year
        # Online GMV is MSMEs' online sales plus large firms' plus storefronts' virtual goods.
        online = groups["online_gmv_idr"]
        assert revenue["online"] + online["large_firms"] + online["virtual_goods"] == pytest.approx(
            online["all"], rel=1e-9
        ), year
    if UPDATE:
        FIXTURE.parent.mkdir(exist_ok=True)
        FIXTURE.write_text(
            json.dumps({"overrides": OVERRIDES, "outputs": outputs}, indent=1, sort_keys=True) + "\n"
        )
        pytest.skip(f"SIM_UPDATE_REGRESSION=1: wrote {FIXTURE.name}; review its diff and commit it")
    assert FIXTURE.is_file(), f"no fixture: run {REFRESH}"
    pinned = json.loads(FIXTURE.read_text())
    assert pinned["overrides"] == OVERRIDES
    expected = pinned["outputs"]
    assert sorted(outputs) == sorted(expected)
    changed = []
    for year, groups in expected.items():
        for group, values in groups.items():
            assert sorted(outputs[year][group]) == sorted(values), (year, group)
            for key, value in values.items():
                if outputs[year][group][key] != pytest.approx(value, rel=REL, abs=1e-12):
                    changed.append(f"{year} {group}[{key}]: {value!r} -> {outputs[year][group][key]!r}")
    assert not changed, (
        "the model's outputs changed; if intended, refresh the fixture with "
        "SIM_UPDATE_REGRESSION=1 python -m pytest tests/test_regression.py\n" + "\n".join(changed[:20])
    )
