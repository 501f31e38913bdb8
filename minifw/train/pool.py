"""The pool of worker processes a Trainer keeps for its numerical gradients.

`workers=2` on a [`Trainer`][minifw.train.trainer.Trainer] starts a pool of two processes at the
first gradient and reuses it for every step; the Trainer shuts it down when a fit ends (or when
its `with` block ends), and a pool left behind is shut down when the Trainer is collected. A
pool that lost a worker (killed, out of memory) cannot run anything again: after a failed step
the Trainer asks [`drop_if_broken`][minifw.train.pool.WorkerPool.drop_if_broken], and the next
step starts a fresh pool. An executor or a map function given as `workers` is the caller's and
used as it is.

Examples:
    >>> pool = WorkerPool()
    >>> pool.workers(None) is None, pool.workers(1)
    (True, 1)
    >>> pool.close()  # nothing was started

"""

from __future__ import annotations

import weakref
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from typing import Any, final

import attrs

from minifw._validation import is_int
from minifw.numdiff.workers import Workers, is_serial, process_pool

__all__ = ["WorkerPool"]


@final
@attrs.define(eq=False)
class WorkerPool:
    """A pool of processes started for an `int` number of workers, once, and shut down once."""

    _pool: ProcessPoolExecutor | None = attrs.field(default=None, init=False, repr=False)
    _shutdown: weakref.finalize[..., Any] | None = attrs.field(default=None, init=False, repr=False)

    def workers(self, workers: Workers) -> Workers:
        """Return where a gradient runs for `workers`: for an int, this pool (started once)."""
        if is_int(workers) and not is_serial(workers):
            if self._pool is None:
                self._pool = process_pool(int(workers))  # type: ignore[arg-type]
                # Also shut down when collected unclosed: no processes left behind.
                self._shutdown = weakref.finalize(self, self._pool.shutdown)
            return self._pool
        return workers

    def close(self) -> None:
        """Shut the pool down, if one was started; a later gradient starts a new one."""
        shutdown, self._pool, self._shutdown = self._shutdown, None, None
        if shutdown is not None:
            shutdown()  # the finalizer: shuts the pool down once, then is done

    def drop_if_broken(self) -> bool:
        """Forget the pool if it can run nothing more (a worker died); return whether it did.

        A broken pool refuses any new task at once (`BrokenExecutor`), which is how it is told
        apart; a healthy one gets a task that does nothing. A dropped pool is shut down without
        waiting for what it cannot finish.
        """
        pool = self._pool
        if pool is None:
            return False
        try:
            pool.submit(int)
        except (BrokenExecutor, RuntimeError):  # broken, or shut down under us
            finalizer, self._pool, self._shutdown = self._shutdown, None, None
            if finalizer is not None:
                finalizer.detach()
            pool.shutdown(wait=False, cancel_futures=True)
            return True
        return False
