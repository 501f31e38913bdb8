"""Reliability catalogue of the numerical engine (issue 22, classes 5, 6, 7, 8 and 11).

Each case: the error type, a message naming the input, nothing changed in memory or on disk, no
process or file left behind.

- 5: the complex step on functions that are not complex-safe is refused, not a wrong number;
- 6: Richardson at jumps, kinks and noise gives an error or an honest bound;
- 7: maps and executors are not trusted blindly;
- 8: pool workers ignore Ctrl-C and die with their parent;
- 11: a float32 result of f is said, not silently three digits.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from minifw import (
    CentralDiff,
    ComplexStep,
    Perturbation,
    PrecisionWarning,
    RichardsonDiff,
    WorkerError,
    gradcheck_function,
    process_pool,
)
from minifw.errors import DifferentiationError, ValidationError
from minifw.numdiff.pools import MAX_PROCESSES, is_broken, renewed

SHM = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else None


def _state_files() -> set[Path]:
    return set(SHM.glob("minifw-state-*")) if SHM else set()


def _left_behind(before: set[Path]) -> set[Path]:
    """State files that appeared since `before` and stay (another process's come and go)."""
    new = _state_files() - before
    deadline = time.monotonic() + 1.0
    while new and time.monotonic() < deadline:
        time.sleep(0.05)
        new &= _state_files()
    return new


# --- 5: the complex step on functions that are not complex-safe ---------------------------------

NOT_SAFE: list[tuple[str, Callable[[Any], Any], float, str]] = [
    (
        "v**2 + abs(v)",
        lambda v: v**2 + abs(v),
        3.0,
        r"gives 6 at x, but real differences there give 7",
    ),
    (
        "real(v) * v",
        lambda v: np.real(v) * v,
        2.0,
        r"gives 2 at x, but real differences there give 4",
    ),
    (
        "sign(v) * v",
        lambda v: np.sign(v) * v,
        1.5,
        r"gives 2 at x, but real differences there give 1",
    ),
    ("complex-valued", lambda v: v**2 + 1j, 3.0, r"complex-valued"),
    ("abs(v) ** 2", lambda v: abs(v) ** 2, 3.0, r"returned a real"),
]


@pytest.mark.parametrize(("name", "f", "x", "words"), NOT_SAFE, ids=[c[0] for c in NOT_SAFE])
def test_a_function_that_is_not_complex_safe_is_refused(
    name: str, f: Callable[[Any], Any], x: float, words: str
) -> None:
    with pytest.raises(DifferentiationError, match=words):
        ComplexStep().derivative(f, x)


def test_norm_squared_is_refused_in_a_gradient_and_x_is_left_as_it_was() -> None:
    x = np.array([1.0, -2.0, 0.5])
    before = x.tobytes()
    with pytest.raises(DifferentiationError, match=r"x\[0\].*not complex-safe"):
        ComplexStep().gradient(lambda v: np.linalg.norm(v) ** 2, x)
    assert x.tobytes() == before
    assert x.dtype == np.float64


def test_a_coordinate_that_is_not_complex_safe_is_found_in_a_small_gradient() -> None:
    # only x[1] goes through real(): the sample of a task holds its first and last coordinates
    with pytest.raises(DifferentiationError, match=r"at x\[1\], but real differences"):
        ComplexStep().gradient(lambda v: v[0] ** 2 + np.real(v[1]) * v[1], np.array([1.0, 3.0]))


def test_a_jacobian_by_the_complex_step_is_checked_too() -> None:
    with pytest.raises(DifferentiationError, match="not complex-safe"):
        ComplexStep().jacobian(lambda v: np.array([v[0] * v[1], abs(v[1]) * v[1]]), [1.0, 2.0])


class _Declared:
    """An objective that says whether complex steps may go through it."""

    def __init__(self, reason: str | None) -> None:
        self.arrays = {"w": np.array([1.0, 2.0])}
        self.reason = reason
        self.real_calls = 0
        self.inner = Perturbation(lambda: np.sum(self.arrays["w"] ** 3), self.arrays)

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self.arrays

    def value(self) -> float:
        return self.inner.value()

    def changes(self, name: str, index: np.ndarray, steps: np.ndarray) -> np.ndarray:
        if not np.iscomplexobj(steps):
            self.real_calls += 1
        return self.inner.changes(name, index, steps)

    def complex_safety(self) -> str | None:
        return self.reason


def test_an_objective_that_declares_itself_unsafe_is_refused_up_front() -> None:
    objective = _Declared("layer 2 (Clip) uses abs")
    with pytest.raises(
        DifferentiationError, match=r"not complex-safe \(layer 2 \(Clip\) uses abs\)"
    ):
        ComplexStep().gradients(objective)
    assert objective.real_calls == 0


def test_an_objective_that_declares_itself_safe_is_trusted() -> None:
    objective = _Declared(None)
    found = ComplexStep().gradients(objective)
    np.testing.assert_array_equal(found["w"], [3.0, 12.0])
    assert objective.real_calls == 0  # no sample checked against real differences


# --- 6: Richardson at jumps, kinks and noise ----------------------------------------------------

NO_DERIVATIVE: list[tuple[str, Callable[[Any], Any], float, str]] = [
    ("unit step at its jump", lambda v: float(v >= 0), 0.0, "grow apart|a jump"),
    ("floor at its jump", np.floor, 1.0, "grow apart|a jump"),
    ("abs at 0", abs, 0.0, r"forward differences give 1 .* backward ones -1"),
    ("sign at 0", np.sign, 0.0, "grow apart"),
    ("relu at 0", lambda v: max(v, 0.0), 0.0, r"forward differences give 1 .* backward ones 0"),
    ("a removable discontinuity", lambda v: 0.0 if v == 0 else 1.0, 0.0, "a jump"),
]


@pytest.mark.parametrize(
    ("name", "f", "x", "words"), NO_DERIVATIVE, ids=[c[0] for c in NO_DERIVATIVE]
)
def test_richardson_refuses_where_there_is_no_derivative(
    name: str, f: Callable[[Any], Any], x: float, words: str
) -> None:
    with pytest.raises(DifferentiationError, match=rf"f has no derivative at x={x!r}.*({words})"):
        RichardsonDiff().derivative(f, x)


def test_a_kink_near_the_point_is_stepped_past() -> None:
    result = RichardsonDiff().estimate(lambda v: abs(v - 1e-4), 0.0)
    assert abs(result.value + 1.0) <= result.error <= 1e-8


@pytest.mark.parametrize("sigma", [1e-10, 1e-7, 1e-4, 1e-3])
def test_the_bound_holds_under_noise_that_changes_from_call_to_call(sigma: float) -> None:
    rng = np.random.default_rng(int(-math.log10(sigma)))
    held = 0
    for _ in range(100):
        result = RichardsonDiff().estimate(
            lambda v: math.sin(v) + sigma * rng.standard_normal(), 1.0
        )
        held += abs(result.value - math.cos(1.0)) <= result.error
    assert held >= 98


@pytest.mark.parametrize("amplitude", [1e-10, 1e-6, 1e-4])
def test_the_bound_holds_under_noise_that_repeats(amplitude: float) -> None:
    def f(v: float) -> float:  # deterministic, but not smooth: a hash of the point
        return math.sin(v) + amplitude * (hash(v) % 1_000_003 / 500_001.5 - 1)

    for x in np.linspace(0.5, 1.5, 25):
        result = RichardsonDiff().estimate(f, float(x))
        assert abs(result.value - math.cos(x)) <= result.error


def test_the_bound_holds_on_a_float32_rounded_function() -> None:
    for x in np.linspace(0.5, 1.5, 25):
        result = RichardsonDiff().estimate(lambda v: float(np.float32(math.sin(v))), float(x))
        assert abs(result.value - math.cos(x)) <= result.error


@pytest.mark.parametrize("x", [1e308, -1e308, 1.79e308, 5e-324])
def test_valid_points_at_float_extremes(x: float) -> None:
    result = RichardsonDiff().estimate(lambda v: v, x)
    assert abs(result.value - 1.0) <= result.error <= 1e-9


# --- 7: maps and executors ----------------------------------------------------------------------


def _objective() -> Perturbation:
    w = np.linspace(-1.0, 1.0, 40)
    return Perturbation(lambda: float(np.sum(np.sin(w) * w)), {"w": w})


def _reordering(order: Callable[[list[Any]], list[Any]]) -> Callable[..., list[Any]]:
    def map_fn(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        return order([fn(item) for item in items])

    return map_fn


@pytest.mark.parametrize(
    "order",
    [lambda r: r[::-1], lambda r: [r[i] for i in np.random.default_rng(0).permutation(len(r))]],
    ids=["reversed", "shuffled"],
)
def test_results_out_of_order_are_put_back_by_task(order: Callable[[list[Any]], list[Any]]) -> None:
    serial = CentralDiff().gradients(_objective())["w"]
    found = CentralDiff().gradients(_objective(), workers=_reordering(order))["w"]
    assert found.tobytes() == serial.tobytes()


@pytest.mark.parametrize(
    ("order", "words"),
    [
        (lambda r: r[:-1], r"returned \d+ results for \d+ tasks"),
        (lambda r: [*r, r[0]], r"twice or for a task not given"),
        (lambda r: [r[0]] * len(r), r"twice or for a task not given"),
        (lambda r: [None] * len(r), r"returned None for a task"),
    ],
    ids=["short", "long", "duplicates", "not results"],
)
def test_a_map_that_breaks_its_promise_is_a_worker_error(
    order: Callable[[list[Any]], list[Any]], words: str
) -> None:
    w = np.linspace(-1.0, 1.0, 40)
    before = w.tobytes()
    objective = Perturbation(lambda: float(np.sum(np.sin(w) * w)), {"w": w})
    with pytest.raises(WorkerError, match=words):
        CentralDiff().gradients(objective, workers=_reordering(order))
    assert w.tobytes() == before


def test_a_shut_down_executor_is_a_worker_error_before_any_task() -> None:
    calls = [0]
    w = np.ones(20)

    def f() -> float:
        calls[0] += 1
        return float(np.sum(w**2))

    pool = ThreadPoolExecutor(2)
    pool.shutdown()
    with pytest.raises(
        WorkerError, match=r"could not run the tasks \(RuntimeError: cannot schedule"
    ):
        CentralDiff().gradients(Perturbation(f, {"w": w}), workers=pool)
    assert calls[0] == 0  # not even the value at the point: the objective is pickled, not called


def test_a_closed_multiprocessing_pool_is_a_worker_error() -> None:
    pool = multiprocessing.get_context("spawn").Pool(1)
    pool.close()
    pool.join()
    with pytest.raises(
        WorkerError, match=r"could not run the tasks \(ValueError: Pool not running\)"
    ):
        CentralDiff().gradients(_objective(), workers=pool.map)


def test_too_many_processes_are_refused() -> None:
    with pytest.raises(
        ValidationError, match=rf"at most {MAX_PROCESSES}\), .* got workers=1000000"
    ):
        CentralDiff().gradients(_objective(), workers=10**6)
    with pytest.raises(ValidationError, match=rf"processes must be at most {MAX_PROCESSES}"):
        process_pool(10**6)


def test_a_pool_that_lost_a_worker_says_so_and_is_replaced() -> None:
    pool = process_pool(1)
    try:
        (pid,) = set(pool.map(_pid, [0]))
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not is_broken(pool) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert is_broken(pool)
        with pytest.raises(WorkerError, match="a worker process died"):
            CentralDiff().gradients(_objective(), workers=pool)
        fresh = renewed(pool, 1)
        assert fresh is not pool
        assert not is_broken(fresh)
        assert CentralDiff().gradients(_objective(), workers=fresh)["w"].shape == (40,)
        fresh.shutdown()
    finally:
        pool.shutdown(wait=False)


def _pid(_: int) -> int:
    return os.getpid()


def test_an_int_pool_leaves_no_state_file_even_when_a_task_fails() -> None:
    before = _state_files()
    with pytest.raises(DifferentiationError):
        CentralDiff().gradient(lambda v: math.nan if v[3] > 0 else 0.0, np.zeros(40), workers=2)
    assert _left_behind(before) == set()


# --- 8: workers and signals ---------------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    import numpy as np
    from minifw import CentralDiff

    def slow(v):
        start = time.perf_counter()
        while time.perf_counter() - start < 0.002:
            pass
        return float(np.sum(np.sin(v)))

    if __name__ == "__main__":
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("started", flush=True)
        for _ in range(1000):
            CentralDiff().gradient(slow, np.zeros(400), workers=2)
    """
)


def _children(pid: int) -> set[int]:
    """The processes whose parent is `pid`, or that were: by process group."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pid and int(entry.name) != pid:  # the process group
                found.add(int(entry.name))
    return found


def _start(tmp_path: Path) -> subprocess.Popen[str]:
    script = tmp_path / "gradients.py"
    script.write_text(SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "started"
    time.sleep(2.0)  # in the middle of the gradients, pools coming and going
    return process


def _wait_gone(group: int, seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    left = _children(group)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _children(group)
    return left


@pytest.mark.skipif(not Path("/proc").exists(), reason="counts processes through /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_die_with_their_parent(tmp_path: Path, sig: signal.Signals) -> None:
    before = _state_files()
    process = _start(tmp_path)
    os.kill(process.pid, sig)
    process.communicate(timeout=10)  # reaps it and closes its pipes
    assert _wait_gone(process.pid, 5.0) == set()  # no worker, no resource tracker
    assert _left_behind(before) == set()


@pytest.mark.skipif(not Path("/proc").exists(), reason="counts processes through /proc")
def test_ctrl_c_during_a_gradient_with_workers_is_one_clean_interrupt(tmp_path: Path) -> None:
    process = _start(tmp_path)
    start = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)  # the whole group, as a terminal sends it
    _, err = process.communicate(timeout=20)
    assert time.monotonic() - start < 10  # no hang
    assert process.returncode != 0
    assert err.count("Traceback") == 1  # the parent's KeyboardInterrupt, no worker's
    assert err.rstrip().endswith("KeyboardInterrupt")
    assert _wait_gone(process.pid, 5.0) == set()


# --- 11: a float32 result of f ------------------------------------------------------------------


def test_a_float32_result_is_said_for_gradients_and_jacobians() -> None:
    with pytest.warns(
        PrecisionWarning,
        match=r"f returned float32 at the unperturbed point: .* 7 significant digits",
    ):
        CentralDiff().gradient(lambda v: np.float32(np.sum(v**2)), np.array([1.0, 2.0]))
    with pytest.warns(PrecisionWarning, match=r"f returned float32 at the point"):
        CentralDiff().jacobian(lambda v: (v**2).astype(np.float32), [1.0, 2.0])
    with pytest.warns(PrecisionWarning, match=r"f returned float16 at the points"):
        CentralDiff().derivative(
            lambda v: np.sin(v).astype(np.float16), np.ones(3), elementwise=True
        )


def test_a_check_refuses_a_float32_result() -> None:
    with pytest.raises(DifferentiationError, match="f returned float32 for a float64 point"):
        gradcheck_function(lambda v: np.float32(np.sum(v**2)), lambda v: 2 * v, np.ones(2))
