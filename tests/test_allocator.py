"""The week's freed memory is kept for reuse (``sim.core.allocator``), so that temporaries do not
fault in fresh pages every week; ``SIM_KEEP_FREED_MEMORY=0`` leaves malloc as it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# After building a model (which tunes malloc), a hundred "weeks" that each make and drop a dozen
# temporaries of 0.25 to 0.75 MB, as the week's phases do at the default scale; count the page
# faults of those weeks.
CHURN = """
import json, resource
import numpy as np
from sim.core.model import EcommerceModel
EcommerceModel(n_shoppers=200, n_msmes=50, burn_in_weeks=0)
def week():
    temporaries = [np.ones((k % 3 + 1) << 15) for k in range(12)]
    del temporaries
for _ in range(5):
    week()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    week()
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
from sim.core.allocator import keep_freed_memory
print(json.dumps({"faults": after - before, "tuned": keep_freed_memory()}))
"""


def _churn(keep: str) -> dict:
    env = {**os.environ, "SIM_KEEP_FREED_MEMORY": keep}
    out = subprocess.run([sys.executable, "-c", CHURN], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is tuned on Linux only")
def test_a_model_keeps_freed_memory_for_reuse_unless_told_not_to():
    kept = _churn("1")
    assert kept["tuned"] is True
    assert kept["faults"] < 100  # the same pages every week
    returned = _churn("0")
    assert returned["tuned"] is False
    assert returned["faults"] > 100 * 500  # fresh pages every week
