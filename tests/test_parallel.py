"""Parallel and distributed gradients: every kind of worker gives the serial result, bit for bit.

The workers are a pool of processes (``workers=2``), a ``ProcessPoolExecutor`` and its ``map``, a
``ThreadPoolExecutor``, and the executor of a Dask ``LocalCluster``; the objectives a module-level
function, a closure, a generic model (one :class:`~minifw.Perturbation`) and the layered
objectives of ``TwoLayerNet`` and ``MultiLayerNet``. "Equal" means ``np.array_equal``.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, final

import attrs
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_contracts import DIFFERENTIATORS
from threadpoolctl import threadpool_limits

import minifw.numdiff.workers
from minifw import (
    MNIST,
    Adam,
    Backprop,
    CentralDiff,
    CrossEntropy,
    Differentiator,
    ForwardDiff,
    Model,
    MultiLayerNet,
    Perturbation,
    RandomChoiceSampler,
    RichardsonDiff,
    Trainer,
    TwoLayerNet,
    gradcheck,
)
from minifw.errors import ConfigError, DifferentiationError, MinifwError, ValidationError
from minifw.numdiff.objective import Chunked, Objective, task_chunks
from minifw.numdiff.workers import (
    WorkerError,
    blas_threads,
    one_blas_thread,
    process_pool,
    run_tasks,
)
from minifw.typing import ArrayLike, FloatArray, IntArray

Grads = dict[str, FloatArray]


def assert_bitwise_equal(a: Mapping[str, FloatArray], b: Mapping[str, FloatArray]) -> None:
    assert list(a) == list(b)
    for name in a:
        assert a[name].shape == b[name].shape
        assert np.array_equal(a[name], b[name]), (
            f"{name}: max |d| {np.max(np.abs(a[name] - b[name]))}"
        )


# --- the objectives ---------------------------------------------------------------------------

RNG = np.random.default_rng(11)
X0 = RNG.normal(size=40)


def styblinski_tang(x: FloatArray) -> float:
    """A module-level function (pickled by reference, rebuilt in the worker by import)."""
    return float(0.5 * np.sum(x**4 - 16.0 * x**2 + 5.0 * x))


def closure_objective() -> Perturbation:
    """A closure over arrays that are also the parameters: pickled by value, with the arrays."""
    rng = np.random.default_rng(5)
    w = rng.normal(size=(6, 5))
    b = rng.normal(size=5)
    data = rng.normal(size=(30, 6))

    def f() -> float:
        return float(np.sum(np.tanh(data @ w + b) ** 2))

    return Perturbation(f, {"w": w, "b": b})


@final
@attrs.define(eq=False)
class Softplus(Model):
    """A generic model (no layers): its objective perturbs the parameters and calls predict."""

    W: FloatArray = attrs.field(factory=lambda: np.random.default_rng(2).normal(size=(12, 3)))
    params: dict[str, FloatArray] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.params = {"W": self.W}

    def predict(self, x: ArrayLike) -> FloatArray:
        scores = np.asarray(x, dtype=np.float64) @ self.W
        out: FloatArray = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
        return out


X_BATCH = RNG.random((9, 12))
T_BATCH = RNG.integers(0, 3, size=9)


def model_objective() -> Objective:
    return Softplus().objective(X_BATCH, T_BATCH, CrossEntropy())


def sample_batch(size: int = 60) -> tuple[FloatArray, IntArray]:
    data = MNIST.sample()
    return RandomChoiceSampler(size, seed=3).minibatch(data.train.x, data.train.t)


def two_layer_objective() -> Objective:
    x, t = sample_batch()
    return TwoLayerNet(seed=0).objective(x, t, CrossEntropy())


def multi_layer_objective() -> Objective:
    x, t = sample_batch(30)
    net = MultiLayerNet(784, (40, 20), 10, activation="tanh", seed=1)
    return net.objective(x, t, CrossEntropy())


OBJECTIVES: dict[str, Callable[[], Objective]] = {
    "closure": closure_objective,
    "generic model": model_objective,
    "TwoLayerNet": two_layer_objective,
    "MultiLayerNet": multi_layer_objective,
}


# --- the workers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def processes() -> Iterator[ProcessPoolExecutor]:
    with process_pool(2) as pool:
        yield pool


@pytest.fixture(scope="module")
def threads() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(3) as pool:
        yield pool


WORKER_KINDS = ["int", "process executor", "process map", "thread executor"]


def workers_of(kind: str, processes: ProcessPoolExecutor, threads: ThreadPoolExecutor) -> Any:
    return {
        "int": 2,
        "process executor": processes,
        "process map": processes.map,
        "thread executor": threads,
    }[kind]


@pytest.mark.parametrize("kind", WORKER_KINDS)
def test_a_module_level_function(
    kind: str, processes: ProcessPoolExecutor, threads: ThreadPoolExecutor
) -> None:
    x = X0.copy()
    serial = CentralDiff().gradient(styblinski_tang, x)
    parallel = CentralDiff().gradient(
        styblinski_tang, x, workers=workers_of(kind, processes, threads)
    )
    assert np.array_equal(parallel, serial)
    assert np.array_equal(x, X0)  # the caller's array is left as it was
    np.testing.assert_allclose(serial, 2.0 * X0**3 - 16.0 * X0 + 2.5, rtol=1e-7)


def test_a_function_of_an_installed_module(processes: ProcessPoolExecutor) -> None:
    # numpy.linalg.norm is pickled by reference and imported in the workers.
    x = np.linspace(-1.0, 1.5, 30)
    serial = CentralDiff().gradient(np.linalg.norm, x)
    assert np.array_equal(CentralDiff().gradient(np.linalg.norm, x, workers=processes), serial)
    np.testing.assert_allclose(serial, x / np.linalg.norm(x), rtol=1e-8)


@pytest.mark.parametrize("objective", list(OBJECTIVES))
@pytest.mark.parametrize("kind", WORKER_KINDS)
def test_every_worker_gives_the_serial_gradient(
    kind: str, objective: str, processes: ProcessPoolExecutor, threads: ThreadPoolExecutor
) -> None:
    build = OBJECTIVES[objective]
    serial = CentralDiff().gradients(build())
    target = build()
    before = {name: arr.copy() for name, arr in target.params.items()}
    parallel = CentralDiff().gradients(target, workers=workers_of(kind, processes, threads))
    assert_bitwise_equal(parallel, serial)
    for name, arr in target.params.items():  # workers perturb copies; nothing moved here
        assert np.array_equal(arr, before[name])


def test_the_layered_gradient_is_still_the_exact_one_to_within_the_stencil() -> None:
    # A sanity check beside the bitwise ones: the parallel layered gradient is the gradient.
    x, t = sample_batch()
    net = TwoLayerNet(seed=0)
    grads = CentralDiff().gradients(net.objective(x, t, CrossEntropy()), workers=2)
    exact = net.backprop(x, t, CrossEntropy())
    for name, value in exact.items():
        scale = float(np.max(np.abs(value)))
        np.testing.assert_allclose(grads[name], value, rtol=0, atol=1e-7 * scale)


def test_lambdas_go_to_processes(processes: ProcessPoolExecutor) -> None:
    x = np.array([1.0, -2.0, 0.5])
    serial = ForwardDiff().gradient(lambda v: float(np.sum(np.sin(v) * v)), x)
    parallel = ForwardDiff().gradient(lambda v: float(np.sum(np.sin(v) * v)), x, workers=processes)
    assert np.array_equal(parallel, serial)


def test_gradcheck_with_workers(processes: ProcessPoolExecutor) -> None:
    x, t = sample_batch()
    net = TwoLayerNet(seed=0)
    serial = gradcheck(net, x, t)
    parallel = gradcheck(net, x, t, workers=processes)
    assert str(parallel) == str(serial)
    for mine, theirs in zip(parallel.checks, serial.checks, strict=True):
        assert (mine.max_abs_error, mine.numerical, mine.worst_index) == (
            theirs.max_abs_error,
            theirs.numerical,
            theirs.worst_index,
        )
    assert parallel.passed


def small_layered_objective() -> Objective:
    """A layered objective small enough for every scheme (it takes complex steps too)."""
    net = TwoLayerNet(input_size=8, hidden_size=5, output_size=3, weight_init_std=0.5, seed=4)
    x = np.random.default_rng(4).random((6, 8))
    return net.objective(x, np.array([0, 1, 2, 1, 0, 2]), CrossEntropy())


@pytest.mark.parametrize("diff", DIFFERENTIATORS, ids=lambda d: type(d).__name__)
def test_every_scheme_spreads_its_estimates(
    diff: Differentiator, processes: ProcessPoolExecutor
) -> None:
    # estimates() honours workers for every scheme (Richardson's used to run serially).
    serial = diff.estimates(small_layered_objective())
    parallel = diff.estimates(small_layered_objective(), workers=processes)
    assert list(parallel) == list(serial)
    for name, found in serial.items():
        assert parallel[name] == found  # values bit for bit, the same bounds, evaluations
    values = {name: found.value for name, found in serial.items()}
    assert_bitwise_equal(diff.gradients(small_layered_objective()), values)


def test_gradcheck_with_richardson_runs_on_the_workers() -> None:
    batches: list[int] = []

    def counting_map(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        jobs = list(items)
        batches.append(len(jobs))
        return [fn(job) for job in jobs]

    net = TwoLayerNet(input_size=8, hidden_size=5, output_size=3, weight_init_std=0.5, seed=4)
    x, t = np.random.default_rng(4).random((6, 8)), np.array([0, 1, 2, 1, 0, 2])
    serial = gradcheck(net, x, t, differentiator=RichardsonDiff(), tolerance=1e-10)
    parallel = gradcheck(
        net, x, t, differentiator=RichardsonDiff(), tolerance=1e-10, workers=counting_map
    )
    assert sum(batches) >= 2  # the tasks went through the map
    assert str(parallel) == str(serial)
    assert [c.error_bound for c in parallel.checks] == [c.error_bound for c in serial.checks]


# --- order of completion, missing copies --------------------------------------------------


def shuffled_map(seed: int) -> Callable[[Callable[[Any], Any], Iterable[Any]], list[Any]]:
    """A map that runs the tasks in a random order on 4 threads and returns them in order."""

    def map_fn(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        jobs = list(items)
        order = list(range(len(jobs)))
        random.Random(seed).shuffle(order)
        results: list[Any] = [None] * len(jobs)
        with ThreadPoolExecutor(4) as pool:
            for i, value in zip(order, pool.map(fn, [jobs[i] for i in order]), strict=True):
                results[i] = value
        return results

    return map_fn


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_order_of_completion_does_not_matter(seed: int) -> None:
    serial = CentralDiff().gradients(two_layer_objective())
    assert_bitwise_equal(
        CentralDiff().gradients(two_layer_objective(), workers=shuffled_map(seed)), serial
    )


def test_a_worker_without_a_copy_is_sent_one() -> None:
    # Only the first tasks carry the pickled objective; a worker that has no copy (here: every
    # worker forgets before each task) answers so, and gets the task again with the objective.
    calls: list[int] = []

    def forgetful_map(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        jobs = list(items)
        calls.append(len(jobs))
        results = []
        for job in jobs:
            minifw.numdiff.workers._cache.clear()
            results.append(fn(job))
        return results

    serial = CentralDiff().gradients(closure_objective())
    parallel = CentralDiff().gradients(closure_objective(), workers=forgetful_map)
    assert_bitwise_equal(parallel, serial)
    assert len(calls) == 2  # a second round for the tasks that found no copy



@final
class CountingThreads(ThreadPoolExecutor):
    """A thread pool that counts the rounds of tasks it is given (its map calls)."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.rounds = 0

    def map(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self.rounds += 1
        return super().map(*args, **kwargs)


def test_threads_need_no_count_and_no_second_round() -> None:
    # Threads of this process share the pickled bytes, so every task carries them and no task
    # finds itself without the objective, however many threads and tasks (no worker count is
    # read from the pool).
    serial = CentralDiff().gradients(two_layer_objective())
    with CountingThreads(5) as pool:
        parallel = CentralDiff().gradients(two_layer_objective(), workers=pool)
    assert_bitwise_equal(parallel, serial)
    assert pool.rounds == 1


def test_a_map_that_breaks_its_promise_is_named() -> None:
    def bad_map(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        return [None for _ in items]

    with pytest.raises(WorkerError, match="map-like callable"):
        CentralDiff().gradients(closure_objective(), workers=bad_map)


# --- errors in tasks, unpicklable and unusable objectives ------------------------------------


def failing(x: FloatArray) -> float:
    """Not finite once x[7] moves up: the serial error names the coordinate."""
    return float(np.sum(x**2)) if x[7] <= 0.0 else float("nan")


@pytest.mark.parametrize("kind", WORKER_KINDS)
def test_an_error_in_a_task_is_the_serial_error(
    kind: str, processes: ProcessPoolExecutor, threads: ThreadPoolExecutor
) -> None:
    x = np.zeros(30)
    with pytest.raises(DifferentiationError) as serial:
        CentralDiff().gradient(failing, x)
    with pytest.raises(DifferentiationError) as parallel:
        CentralDiff().gradient(failing, x, workers=workers_of(kind, processes, threads))
    assert str(parallel.value) == str(serial.value)
    assert "x[7]" in str(serial.value)


def test_an_unpicklable_closure_is_refused_clearly(processes: ProcessPoolExecutor) -> None:
    lock = threading.Lock()
    w = np.ones(3)

    def f() -> float:
        with lock:
            return float(np.sum(w**2))

    objective = Perturbation(f, {"w": w})
    with pytest.raises(
        WorkerError, match=r"cannot be pickled \(TypeError: cannot pickle '_thread.lock'"
    ) as err:
        CentralDiff().gradients(objective, workers=processes)
    assert "workers=None" in str(err.value)
    np.testing.assert_allclose(CentralDiff().gradients(objective)["w"], 2.0)  # serial works


W_GLOBAL = np.array([1.0, 2.0, 3.0])


def reads_a_global() -> float:
    return float(np.sum(W_GLOBAL**2))


def test_a_parameter_read_as_a_module_global_is_refused(processes: ProcessPoolExecutor) -> None:
    # Its copy in a worker would read the module's own array, never perturbed: every change 0.
    objective = Perturbation(reads_a_global, {"W": W_GLOBAL})
    with pytest.raises(
        DifferentiationError, match="reads parameter 'W' as the module global 'W_GLOBAL'"
    ):
        CentralDiff().gradients(objective, workers=processes)
    np.testing.assert_allclose(CentralDiff().gradients(objective)["W"], 2.0 * W_GLOBAL)


def test_a_closure_over_a_module_global_is_fine(threads: ThreadPoolExecutor) -> None:
    # A lambda is pickled by value, its globals with it, so the copy reads the copy's array.
    w = np.array([1.0, 2.0, 3.0])
    objective = Perturbation(lambda: float(np.sum(w**2)), {"W": w})
    grads = CentralDiff().gradients(objective, workers=threads)
    np.testing.assert_allclose(grads["W"], 2.0 * w)


BAD_WORKERS: list[tuple[object, str]] = [
    (0, "got workers=0"),
    (-2, "got workers=-2"),
    (True, "got workers=True of type bool"),
    ("2", "got workers='2' of type str"),
    (2.0, "got workers=2.0 of type float"),
    (ProcessPoolExecutor, "not its class: workers=ProcessPoolExecutor(...)"),
]


@pytest.mark.parametrize(("workers", "words"), BAD_WORKERS)
def test_bad_workers_are_refused(workers: object, words: str) -> None:
    objective = closure_objective()
    with pytest.raises(ValidationError, match="workers must be None, a positive integer") as err:
        CentralDiff().gradients(objective, workers=workers)  # type: ignore[arg-type]
    assert words in str(err.value)
    with pytest.raises(ValidationError, match=re.escape(words)):
        CentralDiff().gradient(styblinski_tang, X0, workers=workers)  # type: ignore[arg-type]


def test_a_pool_object_is_pointed_to_its_map() -> None:
    with (
        multiprocessing.get_context("spawn").Pool(1) as pool,
        pytest.raises(ValidationError, match=r"pass its map method: workers=pool.map"),
    ):
        CentralDiff().gradients(closure_objective(), workers=pool)  # type: ignore[arg-type]


@final
class FakeClient:
    """Looks like a dask.distributed.Client: has get_executor (and map)."""

    def get_executor(self) -> Executor:
        raise AssertionError

    def map(self, *args: object) -> None:
        raise AssertionError


def test_a_dask_client_is_pointed_to_its_executor() -> None:
    with pytest.raises(ValidationError, match=r"workers=client.get_executor\(\)"):
        CentralDiff().gradients(closure_objective(), workers=FakeClient())  # type: ignore[arg-type]


def test_a_dead_worker_is_a_minifw_error() -> None:
    def suicidal() -> float:
        import os

        os._exit(3)

    with pytest.raises(WorkerError, match="a worker process died"):
        CentralDiff().gradients(Perturbation(suicidal, {"w": np.ones(2)}), workers=2)


# --- pools are shut down -----------------------------------------------------------------------


def test_an_int_pool_is_shut_down_after_the_call() -> None:
    before = set(multiprocessing.active_children())  # the module's own pool, if started
    CentralDiff().gradients(closure_objective(), workers=2)
    # No new process is left; one of `before` may have been reaped meanwhile (an earlier test's
    # dead worker, say).
    assert set(multiprocessing.active_children()) <= before


# --- the chunks --------------------------------------------------------------------------------


@pytest.mark.parametrize("objective", ["TwoLayerNet", "MultiLayerNet"])
def test_layered_objectives_hand_out_pieces_of_units(objective: str) -> None:
    target = OBJECTIVES[objective]()
    assert isinstance(target, Chunked)
    tasks = task_chunks(target, 1 << 16)
    for name, arr in target.params.items():
        counts = np.zeros(arr.size, dtype=int)
        for task in tasks:
            if name in task:
                np.add.at(counts, task[name], 1)
        assert np.all(counts == 1), name
    # The W columns and b entries of the same units travel together.
    for task in tasks:
        names = sorted(task)
        if len(names) == 2:
            w_name, b_name = names
            width = target.params[w_name].shape[1]
            assert np.array_equal(np.unique(task[w_name] % width), task[b_name])


def test_a_piece_is_computed_the_same_alone_or_after_others() -> None:
    # What a task returns depends on the task alone, not on what its copy computed before.
    objective = two_layer_objective()
    tasks = task_chunks(objective, 1 << 16)
    steps = np.array([1e-4, -1e-4])
    alone = [
        {n: two_layer_objective().changes(n, i, steps) for n, i in task.items()}
        for task in tasks
    ]
    shared = two_layer_objective()
    for task, expected in reversed(list(zip(tasks, alone, strict=True))):
        for name, index in task.items():
            assert np.array_equal(shared.changes(name, index, steps), expected[name])


@given(
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=5),
    max_size=st.integers(1, 100),
)
def test_the_default_split_holds_every_coordinate_once(sizes: list[int], max_size: int) -> None:
    arrays = {f"p{i}": np.zeros(n) for i, n in enumerate(sizes)}
    tasks = task_chunks(Perturbation(lambda: 0.0, arrays), max_size)
    assert 1 <= len(tasks) <= sum(sizes)
    for task in tasks:
        assert 1 <= sum(index.size for index in task.values()) <= max_size
    for name, arr in arrays.items():
        joined = np.concatenate([task[name] for task in tasks if name in task])
        assert np.array_equal(joined, np.arange(arr.size))


@final
@attrs.define(eq=False)
class BadChunks:
    """A Chunked objective whose chunks are wrong in a given way."""

    how: str
    w: FloatArray = attrs.field(factory=lambda: np.array([1.0, 2.0, 3.0]))

    @property
    def params(self) -> Mapping[str, FloatArray]:
        return {"w": self.w}

    def value(self) -> float:
        return float(np.sum(self.w**2))

    def changes(self, name: str, index: IntArray, steps: Any) -> Any:
        base = self.w[index][:, None]
        return (base + steps[None, :]) ** 2 - base**2

    def chunks(self) -> Sequence[Mapping[str, IntArray]]:
        return {
            "missing": [{"w": np.array([0, 2])}],
            "unknown": [{"v": np.array([0, 1, 2])}],
            "outside": [{"w": np.array([0, 1, 2, 3])}],
            "floats": [{"w": np.array([0.0, 1.0, 2.0])}],
        }[self.how]


@pytest.mark.parametrize(
    ("how", "words"),
    [
        ("missing", r"BadChunks.chunks\(\) leaves out w\[1\]"),
        ("unknown", r"must map parameter names \(\['w'\]\) to flat integer indices, got 'v'"),
        ("outside", r"has indices of 'w' outside 0..2"),
        ("floats", r"got 'w': dtype float64"),
    ],
)
def test_wrong_chunks_are_refused(how: str, words: str) -> None:
    with pytest.raises(DifferentiationError, match=words):
        CentralDiff().gradients(BadChunks(how))


def test_correct_user_chunks_are_used() -> None:
    @final
    @attrs.define(eq=False)
    class Reversed:
        inner: BadChunks

        @property
        def params(self) -> Mapping[str, FloatArray]:
            return self.inner.params

        def value(self) -> float:
            return self.inner.value()

        def changes(self, name: str, index: IntArray, steps: Any) -> Any:
            return self.inner.changes(name, index, steps)

        def chunks(self) -> Sequence[Mapping[str, IntArray]]:
            return [{"w": np.array([2])}, {"w": np.array([1, 0])}]

    grads = CentralDiff().gradients(Reversed(BadChunks("missing")))
    np.testing.assert_allclose(grads["w"], [2.0, 4.0, 6.0])


# --- run_tasks and the BLAS limit ------------------------------------------------------------


def add(base: int, task: int) -> int:
    return base + task


def test_run_tasks_keeps_the_order(processes: ProcessPoolExecutor) -> None:
    assert run_tasks(add, 100, range(7), workers=processes) == [100, 101, 102, 103, 104, 105, 106]
    assert run_tasks(add, 100, [], workers=processes) == []


def test_one_blas_thread_nests_and_restores() -> None:
    with threadpool_limits(2, user_api="blas"):
        assert blas_threads() == 2
        with one_blas_thread():
            assert blas_threads() == 1
            with one_blas_thread():
                assert blas_threads() == 1
            assert blas_threads() == 1  # the outer block still holds the limit
        assert blas_threads() == 2


def test_thread_workers_run_with_one_blas_thread() -> None:
    # The caller sets the limit for the threads of its own process.
    def threads_seen(_: None, task: int) -> int:
        return blas_threads()

    with threadpool_limits(2, user_api="blas"), ThreadPoolExecutor(2) as pool:
        assert run_tasks(threads_seen, None, range(4), workers=pool) == [1, 1, 1, 1]
        assert blas_threads() == 2


def test_a_task_that_cannot_limit_blas_refuses_to_run() -> None:
    # OpenBLAS ignores a limit set from a thread other than the main one: a gradient asked for
    # from such a thread, with thread workers, would run with two BLAS threads. It says so.
    def limited_in_a_thread() -> int:
        with threadpool_limits(1, user_api="blas"):
            return blas_threads()

    with threadpool_limits(2, user_api="blas"), ThreadPoolExecutor(1) as probe:
        if probe.submit(limited_in_a_thread).result() == 1:
            pytest.skip("this BLAS takes a limit set from any thread")
    errors: list[BaseException] = []

    def from_a_thread() -> None:
        try:
            with ThreadPoolExecutor(2) as pool:
                CentralDiff().gradients(two_layer_objective(), workers=pool)
        except BaseException as err:
            errors.append(err)

    with threadpool_limits(2, user_api="blas"):
        caller = threading.Thread(target=from_a_thread)
        caller.start()
        caller.join()
    assert len(errors) == 1
    assert isinstance(errors[0], WorkerError)
    assert "OPENBLAS_NUM_THREADS=1" in str(errors[0])


def test_errors_are_minifw_errors() -> None:
    assert issubclass(WorkerError, MinifwError)


def test_the_differentiator_may_be_a_users_own_class(processes: ProcessPoolExecutor) -> None:
    @final
    @attrs.frozen
    class Fourth(Differentiator):
        @property
        def stencil(self) -> minifw.Stencil:
            return minifw.Stencil((2.0, 1.0, -1.0, -2.0), (-1 / 12, 8 / 12, -8 / 12, 1 / 12))

    serial = Fourth(h=1e-3).gradients(closure_objective())
    assert_bitwise_equal(Fourth(h=1e-3).gradients(closure_objective(), workers=processes), serial)


# --- the Trainer -------------------------------------------------------------------------------


def trainer(**overrides: Any) -> Trainer:
    options: dict[str, Any] = {
        "model": TwoLayerNet(hidden_size=30, seed=0),
        "dataset": MNIST.sample(),
        "sampler": RandomChoiceSampler(40, seed=0),
        "optimizer": Adam(learning_rate=0.01),
        "progress": False,
        "eval_every": 0,
        **overrides,
    }
    return Trainer(**options)


def test_a_trainer_with_workers_trains_the_serial_parameters() -> None:
    before = set(multiprocessing.active_children())
    serial, parallel = trainer(), trainer(workers=2)
    serial.fit(3)
    parallel.fit(3)
    assert parallel.history.loss == serial.history.loss
    assert_bitwise_equal(parallel.model.params, serial.model.params)
    assert set(multiprocessing.active_children()) == before  # fit shut its pool down


def test_a_trainer_keeps_its_pool_inside_a_with_block() -> None:
    before = set(multiprocessing.active_children())
    with trainer(workers=2) as parallel:
        parallel.fit(1)
        pool = parallel._workers()
        parallel.fit(1)
        parallel.step()
        assert parallel._workers() is pool  # one pool for every fit and step
        assert len(set(multiprocessing.active_children()) - before) == 2
    assert set(multiprocessing.active_children()) == before
    serial = trainer()
    serial.fit(2)
    serial.step()
    assert_bitwise_equal(parallel.model.params, serial.model.params)


def test_a_trainer_closes_a_pool_started_outside_fit() -> None:
    before = set(multiprocessing.active_children())
    parallel = trainer(workers=2)
    x, t = parallel.minibatch()
    assert_bitwise_equal(parallel.gradient(x, t), trainer().gradient(x, t))
    assert len(set(multiprocessing.active_children()) - before) == 2
    parallel.close()
    parallel.close()  # twice is fine
    assert set(multiprocessing.active_children()) == before


def test_a_trainer_leaves_an_executor_it_was_given_alone(threads: ThreadPoolExecutor) -> None:
    parallel = trainer(workers=threads)
    parallel.fit(2)
    serial = trainer()
    serial.fit(2)
    assert_bitwise_equal(parallel.model.params, serial.model.params)
    assert run_tasks(add, 1, [1], workers=threads) == [2]  # still usable


@pytest.mark.parametrize("workers", [0, -1, True, "2", 1.5])
def test_a_trainer_refuses_bad_workers(workers: object) -> None:
    with pytest.raises(
        ConfigError,
        match=rf"Trainer field workers must be None, a positive integer .*, got workers={re.escape(repr(workers))}",
    ):
        trainer(workers=workers)


def test_workers_with_backprop_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"workers=2 spreads a numerical gradient.*Backprop"):
        trainer(workers=2, differentiator=Backprop())
    assert trainer(workers=1, differentiator=Backprop()).workers == 1


