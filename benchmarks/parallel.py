"""Time numerical gradients with workers against serial evaluation, side by side in one process.

1. a black-box objective (a simulation written with numpy, one evaluation ~2 ms): serial, two
   processes of a reused pool, and ``workers=2`` (a pool started for the call);
2. when parallelism pays off: the same objective made cheaper and dearer (10 us to 5 ms per
   evaluation), serial against two processes;
3. the fast path of TwoLayerNet 784-50-10 and 784-500-10 and of MultiLayerNet 784-100-100-10
   (ReLU) on a 100-image batch of the bundled sample: the package before issue 11
   (``--before``, imported from git; TwoLayerNet only), serial now, ``workers=1``, two processes;
4. the targets of issues 11 and 20 as PASS/FAIL lines.

Every gradient is also checked to be bitwise equal to the serial one. Times are medians of
``--repeats`` rounds, the methods of a table timed round-robin, a few consecutive calls of one
method at a time after an untimed one (as gradients follow each other in training); the load
average is printed
before and after each table (the machines are shared). The serial rows of the fast path also
show their CPU time, which other processes on the machine do not inflate: the targets on the
serial cost are taken on it.

    python benchmarks/parallel.py            # about 2 minutes
    python benchmarks/parallel.py --quick    # smoke test
    python benchmarks/parallel.py --both     # also with NPY_DISABLE_CPU_FEATURES=X86_V4

Nothing is asserted on timing: it prints.
"""

from __future__ import annotations

import sys

import _common

if __name__ == "__main__":
    # Before numpy loads BLAS: see NOTE [ One BLAS thread ] in _common.py.
    _common.limit_blas_threads(sys.argv[1:])

import argparse
import atexit
import functools
import importlib
import io
import os
import re
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from minifw import MNIST, CentralDiff, CrossEntropy, MultiLayerNet, RandomChoiceSampler, TwoLayerNet
from minifw.numdiff.workers import process_pool

Array = NDArray[np.float64]
Grads = dict[str, Array]
ROOT = Path(__file__).resolve().parents[1]

#: The last commit before issue 11 whose package imports on its own (same numerics files as
#: the commit before the layered objective was made chunkable).
BEFORE = "6bd893d"


def oscillators(x: Array, steps: int) -> float:
    """A black box: ``steps`` Euler steps of a chain of damped oscillators with stiffnesses ``x``.

    About 5 numpy operations on ``x.size`` numbers per step, so the cost of one evaluation is
    set by ``steps`` (about 5 us a step here).
    """
    pos = np.linspace(0.0, 1.0, x.size)
    vel = np.zeros(x.size)
    for _ in range(steps):
        force = -x * pos
        force[1:] += 0.1 * (pos[:-1] - pos[1:])
        vel = 0.99 * vel + 0.01 * force
        pos = pos + 0.01 * vel
    return float(pos @ pos)


def make_black_box(steps: int) -> Callable[[Array], float]:
    def f(x: Array) -> float:
        return oscillators(x, steps)

    return f


def rounds(
    methods: dict[str, Callable[[], object]],
    repeats: int,
    cpu: dict[str, float] | None = None,
    block: int = 3,
) -> dict[str, float]:
    """Time every method ``repeats`` times ``block`` calls; return the medians per call.

    Round-robin over the methods, ``block`` consecutive calls of one method at a time after an
    untimed one: gradients follow each other in training, and a pool's workers that have been
    idle for a while (while the other methods ran) wake up slowly on a virtual machine. Every
    other round goes through the methods in reverse order, so that no method always runs right
    after the same other one (which moved a row by up to 25% on a loaded machine).

    With ``cpu``, also fill it with the median CPU time of this thread per call: for work done
    in this thread, what it costs whatever else the machine runs (wall time on a shared machine
    also counts the time other processes hold the core).
    """
    times: dict[str, list[float]] = {name: [] for name in methods}
    cpus: dict[str, list[float]] = {name: [] for name in methods}
    for repeat in range(repeats):
        order = list(methods.items())
        for name, fn in order if repeat % 2 == 0 else reversed(order):
            fn()
            for _ in range(block):
                start = time.thread_time()
                times[name].append(_common.timed(fn))
                cpus[name].append(time.thread_time() - start)
    if cpu is not None:
        cpu.update({name: statistics.median(values) for name, values in cpus.items()})
    return {name: statistics.median(values) for name, values in times.items()}


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def same(a: Grads | Array, b: Grads | Array) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)
    return bool(np.array_equal(a, b))


