"""The processes a run's models may use: how many this process may fork, a pool of forked
workers, and a fork server that imports the model while the command starts up.

Imports nothing heavy (no pandas, no Mesa), so that ``sim run`` can start the fork server before
it imports Hydra.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Imported by the fork server before it forks a worker: the model, its run, and what they import
# (NumPy, pandas, Mesa with SciPy and NetworkX), about a second on one core of this machine.
MODEL_MODULES = ["sim.experiments.run", "sim.core.model"]

_SERVER: dict[str, Any] = {}  # the fork server's multiprocessing context, once started


def may_fork() -> int:
    """Processes this one may run at once by forking: one per core it may use, but one (no
    fork) inside a worker process (a parallel sweep's job), beside other threads (a notebook
    kernel, the dashboard's server: forking them is not safe), or when ``SIM_WORKERS=1``."""
    import multiprocessing
    import threading

    if multiprocessing.parent_process() is not None or threading.active_count() > 1:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    limit = os.environ.get("SIM_WORKERS")
    return max(1, min(cores, int(limit) if limit else cores))


def start_model_server() -> bool:
    """Start a fork server (``multiprocessing``'s forkserver) that imports ``MODEL_MODULES`` at
    once, on another core, while this process goes on with its own start-up (Hydra's import and
    composition, a second and a half of a default run); ``model_pool`` then forks its workers
    from that server, ready to run. Only where ``may_fork`` allows two processes; returns
    whether a server runs. It stops when this process exits."""
    if "context" in _SERVER:
        return True
    if may_fork() < 2:
        return False
    import multiprocessing
    import multiprocessing.forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(MODEL_MODULES)
    multiprocessing.forkserver.ensure_running()
    _SERVER["context"] = context
    return True


@contextmanager
def model_pool(workers: int) -> Iterator[Any]:
    """A ``ProcessPoolExecutor`` of ``workers`` processes to run models in: forked from the model's
    fork server when one was started (``start_model_server``), else from this process
    (``forking_pool``), with ``MODEL_MODULES`` imported once before the fork. Jobs and results go
    through pickles either way."""
    if "context" not in _SERVER:
        for name in MODEL_MODULES:
            importlib.import_module(name)
        with forking_pool(workers) as pool:
            yield pool
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=_SERVER["context"]) as pool:
        yield pool


@contextmanager
def forking_pool(workers: int) -> Iterator[Any]:
    """A ``ProcessPoolExecutor`` of ``workers`` processes forked from this one (they start with its
    imports). The objects that exist at the fork are frozen out of the garbage collector
    meanwhile, so that a worker's collections do not touch (and so copy) every page it shares
    with this process."""
    import gc
    import multiprocessing
    import warnings
    from concurrent.futures import ProcessPoolExecutor

    gc.freeze()
    try:
        with warnings.catch_warnings():
            # The only other threads are the BLAS library's own, which it stops around a fork.
            warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                yield pool
    finally:
        gc.unfreeze()
