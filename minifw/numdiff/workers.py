r"""Workers: where the tasks of a numerical gradient run.

A numerical gradient is a set of independent tasks: each *chunk* of coordinates asks the objective
for its own changes (see [`Chunked`][minifw.numdiff.objective.Chunked]).
[`run_tasks`][minifw.numdiff.workers.run_tasks] runs them where `workers` says:

- `None` or `1`: one after the other, in this process (the default);
- an `int` \(n \ge 2\): a pool of \(n\) processes ([`process_pool`][minifw.numdiff.workers.process_pool]),
  started for the call and shut down after it (a [`Trainer`][minifw.train.trainer.Trainer] keeps one for
  all its steps);
- a *map-like* callable, `map(fn, iterable)` returning the results in order: the `map` of a
  `multiprocessing.Pool` or of an executor (scipy's `workers` convention);
- a `concurrent.futures.Executor`: a `ThreadPoolExecutor`, a `ProcessPoolExecutor`,
  or the one a `dask.distributed.Client` gives (`client.get_executor()`).

Every task runs on a copy of the objective of its own: the function and its arrays are pickled once
with cloudpickle (which, as in Dask, also serialises lambdas and closures) and rebuilt in the
worker, so the in-place perturbations never touch a shared array, not even with threads. A worker
keeps the copy for the next task of the same call, so it rebuilds the objective once per call, and
the pickled bytes travel to each worker about once: processes of this machine read them from one
file, threads share them, and an executor or map elsewhere (Dask) gets them with its first tasks
(the NOTE at `_Delivery` says why no worker count is needed). The tasks are fixed by the objective
alone, serial evaluation runs the very same tasks, results are put back by task index, and every
task runs with one BLAS thread (OpenBLAS gives different last bits for different thread counts):
the gradient is the same to the last bit whatever the workers, their number or the order in which
they finish.

Workers are not trusted blindly: every result carries its call's token and its task's number, so a
map that returns results out of order is put right, and one that returns too few, too many, or
someone else's is a [`WorkerError`][minifw.numdiff.workers.WorkerError]; so is an executor that is
shut down, a closed `multiprocessing.Pool` or a closed Dask client, before any task runs. A pool
minifw starts for the call (`workers=n`, at most `MAX_PROCESSES`) ignores Ctrl-C, dies with this
process, and is stopped at once when the call is interrupted
([`minifw.numdiff.pools`][minifw.numdiff.pools]); the pickled state is a file that is unlinked as
soon as it is written (workers open it through this process's `/proc/<pid>/fd`), so nothing is
left behind even by `kill -9`.

Examples:
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> def scaled(factor, task):
    ...     return factor * task
    >>> run_tasks(scaled, 10, [1, 2, 3], workers=None)
    [10, 20, 30]
    >>> with ThreadPoolExecutor(2) as pool:
    ...     run_tasks(scaled, 10, [1, 2, 3], workers=pool)
    [10, 20, 30]

"""

from __future__ import annotations

import contextlib
import enum
import operator
import os
import pickle
import tempfile
import threading
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeAlias, TypeVar, final

import attrs
import cloudpickle

from minifw._validation import Check, is_int
from minifw.errors import MinifwError, ValidationError
from minifw.numdiff.blas import blas_threads, one_blas_thread
from minifw.numdiff.pools import MAX_PROCESSES, process_pool, sigint_blocked, stop

__all__ = [
    "MAX_PROCESSES",
    "WORKERS",
    "MapFunction",
    "WorkerError",
    "Workers",
    "blas_threads",
    "check_workers",
    "is_serial",
    "one_blas_thread",
    "process_pool",
    "run_tasks",
]

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

MapFunction: TypeAlias = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]
"""A map-like callable: `map(fn, iterable)` returning `fn`'s results in the iterable's order."""

Workers: TypeAlias = "int | Executor | MapFunction | None"
"""What a `workers` argument accepts (see [`minifw.numdiff.workers`][minifw.numdiff.workers])."""

# How many calls' objectives a worker process keeps (the newest; older ones are dropped).
KEEP_CALLS = 2

_EXPECTED = (
    f"None, a positive integer (the number of processes, at most {MAX_PROCESSES}), a map-like "
    "callable such as pool.map, or a concurrent.futures.Executor"
)


class WorkerError(MinifwError):
    """A task could not be sent to a worker, rebuilt there, or brought back.

    The message says which, and what to do (define the function at module level, drop an open
    file from a closure, compute serially with `workers=None`).
    """