def fast_gradients(net: Any, x: Array, t: Any, workers: Any, package: Any = None) -> Grads:
    """The gradient of the cross-entropy on ``(x, t)`` through ``net``'s fast objective."""
    if package is not None:  # the package before issue 11 has no workers
        return package.CentralDiff().gradients(net.objective(x, t, package.CrossEntropy()))
    return CentralDiff().gradients(net.objective(x, t, CrossEntropy()), workers=workers)


def before_package(rev: str) -> Any:
    """Import minifw as of git revision ``rev`` under the name ``minifw_before``, or None."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "minifw"], capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    folder = Path(tempfile.mkdtemp(prefix="minifw-before-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "minifw").rename(folder / "minifw_before")
    for path in (folder / "minifw_before").rglob("*.py"):
        text = path.read_text()
        path.write_text(re.sub(r"\bminifw\b(?=\.|\s+import\s)", "minifw_before", text))
    sys.path.insert(0, str(folder))
    return importlib.import_module("minifw_before")


def black_box_table(pool: ProcessPoolExecutor, args: argparse.Namespace) -> dict[str, float]:
    print(f"\n1. black box: {args.coordinates} coordinates, central differences ({load()})")
    f = make_black_box(args.steps)
    x = np.linspace(0.5, 2.0, args.coordinates)
    one = min(_common.timed(lambda: f(x)) for _ in range(20))
    reference = CentralDiff().gradient(f, x)
    for workers in (pool, 2):
        assert same(CentralDiff().gradient(f, x, workers=workers), reference)
    times = rounds(
        {
            "serial": lambda: CentralDiff().gradient(f, x),
            "2 processes (pool reused)": lambda: CentralDiff().gradient(f, x, workers=pool),
            "workers=2 (pool per call)": lambda: CentralDiff().gradient(f, x, workers=2),
        },
        args.repeats,
        block=1,
    )
    rows = [
        [name, _common.format_seconds(t), _common.format_ratio(times["serial"] / t), "yes"]
        for name, t in times.items()
    ]
    print(f"one evaluation: {_common.format_seconds(one)}; {2 * args.coordinates} per gradient")
    print("\n".join(_common.table(["method", "time/grad", "speed-up", "bitwise = serial"], rows)))
    print(f"({load()})")
    times["evaluation"] = one
    return times


def break_even_table(pool: ProcessPoolExecutor, args: argparse.Namespace) -> list[tuple[float, float]]:
    print(f"\n2. when two processes pay off: the black box made cheaper and dearer ({load()})")
    x = np.linspace(0.5, 2.0, args.coordinates)
    rows, points = [], []
    for steps in args.sweep:
        f = make_black_box(steps)
        one = min(_common.timed(functools.partial(f, x)) for _ in range(20))
        times = rounds(
            {
                "serial": functools.partial(CentralDiff().gradient, f, x),
                "pool": functools.partial(CentralDiff().gradient, f, x, workers=pool),
            },
            args.repeats,
            block=2,
        )
        ratio = times["serial"] / times["pool"]
        points.append((one, ratio))
        rows.append(
            [
                _common.format_seconds(one),
                _common.format_seconds(times["serial"]),
                _common.format_seconds(times["pool"]),
                _common.format_ratio(ratio),
            ]
        )
    header = ["evaluation", "serial", "2 processes", "speed-up"]
    print("\n".join(_common.table(header, rows)))
    print(f"({load()})")
    return points


def fast_path_table(
    pool: ProcessPoolExecutor, before: Any, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    data = MNIST.sample()
    x, t = RandomChoiceSampler(100, seed=0).minibatch(data.train.x, data.train.t)
    results = {}
    # (label, network, hidden size of the TwoLayerNet built by the package before issue 11, or 0)
    networks = [
        ("TwoLayerNet 784-50-10", TwoLayerNet(hidden_size=50, seed=0), 50),
        ("TwoLayerNet 784-500-10", TwoLayerNet(hidden_size=500, seed=0), 500),
        ("MultiLayerNet 784-100-100-10", MultiLayerNet(seed=0), 0),
    ]
    for label, net, hidden in networks:
        print(f"\n3. fast path, {label}, 100 images of the bundled sample ({load()})")
        gradients = functools.partial(fast_gradients, net, x, t)
        reference = gradients(None)
        assert same(gradients(1), reference)
        assert same(gradients(pool), reference)
        methods: dict[str, Callable[[], object]] = {}
        if before is not None and hidden:
            old = before.TwoLayerNet(hidden_size=hidden, seed=0)
            methods["before issue 11 (serial)"] = functools.partial(
                fast_gradients, old, x, t, None, package=before
            )
        methods["serial (workers=None)"] = functools.partial(gradients, None)
        methods["workers=1"] = functools.partial(gradients, 1)
        # The serial rows call after call, interleaved, so that a change of the machine's load
        # weighs on all of them alike; the pool in blocks of consecutive gradients.
        cpu: dict[str, float] = {}
        times = rounds(methods, args.repeats * (2 if hidden == 500 else 12), cpu, block=1)
        pooled = {"2 processes (pool reused)": functools.partial(gradients, pool)}
        times.update(rounds(pooled, args.repeats * (1 if hidden == 500 else 3), block=4))
        serial = times["serial (workers=None)"]
        versus = cpu.get("before issue 11 (serial)")
        rows = []
        for name, value in times.items():
            here = "processes" not in name  # the work of a pool is done in other processes
            rows.append(
                [
                    name,
                    _common.format_seconds(value),
                    _common.format_ratio(serial / value),
                    _common.format_seconds(cpu[name]) if here else "-",
                    f"{cpu[name] / versus - 1:+.1%}" if versus and here else "-",
                ]
            )
        header = ["method", "time/grad", "speed-up vs serial", "CPU/grad", "CPU vs before"]
        print("\n".join(_common.table(header, rows)))
        print(f"(bitwise equal to serial: yes; {load()})")
        results[label] = times
        results[label + " CPU"] = cpu
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _common.add_threads_option(parser)
    parser.add_argument("--quick", action="store_true", help="smoke test: fewer, cheaper runs")
    parser.add_argument("--both", action="store_true", help="then again with NPY_DISABLE_CPU_FEATURES=X86_V4")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per table (default 7)")
    parser.add_argument("--coordinates", type=int, default=100, help="of the black box (default 100)")
    parser.add_argument("--steps", type=int, default=500, help="of the black box (default 500: ~2.5 ms)")
    parser.add_argument("--before", default=BEFORE, help=f"git revision to compare with (default {BEFORE}; '' to skip)")
    args = parser.parse_args(argv)
    args.sweep = [1, 4, 16, 64, 256, 1024]
    if args.quick:
        args.repeats, args.coordinates, args.steps, args.sweep = 2, 20, 20, [1, 16]
    features = os.environ.get("NPY_DISABLE_CPU_FEATURES", "")
    print("\n".join(_common.environment()))
    print(f"NPY_DISABLE_CPU_FEATURES={features!r}  (numpy vectorises exp/log for float64 only with AVX-512)")
    before = before_package(args.before) if args.before else None
    print(f"before issue 11: {'minifw at ' + args.before if before else 'skipped'}")
    started = time.perf_counter()
    with process_pool(2) as pool:
        box = black_box_table(pool, args)
        points = break_even_table(pool, args)
        fast = fast_path_table(pool, before, args)
    print(f"\n(all tables: {time.perf_counter() - started:.0f} s)")
    two = fast["TwoLayerNet 784-50-10"]
    two_cpu = fast["TwoLayerNet 784-50-10 CPU"]
    box_ratio = box["serial"] / box["2 processes (pool reused)"]
    checks = [
        (
            box_ratio >= 1.7,
            f"black box ({_common.format_seconds(box['evaluation'])} per evaluation), 2 processes >= 1.7x serial: {box_ratio:.2f}x",
        ),
        (
            two["2 processes (pool reused)"] < two["serial (workers=None)"],
            "TwoLayerNet fast path, 2 processes faster than serial: "
            f"{two['serial (workers=None)'] / two['2 processes (pool reused)']:.2f}x",
        ),
    ]
    if "before issue 11 (serial)" in two_cpu:
        cost = two_cpu["workers=1"] / two_cpu["before issue 11 (serial)"] - 1
        checks.append((cost <= 0.05, f"TwoLayerNet fast path, workers=1 <= 5% over the package before issue 11, CPU time: {cost:+.1%}"))
    multi = fast["MultiLayerNet 784-100-100-10"]
    multi_ratio = multi["serial (workers=None)"] / multi["2 processes (pool reused)"]
    checks.append((multi_ratio >= 1.5, f"MultiLayerNet 784-100-100-10 fast path, 2 processes >= 1.5x serial (issue 20): {multi_ratio:.2f}x"))
    paying = [one for one, ratio in points if ratio > 1.0]
    if paying:
        print(f"\ntwo processes beat serial from about {_common.format_seconds(min(paying))} per evaluation")
    print("\ntargets (issues 11 and 20):")
    for ok, text in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    if args.both and not features:
        print("\n" + "=" * 40 + " again with NPY_DISABLE_CPU_FEATURES=X86_V4 " + "=" * 40, flush=True)
        env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": "X86_V4"}
        rest = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--both"]
        subprocess.run([sys.executable, __file__, *rest], env=env, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
