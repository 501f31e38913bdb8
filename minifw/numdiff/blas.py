"""BLAS threads: one per task, so that every task's products give the same last bits anywhere.

OpenBLAS gives different last bits for different thread counts, so every task of a numerical
gradient runs with one BLAS thread ([`one_blas_thread`][minifw.numdiff.blas.one_blas_thread]),
wherever it runs ([`minifw.numdiff.workers`][minifw.numdiff.workers]).

Examples:
    >>> with one_blas_thread():
    ...     blas_threads()
    1

"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

from threadpoolctl import ThreadpoolController

__all__ = ["blas_threads", "one_blas_thread"]

_blas_lock = threading.Lock()
_blas_depth = 0
_blas_limiter: Any = None
_controller: ThreadpoolController | None = None
_controller_modules = -1


def _blas_controller() -> ThreadpoolController:
    # Building a controller inspects every loaded library (about 0.3 ms); reuse it until a
    # module has been imported since, which may have loaded another BLAS.
    global _controller, _controller_modules
    if _controller is None or len(sys.modules) != _controller_modules:
        _controller = ThreadpoolController()
        _controller_modules = len(sys.modules)
    return _controller


def blas_threads() -> int:
    """Return how many threads BLAS would use for a product started now, in this thread.

    Examples:
        >>> with one_blas_thread():
        ...     blas_threads()
        1

    """
    counts = [
        int(lib.get_num_threads() or 1)
        for lib in _blas_controller().lib_controllers
        if lib.user_api == "blas"
    ]
    return max(counts, default=1)


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with BLAS limited to one thread, restoring the setting afterwards.

    The limit is process-wide, so nested and concurrent uses (tasks on several threads of one
    process) are counted: the first to enter sets it and the last to leave restores it.

    NOTE [ BLAS threads and the main thread ]: OpenBLAS takes its thread count from the
    process's main thread: a limit set from any other thread has no effect (measured with
    OpenBLAS 0.3.31: the product still uses, and gives the last bits of, the main thread's
    count). So the caller sets the limit before handing tasks to threads of its own process,
    and a task that finds more than one BLAS thread (a worker thread of a process whose main
    thread allows more) refuses to run rather than give different last bits.

    Examples:
        >>> import numpy as np
        >>> with one_blas_thread():
        ...     float(np.ones((2, 2)) @ np.ones(2) @ np.ones(2))
        4.0

    """
    global _blas_depth, _blas_limiter
    with _blas_lock:
        if _blas_depth == 0:
            _blas_limiter = _blas_controller().limit(limits=1, user_api="blas")
        _blas_depth += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_depth -= 1
            if _blas_depth == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None