def _count(workers: object) -> int | None:
    """Return `workers` as a Python int when it is an integer (not a bool), else `None`."""
    return operator.index(workers) if is_int(workers) else None  # type: ignore[arg-type]


def _accepts_workers(workers: object) -> bool:
    if workers is None or isinstance(workers, Executor):
        return True
    count = _count(workers)
    if count is not None:
        return 1 <= count <= MAX_PROCESSES
    return callable(workers) and not isinstance(workers, type)


WORKERS = Check(_EXPECTED, _accepts_workers)
"""The check of a `workers` value, shared by the engine, the Trainer and the configuration."""


def check_workers(workers: object, name: str = "workers") -> None:
    """Refuse a `workers` value that is none of the accepted kinds.

    Examples:
        >>> check_workers(2)
        >>> check_workers(0)
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: workers must be None, a positive integer (the number of processes, at most ...), a map-like callable such as pool.map, or a concurrent.futures.Executor, got workers=0

    """
    if WORKERS.accepts(workers):
        return
    if is_int(workers):
        raise ValidationError(WORKERS.message(name, workers))
    hint = ""
    if isinstance(workers, type) and issubclass(workers, Executor):
        hint = f" (pass an executor, not its class: {name}={workers.__name__}(...))"
    elif hasattr(workers, "get_executor"):
        hint = f" (for a Dask client, pass {name}=client.get_executor())"
    elif hasattr(workers, "map"):
        hint = f" (pass its map method: {name}=pool.map)"
    raise ValidationError(
        f"{WORKERS.message(name, workers)} of type {type(workers).__name__}{hint}"
    )


def is_serial(workers: Workers) -> bool:
    """Whether `workers` means "in this process, one task after the other" (None or 1).

    Examples:
        >>> is_serial(None), is_serial(1), is_serial(2)
        (True, True, False)

    """
    return workers is None or _count(workers) == 1


# --- running tasks --------------------------------------------------------------------------


def run_tasks(
    work: Callable[[S, T], R], state: S, tasks: Sequence[T], workers: Workers = None
) -> list[R]:
    """Return `[work(state, task) for task in tasks]`, computed where `workers` says.

    `work` gets a copy of `state` of its own in every worker (the original in serial
    evaluation). A task that raises makes this raise the error of the first failing task in
    task order, as serial evaluation would.

    Examples:
        >>> import numpy as np
        >>> def total(arrays, name):
        ...     return float(arrays[name].sum())
        >>> run_tasks(total, {"a": np.ones(3), "b": np.arange(4.0)}, ["a", "b"], workers=1)
        [3.0, 6.0]

    """
    check_workers(workers)
    tasks = list(tasks)
    if is_serial(workers) or not tasks:
        with one_blas_thread():
            return [work(state, task) for task in tasks]
    count = _count(workers)
    if count is not None:
        pool = process_pool(min(count, len(tasks)))
        try:
            found = _distribute(pool.map, work, state, tasks, _Delivery.FILE)
        except BaseException:
            stop(pool)  # interrupted or failed: do not wait for the tasks still running
            raise
        pool.shutdown()
        return found
    if isinstance(workers, ProcessPoolExecutor):
        return _distribute(workers.map, work, state, tasks, _Delivery.FILE)
    if isinstance(workers, ThreadPoolExecutor):
        return _distribute(workers.map, work, state, tasks, _Delivery.SHARED)
    map_fn = workers.map if isinstance(workers, Executor) else workers
    assert callable(map_fn)
    return _distribute(map_fn, work, state, tasks, _Delivery.FIRST_TASKS)


@final
class _Delivery(enum.Enum):
    """How the pickled state reaches the workers of one call.

    NOTE [ The state once a worker, without counting the workers ]: an executor does not say
    how many workers it has (only its private attributes do), so minifw asks nothing: processes
    of this machine read the state from a file whose path every task carries (`FILE`); threads
    get the same bytes with every task, at no cost (`SHARED`); elsewhere (Dask, a map) the bytes
    go with the first `os.cpu_count()` tasks (`FIRST_TASKS`), and a worker that gets a task
    without them and has no copy answers so: that task goes again, with them.
    """

    FILE = "file"
    SHARED = "shared"
    FIRST_TASKS = "first tasks"


@final
@attrs.frozen
class _Stored:
    """The pickled state, in a file on this machine (for worker processes on this machine).

    `path` is what workers open: `/proc/<pid>/fd/<fd>` of an unlinked file where there is a
    `/proc`, else the file itself (unlinked after the call); `fd` is this process's descriptor.
    """

    path: str
    fd: int
    unlinked: bool


