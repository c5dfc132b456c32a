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


# Freed arrays below the raised mmap threshold stay in the heap (that is the tuning); handing
# them back is asked for where it matters (before the shopping helper's fork).
RELEASE = """
import json
import numpy as np
from sim.core.allocator import keep_freed_memory, release_freed_memory
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
assert keep_freed_memory()
kept = [np.ones(1 << 20) for _ in range(10)]  # ten arrays of 8 MB, from the heap
held = np.ones(1 << 17)  # 1 MB above them: the heap's top cannot shrink past it
start = rss_mb()
del kept
freed = rss_mb()
released = release_freed_memory()
print(json.dumps({"released": released, "kept_mb": freed - start, "mb": freed - rss_mb()}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is tuned on Linux only")
def test_freed_memory_the_tuning_keeps_is_handed_back_on_request():
    out = subprocess.run([sys.executable, "-c", RELEASE], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["released"] is True
    assert report["kept_mb"] > -5  # freeing them handed nothing back
    assert report["mb"] > 70  # of the 80 MB freed