# --- Dask ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[Executor]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client.get_executor()


@pytest.mark.slow
@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_a_dask_cluster_gives_the_serial_gradient(objective: str, dask_executor: Executor) -> None:
    build = OBJECTIVES[objective]
    serial = CentralDiff().gradients(build())
    assert_bitwise_equal(CentralDiff().gradients(build(), workers=dask_executor), serial)


@pytest.mark.slow
def test_a_dask_cluster_with_a_module_level_function(dask_executor: Executor) -> None:
    serial = CentralDiff().gradient(styblinski_tang, X0)
    assert np.array_equal(
        CentralDiff().gradient(styblinski_tang, X0, workers=dask_executor), serial
    )


@pytest.mark.slow
def test_a_trainer_on_a_dask_cluster(dask_executor: Executor) -> None:
    parallel = trainer(workers=dask_executor)
    parallel.fit(2)
    serial = trainer()
    serial.fit(2)
    assert_bitwise_equal(parallel.model.params, serial.model.params)


def test_no_state_file_is_left_behind(processes: ProcessPoolExecutor) -> None:
    # Worker processes of this machine read the pickled objective from a file: it goes away.
    folder = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else Path(tempfile.gettempdir())
    before = set(folder.glob("minifw-state-*"))
    CentralDiff().gradients(closure_objective(), workers=processes)
    with pytest.raises(DifferentiationError):
        CentralDiff().gradient(failing, np.zeros(30), workers=processes)
    assert set(folder.glob("minifw-state-*")) == before


# --- the benchmark ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_benchmark_runs() -> None:
    # Its tables and target lines are printed; timings are never asserted (shared machines).
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "parallel.py"
    result = subprocess.run(
        [sys.executable, str(script), "--quick", "--before", ""],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for title in (
        "1. black box",
        "2. when two processes pay off",
        "3. fast path, TwoLayerNet 784-50-10",
        "3. fast path, MultiLayerNet 784-100-100-10",
    ):
        assert title in out
    # no --before: issue 11's two targets and issue 20's one
    assert out.count("  PASS  ") + out.count("  FAIL  ") == 3
    assert "load average" in out