@final
@attrs.frozen
class _Job:
    """One task as sent to a worker: the call's token, the pickled state (or not), its number.

    The pickled state holds the work, the state and every task, so a job itself is small.
    """

    token: str
    payload: bytes | _Stored | None
    task: int


@final
@attrs.frozen
class _Done:
    """A task's value, with the call's token and the task's number."""

    token: str
    task: int
    value: Any


@final
@attrs.frozen
class _Failed:
    """A task's error and its traceback as text, with the call's token and the task's number."""

    token: str
    task: int
    error: BaseException
    trace: str


@final
@attrs.frozen
class _Missing:
    """The worker has no copy of this call's state and the job did not carry one (or its file)."""

    token: str
    task: int


_Outcome: TypeAlias = "_Done | _Failed | _Missing"


def _matched(token: str, todo: list[int], mapped: object) -> dict[int, _Outcome]:
    """Return the map's results by task number, refusing what is not one result per task."""
    try:
        found = list(mapped)  # type: ignore[call-overload]
    except TypeError:
        found = [mapped]
    outcomes: dict[int, _Outcome] = {}
    for outcome in found:
        if not isinstance(outcome, _Done | _Failed | _Missing) or outcome.token != token:
            raise WorkerError(
                f"the map function returned {outcome!r} for a task; workers must be a map-like "
                "callable returning fn's results (in order, such as pool.map)"
            )
        if outcome.task in outcomes or outcome.task not in todo:
            raise WorkerError(
                f"the map function returned task {outcome.task}'s result twice or for a task not "
                "given; workers must be a map-like callable returning fn's results, one per item"
            )
        outcomes[outcome.task] = outcome
    if len(outcomes) != len(todo):
        raise WorkerError(
            f"the map function returned {len(found)} results for {len(todo)} tasks; workers "
            "must be a map-like callable returning fn's results, one per item, such as pool.map"
        )
    return outcomes


def _distribute(
    map_fn: MapFunction,
    work: Callable[[S, T], R],
    state: S,
    tasks: list[T],
    delivery: _Delivery,
) -> list[R]:
    """Run the tasks through `map_fn`, the pickled state delivered as `delivery` says."""
    pickled = _dumps(work, state, tasks)
    stored = _store(pickled) if delivery is _Delivery.FILE else None
    token = uuid.uuid4().hex
    outcomes: dict[int, _Outcome] = {}
    todo = list(range(len(tasks)))
    # A task without the state finds a copy in its worker, or answers _Missing: those tasks go
    # again, with the bytes themselves.
    first = (os.cpu_count() or 1) if delivery is _Delivery.FIRST_TASKS else len(todo)
    carrying: dict[int, bytes | _Stored] = dict.fromkeys(todo[:first], stored or pickled)
    try:
        while todo:
            jobs = [_Job(token, carrying.get(i), i) for i in todo]
            with one_blas_thread():  # for workers that are threads of this process
                mapped = _mapped(map_fn, jobs)
            outcomes.update(_matched(token, todo, mapped))
            todo = [i for i in todo if isinstance(outcomes[i], _Missing)]
            carrying = dict.fromkeys(todo, pickled)
    except BrokenExecutor as err:
        raise WorkerError(
            f"a worker process died before its task finished ({type(err).__name__}: {err}); "
            "was it out of memory, or killed? (A script that starts worker processes must guard "
            "its top level with if __name__ == '__main__':.) The pool cannot be used again"
        ) from err
    finally:
        _forget(token)  # this process's own copies (thread workers)
        if stored is not None:
            _release(stored)
    results: list[R] = []
    for i in range(len(tasks)):
        outcome = outcomes[i]
        if isinstance(outcome, _Failed):
            raise outcome.error from _RemoteTracebackError(outcome.trace)
        assert isinstance(outcome, _Done)
        results.append(outcome.value)
    return results


def _mapped(map_fn: MapFunction, jobs: list[_Job]) -> list[Any]:
    """Return `list(map_fn(_run_job, jobs))`; a map that fails itself is a `WorkerError`.

    A task never raises (its error comes back as a `_Failed`), so what raises here is the map or
    the executor: shut down, closed, broken. Ctrl-C passes through as it is.
    """
    try:
        return list(map_fn(_run_job, jobs))
    except BrokenExecutor:
        raise
    except Exception as err:
        if isinstance(err, MinifwError):
            raise
        raise WorkerError(
            f"the workers could not run the tasks ({type(err).__name__}: {err}): is the executor "
            "shut down, the pool closed or the Dask client closed? Pass a running one, an int "
            "for a pool started for the call, or workers=None"
        ) from err


