r"""minifw's process pools: workers that ignore Ctrl-C, die with their parent, and can be stopped.

[`process_pool`][minifw.numdiff.pools.process_pool] returns a `ProcessPoolExecutor` whose workers
are started with `spawn` by a multiprocessing context of minifw's own
([`WorkerProcess`][minifw.numdiff.pools.WorkerProcess]):

- **Ctrl-C goes to the parent alone.** A terminal sends SIGINT to every process of its group; a
  worker is started with SIGINT blocked (inherited through `exec`, so not even its start-up can
  print a `KeyboardInterrupt` traceback) and ignores it once running. The parent gets one
  `KeyboardInterrupt`, and a pool minifw started for the call is stopped at once
  ([`stop`][minifw.numdiff.pools.stop]) instead of waiting for its tasks.
- **Workers die with their parent.** Each watches its parent (a thread polling `os.getppid`
  every `WATCH` seconds) and exits when the parent is gone, killed by SIGTERM or SIGKILL, so no
  worker outlives it (nor the resource tracker, which exits when the last of them closes its
  pipe).
- **A pool can say it is broken** ([`is_broken`][minifw.numdiff.pools.is_broken]) and be replaced
  by a fresh one ([`renewed`][minifw.numdiff.pools.renewed]): what a
  [`Trainer`][minifw.train.trainer.Trainer] needs after a worker was killed.
- **A bound on processes**: at most `MAX_PROCESSES` (eight per CPU, and at least 64).

Examples:
    >>> with process_pool(1) as pool:
    ...     list(pool.map(abs, [-1, 2])), is_broken(pool)
    ([1, 2], False)

"""

from __future__ import annotations

import contextlib
import multiprocessing.context
import operator
import os
import signal
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor
from typing import Any, final

from minifw._validation import is_int
from minifw.errors import ValidationError

__all__ = [
    "MAX_PROCESSES",
    "WATCH",
    "WorkerProcess",
    "check_processes",
    "is_broken",
    "process_pool",
    "renewed",
    "sigint_blocked",
    "stop",
]

MAX_PROCESSES = max(64, 8 * (os.cpu_count() or 1))
"""The most worker processes a pool may have: more than eight per CPU only adds overhead."""
WATCH = 0.25
"""How often (in seconds) a worker looks whether its parent is still there."""


def _watch_parent(parent: int) -> None:
    """Exit this process once its parent is gone (it is then adopted by another process)."""
    while True:
        time.sleep(WATCH)
        if os.getppid() != parent:
            os._exit(1)  # no clean-up: the parent that would want the results is gone


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread (pending, not lost), so that a process it starts inherits that."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@final
class WorkerProcess(multiprocessing.context.SpawnProcess):
    """A spawned worker that ignores SIGINT and exits when its parent is gone (module text)."""

    parent: int = 0

    def start(self) -> None:
        """Start the process with SIGINT blocked, so that it never sees a terminal's Ctrl-C.

        The parent's process id goes with it: a parent killed while the worker still starts
        (an interpreter takes a moment) is then noticed too.
        """
        self.parent = os.getpid()
        with sigint_blocked():
            super().start()

    def run(self) -> None:
        """Ignore SIGINT, watch the parent, then run the pool's worker loop."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if os.getppid() != self.parent:
            os._exit(1)  # the parent died while this process was starting
        watcher = threading.Thread(target=_watch_parent, args=(self.parent,), daemon=True)
        watcher.start()
        super().run()


@final
class _Context(multiprocessing.context.SpawnContext):
    """The spawn context of one pool: it starts `WorkerProcess`es and remembers them."""

    def __init__(self) -> None:
        super().__init__()
        self.started: weakref.WeakSet[WorkerProcess] = weakref.WeakSet()

    def Process(self, *args: Any, **kwargs: Any) -> WorkerProcess:  # type: ignore[override]  # noqa: N802
        """Return a new worker process (not started), remembered for `stop`."""
        process = WorkerProcess(*args, **kwargs)
        self.started.add(process)
        return process


_contexts: weakref.WeakKeyDictionary[ProcessPoolExecutor, _Context] = weakref.WeakKeyDictionary()


def check_processes(processes: object, name: str = "processes") -> int:
    """Return a count of processes, refusing anything but an integer in 1..MAX_PROCESSES.

    Examples:
        >>> check_processes(10**6)
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: processes must be at most ... (eight per CPU of this machine, at least 64), got processes=1000000

    """
    count = operator.index(processes) if is_int(processes) else 0  # type: ignore[arg-type]
    if count < 1:
        raise ValidationError(f"{name} must be a positive integer, got {name}={processes!r}")
    if count > MAX_PROCESSES:
        raise ValidationError(
            f"{name} must be at most {MAX_PROCESSES} (eight per CPU of this machine, at least "
            f"64), got {name}={processes!r}"
        )
    return count


def process_pool(processes: int) -> ProcessPoolExecutor:
    """Return a pool of `processes` fresh worker processes (started with `spawn`).

    `spawn` starts each worker as a new interpreter: nothing of this process's threads or
    locks is inherited (`fork` is unsafe once threads exist, and leaves no helper process
    behind the way `forkserver` does). As with any spawned process, a script that starts one
    must guard its top level with `if __name__ == "__main__":`. Use it as a context manager,
    or call `shutdown()` (or [`stop`][minifw.numdiff.pools.stop] not to wait). Its workers ignore
    Ctrl-C and exit with this process (see the module text).

    Examples:
        >>> with process_pool(1) as pool:
        ...     list(pool.map(abs, [-1, 2]))
        [1, 2]

    """
    count = check_processes(processes)
    context = _Context()
    pool = ProcessPoolExecutor(count, mp_context=context)
    _contexts[pool] = context
    return pool


def stop(pool: ProcessPoolExecutor) -> None:
    """Shut `pool` down without waiting: queued tasks are cancelled, its workers terminated.

    Only the workers of a pool from [`process_pool`][minifw.numdiff.pools.process_pool] are known
    (and terminated); any other pool is shut down without waiting.
    """
    pool.shutdown(wait=False, cancel_futures=True)
    context = _contexts.get(pool)
    for process in list(context.started) if context is not None else []:
        with contextlib.suppress(Exception):
            if process.is_alive():
                process.terminate()


def _ping() -> None:
    """Nothing: what `is_broken` asks a pool to run."""


def is_broken(executor: Executor) -> bool:
    """Whether `executor` can no longer take tasks: shut down, or broken by a worker's death.

    It is asked to take a task that does nothing (and is cancelled if it has not started).

    Examples:
        >>> pool = process_pool(1)
        >>> pool.shutdown()
        >>> is_broken(pool)
        True

    """
    try:
        future = executor.submit(_ping)
    except (RuntimeError, BrokenExecutor):
        return True
    future.cancel()
    return False


def renewed(pool: ProcessPoolExecutor | None, processes: int) -> ProcessPoolExecutor:
    """Return `pool` if it can still take tasks, else a fresh pool of `processes` (the old stopped).

    Examples:
        >>> pool = process_pool(1)
        >>> pool.shutdown()
        >>> fresh = renewed(pool, 1)
        >>> fresh is not pool, is_broken(fresh)
        (True, False)
        >>> fresh.shutdown()

    """
    if pool is not None and not is_broken(pool):
        return pool
    if pool is not None:
        stop(pool)
    return process_pool(processes)
