"""Helpers shared by the benchmark scripts: BLAS threads, timing, memory, environment, tables.

This module imports nothing heavy at import time, so a script can call
:func:`limit_blas_threads` before it imports numpy.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence

#: Environment variables read by OpenBLAS, OpenMP builds and MKL when numpy loads them.
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

#: How the BLAS thread count was chosen; filled in by :func:`limit_blas_threads`.
_blas_note = "not set by the benchmark (it was imported, not run as a script)"


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--threads`` (BLAS threads; 0 keeps the environment as it is) to ``parser``."""
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="BLAS threads, set before numpy is imported (default 1; 0 keeps the environment)",
    )


def timing_parser(description: str) -> argparse.ArgumentParser:
    """Return the parser of an accuracy benchmark: threads, repeats, `--both`, `--timing-only`."""
    parser = argparse.ArgumentParser(description=description)
    add_threads_option(parser)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (median; 5)")
    parser.add_argument(
        "--both",
        action="store_true",
        help="then the timing again with NPY_DISABLE_CPU_FEATURES=X86_V4",
    )
    parser.add_argument("--timing-only", action="store_true", help=argparse.SUPPRESS)
    return parser


def print_environment() -> None:
    """Print the machine, the libraries and the CPU features numpy was told to leave out."""
    features = os.environ.get("NPY_DISABLE_CPU_FEATURES", "")
    print("\n".join(environment()))
    print(
        f"NPY_DISABLE_CPU_FEATURES={features!r}  (numpy vectorises exp/log for float64 only with AVX-512)"
    )


def limit_blas_threads(argv: Sequence[str]) -> None:
    """Set the BLAS thread variables from ``--threads`` in ``argv`` (default 1).

    Call this before numpy is imported: OpenBLAS reads the variables once, when it loads.

    NOTE [ One BLAS thread ]: on the 2-core shared machines these benchmarks run on, a
    multithreaded OpenBLAS makes the small products of a 100-image forward pass erratic (one
    100x784 @ 784x50 product took 0.15 ms or 8 ms depending on OPENBLAS_NUM_THREADS). One thread
    gives steady timings, and it is the fastest setting for the book's loop of tiny forward passes,
    so it makes every "x faster than the book" ratio conservative.
    """
    global _blas_note
    pre = argparse.ArgumentParser(add_help=False)
    add_threads_option(pre)
    threads = pre.parse_known_args(list(argv))[0].threads
    if threads <= 0:
        _blas_note = "left as found in the environment (--threads 0)"
        return
    if "numpy" in sys.modules:
        _blas_note = f"numpy was imported before --threads {threads} could apply: not set"
        return
    for name in BLAS_VARIABLES:
        os.environ[name] = str(threads)
    _blas_note = f"set to {threads} by the script before importing numpy (--threads {threads})"


def environment() -> list[str]:
    """Return lines describing Python, numpy, scipy, BLAS, CPUs and the BLAS thread setting."""
    import importlib

    import numpy as np

    try:
        scipy_version = str(importlib.import_module("scipy").__version__)
    except ImportError:
        scipy_version = "not installed"
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas_name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (KeyError, TypeError, ValueError):
        blas_name = "unknown"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = ", ".join(f"{name}={os.environ.get(name, '(unset)')}" for name in BLAS_VARIABLES)
    return [
        f"Python {platform.python_version()}, numpy {np.__version__} (BLAS: {blas_name}), "
        f"scipy {scipy_version}, {platform.machine()}",
        f"CPUs: {os.cpu_count()} ({usable} usable by this process)",
        f"BLAS threads: {threads}; {_blas_note}",
    ]


def timed(fn: Callable[[], object]) -> float:
    """Return the wall time of one call of ``fn``, in seconds."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Call ``fn`` ``warmup`` times untimed, then return the median of ``repeats`` timed calls."""
    for _ in range(warmup):
        fn()
    return statistics.median(timed(fn) for _ in range(repeats))


def peak_memory(fn: Callable[[], object]) -> int:
    """Return the peak bytes allocated while ``fn`` runs, beyond what was allocated before.

    Measured with :mod:`tracemalloc`, which sees Python objects and numpy's array buffers (numpy
    reports them to it) but not BLAS's internal scratch. Tracing slows allocation down, so this
    is a separate, untimed call.
    """
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(0, peak - before)


def format_seconds(seconds: float) -> str:
    """Return a duration to three significant digits: ``17.9 s``, ``8.81 s``, ``35.2 ms``."""
    if seconds >= 1.0:
        value, unit = seconds, "s"
    elif seconds >= 1e-3:
        value, unit = seconds * 1e3, "ms"
    else:
        value, unit = seconds * 1e6, "us"
    decimals = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{decimals}f} {unit}"


def format_ratio(ratio: float) -> str:
    """Return a speed ratio such as ``540x`` or ``0.98x``."""
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    if ratio >= 10:
        return f"{ratio:.1f}x"
    return f"{ratio:.2f}x"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Return an aligned plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return [line(header), rule, *(line(row) for row in rows)]
