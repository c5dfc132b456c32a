"""A second process that shops half of the week's shopper blocks, over shared memory.

Two threads shop the blocks barely faster than one (the interpreter lock is taken between the
hundred array operations of a block), while two processes each shop at full speed: at 1M
shoppers two models in two processes shopped at 151 and 155 ms a week each against 158 ms alone.
So a model with several blocks (more than ``sim.core.market.ONE_BLOCK_UP_TO`` shoppers) and a
free core may fork one helper process: the shoppers' arrays that a block reads or writes and
the week's draws live in shared anonymous mappings, the helper shops every other block over them
and sends back each block's sums (``sim.core.market.BlockSums``), and the model's process adds
all blocks' sums in shopper order. Every block runs the same function on the same inputs, so the
numbers are the same bit for bit (tested).

Memory: the private arrays replaced by shared ones are handed back as they go, and the free heap
just before the fork (``sim.core.allocator.release_freed_memory``), so the helper inherits no
free page that this process would later rewrite (and the helper would keep as a private copy).
At 1M shoppers the helper's own memory came to 22 MB over a run (59 MB before both changes).

The model forks the helper when its shoppers are built, if its caller allows it
(``EcommerceModel(shopper_processes=2)``; the experiments ask ``may_fork``), and stops it when
the run ends, at ``shop_alone()``, or when the model is collected or the process exits.
"""

from __future__ import annotations

import contextlib
import gc
import mmap
import os
import traceback
import warnings
import weakref
from dataclasses import fields
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sim.core.allocator import release_freed_memory
from sim.core.population import Shoppers


def shared_copy(values: np.ndarray) -> np.ndarray:
    """``values`` copied into an anonymous shared mapping (seen by processes forked later), with
    the same shape, dtype and memory order."""
    size = max(values.nbytes, 1)
    buffer = mmap.mmap(-1, size, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    order: Literal["C", "F"] = "F" if values.flags.f_contiguous and not values.flags.c_contiguous else "C"
    out = np.ndarray(values.shape, dtype=values.dtype, buffer=buffer, order=order)
    out[...] = values
    return out


# The social network (ties, the followers index and the counts of ties using each app) is read
# and written only by app adoption, in the model's own process, and is the largest part of the
# shoppers' memory: it stays private.
PRIVATE = ("ties", "followers", "followers_ptr", "ties_using")


def share_shoppers(sh: Shoppers) -> None:
    """Move the arrays of ``sh`` that a block of shoppers reads or writes into shared memory, in
    place and one at a time, each private copy handed back to the operating system as it goes
    (the peak grows by the largest only); views and agents reading ``sh`` see the same values."""
    for f in fields(sh):
        value = getattr(sh, f.name)
        if isinstance(value, np.ndarray) and f.name not in PRIVATE:
            setattr(sh, f.name, shared_copy(value))
            del value
            release_freed_memory()


class ShoppingHelper:
    """The helper process of one model's shoppers and the shared arrays it shops: the
    shoppers' own (moved into shared memory here) and the week's draws (``load``). It sends
    back each of its blocks' sums (``sim.core.market.BlockSums``)."""

    def __init__(self, sh: Shoppers, draw_names: tuple[str, ...]) -> None:
        from sim.core.market import BlockSums, ShoppingWeek, _shop_block

        share_shoppers(sh)
        self.draws = {name: shared_copy(np.empty(sh.n, np.float32)) for name in draw_names}
        draws = self.draws

        def shop_blocks(blocks: list[slice], week: ShoppingWeek) -> list[BlockSums]:
            return [_shop_block(sh, rows, *week, draws) for rows in blocks]

        self.pool = ShopperPool(shop_blocks)

    def load(self, draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The week's draws where the helper reads them (copied, unless they were drawn there:
        ``Generator.random(out=helper.draws[name])``)."""
        for name, values in draws.items():
            if values is not self.draws[name]:
                self.draws[name][:] = values
        return self.draws

    def close(self) -> float | None:
        """Stop the helper; returns its private memory at the end, MB."""
        return self.pool.close()


class ShopperPool:
    """One forked helper process that runs ``work(*args)`` for each ``submit(*args)`` and sends
    back what it returned (pickled), until closed."""

    def __init__(self, work: Any) -> None:
        self._conn, child = Pipe(duplex=True)
        # Objects that exist now are frozen out of the collector: the helper's collections would
        # otherwise touch (and so copy) every page it shares with this process.
        gc.freeze()
        # The free heap (the private arrays share_shoppers just replaced, the build's
        # temporaries) leaves both processes: kept, it would stay in the helper as private
        # copies of the pages this process reuses.
        release_freed_memory()
        pid = -1
        try:
            with warnings.catch_warnings():
                # Forking beside other threads (a test runner's, the BLAS library's) is the
                # caller's choice: the helper only runs numpy on its own blocks.
                warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
                pid = os.fork()
        finally:
            if pid != 0:
                gc.unfreeze()
        if pid == 0:  # the helper: serve until told to stop or the parent is gone
            self._conn.close()
            code = 0
            try:
                while True:
                    try:
                        message = child.recv()
                    except EOFError:
                        break
                    if message is None:
                        child.send(("stopped", private_memory_mb()))
                        break
                    try:
                        child.send(("ok", work(*message)))
                    except BaseException:  # reported to the parent, which raises it
                        child.send(("error", traceback.format_exc()))
            except BaseException:  # interrupted: leave without the parent's exit handlers
                code = 1
            finally:
                os._exit(code)  # never the parent's exit handlers
        child.close()
        self.pid = pid
        self._stop = weakref.finalize(self, _stop_helper, self._conn, pid)

    def submit(self, *args: Any) -> None:
        """Hand the helper its share of the week (``work(*args)`` runs there)."""
        self._conn.send(args)

    def result(self) -> Any:
        """What ``work`` returned; its exception as a RuntimeError with the helper's traceback."""
        status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"the shopping helper process failed:\n{value}")
        return value

    def close(self) -> float | None:
        """Stop the helper and wait for it; returns its private memory at the end, MB (None if
        it was stopped already or did not say)."""
        if not self._stop.detach():
            return None
        private = None
        with contextlib.suppress(OSError, EOFError):
            self._conn.send(None)
            _, private = self._conn.recv()
        self._conn.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        return private


def private_memory_mb() -> float | None:
    """This process's private resident memory (not shared with another process), MB; None where
    the kernel does not say (``/proc/self/smaps_rollup``)."""
    try:
        lines = Path("/proc/self/smaps_rollup").read_text().splitlines()
    except OSError:
        return None
    kb = sum(int(line.split()[1]) for line in lines if line.startswith(("Private_Clean:", "Private_Dirty:")))
    return kb / 1024


def _stop_helper(conn: Connection, pid: int) -> None:
    with contextlib.suppress(OSError):  # the helper is gone already
        conn.send(None)
    conn.close()
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