def _dumps(work: Callable[[S, T], R], state: S, tasks: list[T]) -> bytes:
    try:
        payload: bytes = cloudpickle.dumps((work, state, tasks))
    except Exception as err:
        raise WorkerError(
            "workers other than None/1 run the tasks on copies of the objective, made by "
            f"pickling it, and it cannot be pickled ({type(err).__name__}: {err}). Keep open "
            "files, locks, generators and connections out of the function's closure, or compute "
            "serially with workers=None"
        ) from err
    return payload


def _store(payload: bytes) -> _Stored:
    """Write the pickled state to a private file, in memory (/dev/shm) where there is one.

    Where this process has a `/proc/<pid>/fd`, the file is unlinked at once and workers open it
    through this process's descriptor: it exists only as long as the descriptor, so nothing is
    left behind even if this process is killed.
    """
    folder = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with sigint_blocked():  # a Ctrl-C between creating and unlinking would leave the file
        handle, path = tempfile.mkstemp(prefix="minifw-state-", suffix=".pkl", dir=folder)
        through = f"/proc/{os.getpid()}/fd/{handle}"
        unlinked = os.path.exists(through)
        if unlinked:
            os.unlink(path)
    written = 0
    while written < len(payload):
        written += os.write(handle, memoryview(payload)[written:])
    return _Stored(through if unlinked else path, handle, unlinked)


def _release(stored: _Stored) -> None:
    """Close the state's file (and remove it where it has a name)."""
    with contextlib.suppress(OSError):
        os.close(stored.fd)
    if not stored.unlinked:  # pragma: no cover - no /proc
        with contextlib.suppress(OSError):
            os.unlink(stored.path)


class _RemoteTracebackError(Exception):
    """The traceback of a task, as text, from the worker that ran it."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_cache_lock = threading.Lock()
# Per call token, the idle copies of the state in this process (a worker takes one, or
# unpickles its own, and puts it back when its task is done).
_cache: OrderedDict[str, list[Any]] = OrderedDict()


def _checkout(job: _Job) -> Any:
    with _cache_lock:
        idle = _cache.get(job.token)
        if idle:
            return idle.pop()
        if job.payload is None:
            return _Missing(job.token, job.task)
    if isinstance(job.payload, _Stored):
        try:
            with open(job.payload.path, "rb") as file:
                data = file.read()
        except OSError:  # no access to the parent's descriptor: ask for the bytes instead
            return _Missing(job.token, job.task)
        return pickle.loads(data)
    return pickle.loads(job.payload)


def _checkin(token: str, copy: Any) -> None:
    with _cache_lock:
        _cache.setdefault(token, []).append(copy)
        _cache.move_to_end(token)
        while len(_cache) > KEEP_CALLS:
            _cache.popitem(last=False)


def _forget(token: str) -> None:
    with _cache_lock:
        _cache.pop(token, None)


def _run_job(job: _Job) -> _Done | _Failed | _Missing:
    """Run one task on this worker's copy of the state (the function a worker is sent)."""
    try:
        copy = _checkout(job)
    except Exception as err:
        return _failure(
            job,
            WorkerError(
                "the objective could not be rebuilt in a worker "
                f"({type(err).__name__}: {err}); a function defined in a module must be "
                "importable there (or defined in __main__, which is sent by value)"
            ),
        )
    if isinstance(copy, _Missing):
        return copy
    work, state, tasks = copy
    try:
        with one_blas_thread():
            threads = blas_threads()
            if threads != 1:
                raise WorkerError(
                    f"a task found BLAS using {threads} threads in its worker, which changes the "
                    "last bits of matrix products; minifw limits BLAS to one thread, but only "
                    "the main thread of a process can (see minifw.numdiff.workers). Start the workers "
                    "with OPENBLAS_NUM_THREADS=1 (and OMP_NUM_THREADS=1, MKL_NUM_THREADS=1), "
                    "as Dask does, or call from the main thread"
                )
            value = work(state, tasks[job.task])
    except Exception as err:
        return _failure(job, err)  # the copy may be half-changed: it is not kept
    _checkin(job.token, copy)
    return _Done(job.token, job.task, value)


def _failure(job: _Job, err: Exception) -> _Failed:
    trace = "".join(traceback.format_exception(err))
    try:
        pickle.dumps(err)
    except Exception:
        err = WorkerError(f"a task failed with an error that cannot be sent back: {err!r}")
    return _Failed(job.token, job.task, err, trace)
