r"""Numerical differentiation: derivatives from differences of function values.

A :class:`Differentiator` is a finite-difference scheme: a step ``h`` and a :class:`Stencil` of
offsets :math:`o_k` and weights :math:`w_k` with

.. math::

    f'(x) \approx \frac{1}{h} \sum_k w_k \big(f(x + o_k h) - f(x)\big).

One engine evaluates every scheme. It asks an :class:`Objective` for the *changes*
:math:`L(\theta + o_k h e_i) - L(\theta)` of many coordinates :math:`i` at once, so an objective
that knows its own structure (such as :class:`~minifw.models.TwoLayerNet`'s) can answer in bulk,
while :class:`Perturbation` answers for any black-box function, one coordinate at a time.

>>> from minifw import CentralDiff
>>> CentralDiff().derivative(lambda x0: x0 * x0 + 4.0**2.0, 3.0)
6.00000000000378
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any, final

import attrs
import numpy as np

from minifw._validation import positive_float, to_float
from minifw.errors import DifferentiationError, ValidationError
from minifw.objective import Objective, Perturbation, check_copyable, describe, task_chunks
from minifw.parallel import Workers, check_workers, is_serial, run_tasks
from minifw.typing import ArrayLike, FloatArray, IntArray

__all__ = ["BackwardDiff", "CentralDiff", "Differentiator", "ForwardDiff", "Stencil"]

#: Most coordinates in one task of an objective split by default; bounds the engine's scratch.
ENGINE_CHUNK = 1 << 16


def _as_offsets(values: object) -> tuple[float, ...]:
    # Numbers only: float("12") would quietly turn text into digits.
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValidationError(
            f"stencil offsets and weights must be sequences of numbers, got {values!r}"
        )
    items = tuple(values)
    for v in items:
        if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Number):
            raise ValidationError(
                f"stencil offsets and weights must be numbers, got {v!r} in {values!r}"
            )
    return tuple(float(v) for v in items)


@attrs.frozen
class Stencil:
    r"""Offsets and weights of a first-derivative finite-difference formula.

    The formula is :math:`f'(x) \approx \frac1h \sum_k w_k \big(f(x + o_k h) - f(x)\big)`.
    Writing it with differences from :math:`f(x)` drops the weight of the centre point (the
    weights of a consistent first-derivative formula sum to zero), so ``offsets`` never contains
    0. Consistency also requires :math:`\sum_k w_k o_k = 1`, which is checked.

    >>> Stencil(offsets=(1.0, -1.0), weights=(0.5, -0.5))  # central difference
    Stencil(offsets=(1.0, -1.0), weights=(0.5, -0.5))
    >>> Stencil(offsets=(1.0,), weights=(2.0,))
    Traceback (most recent call last):
    ...
    minifw.errors.ValidationError: stencil weights must satisfy sum(w * o) == 1 for a first derivative, got 2.0
    """

    offsets: tuple[float, ...] = attrs.field(converter=_as_offsets)
    weights: tuple[float, ...] = attrs.field(converter=_as_offsets)

    def __attrs_post_init__(self) -> None:
        if not self.offsets or len(self.offsets) != len(self.weights):
            raise ValidationError(
                "stencil needs as many weights as offsets (at least one), got "
                f"{len(self.offsets)} offsets and {len(self.weights)} weights"
            )
        if any(o == 0 or not math.isfinite(o) for o in self.offsets):
            raise ValidationError(
                f"stencil offsets must be finite and non-zero, got {self.offsets}"
            )
        if len(set(self.offsets)) != len(self.offsets):
            raise ValidationError(f"stencil offsets must be distinct, got {self.offsets}")
        moment = math.fsum(w * o for w, o in zip(self.weights, self.offsets, strict=True))
        if not math.isclose(moment, 1.0, rel_tol=1e-12):
            raise ValidationError(
                "stencil weights must satisfy sum(w * o) == 1 for a first derivative, "
                f"got {moment!r}"
            )


@attrs.frozen
class Differentiator(abc.ABC):
    r"""A finite-difference scheme: a step ``h`` and a :class:`Stencil`.

    All three entry points share one engine:

    - :meth:`derivative` of :math:`f:\mathbb{R}\to\mathbb{R}` at a point;
    - :meth:`partial` of :math:`f:\mathbb{R}^n\to\mathbb{R}` with respect to one coordinate, the
      others fixed;
    - :meth:`gradient` of :math:`f` at an array of any shape, perturbing it in place and restoring
      it exactly;
    - :meth:`gradients` of an :class:`Objective` over all of its parameter arrays.

    A new scheme is a subclass with a :attr:`stencil`:

    >>> import attrs
    >>> from typing import final
    >>> @final
    ... @attrs.frozen
    ... class FivePointDiff(Differentiator):
    ...     @property
    ...     def stencil(self) -> Stencil:
    ...         return Stencil((2.0, 1.0, -1.0, -2.0), (-1 / 12, 8 / 12, -8 / 12, 1 / 12))
    >>> round(FivePointDiff(h=1e-2).derivative(lambda x: x**5, 1.0), 9)
    5.0

    The step must not vanish against the point: where :math:`x + h = x` in float64 the
    difference is :math:`0/h` and says nothing about the slope, so it is an error.

    >>> ForwardDiff(h=1e-50).derivative(lambda x: 0.01 * x**2 + 0.1 * x, 5.0)
    Traceback (most recent call last):
    ...
    minifw.errors.DifferentiationError: step h=1e-50 vanishes against x=5.0: x + 1e-50 == x in float64, so the difference would be 0; use a larger h (the default is 1e-4)
    """

    h: float = attrs.field(default=1e-4, converter=to_float, validator=positive_float)

    @property
    @abc.abstractmethod
    def stencil(self) -> Stencil:
        """The offsets (in units of ``h``) and weights of this scheme."""

    def derivative(self, f: Callable[[float], Any], x: float) -> float:
        """Return the derivative of a function of one real variable at ``x``.

        >>> CentralDiff().derivative(lambda x: 0.01 * x**2 + 0.1 * x, 5.0)
        0.1999999999990898
        """
        x_value = _real_scalar(x, "x")
        box = np.array(x_value)
        objective = Perturbation(lambda: f(float(box)), {"x": box})
        return float(self._derivatives(objective, "x", np.zeros(1, dtype=np.intp))[0])

    def partial(
        self, f: Callable[[FloatArray], Any], x: ArrayLike, i: int | tuple[int, ...]
    ) -> float:
        r"""Return :math:`\partial f / \partial x_i` at ``x``, the other coordinates fixed.

        ``i`` is an index into ``x`` (an int for a vector, a tuple for any shape).

        >>> CentralDiff().partial(lambda x: x[0]**2 + x[1]**2, [3.0, 4.0], 1)
        7.999999999999119
        """
        arr = _point(x, "x")
        flat = _flat_index(i, arr.shape)
        objective = Perturbation(lambda: f(arr), {"x": arr})
        return float(self._derivatives(objective, "x", np.array([flat], dtype=np.intp))[0])

    def gradient(
        self, f: Callable[[FloatArray], Any], x: ArrayLike, *, workers: Workers = None
    ) -> FloatArray:
        r"""Return :math:`\nabla f(x)`, an array of ``x``'s shape.

        A float64 array ``x`` is perturbed in place, one coordinate at a time, so ``f`` may also
        ignore its argument and read the array through a closure. Afterwards ``x`` holds exactly
        its original values, also when ``f`` raises. Other array-likes are copied first.
        ``workers`` spreads the coordinates over processes or an executor, as in
        :meth:`gradients` (then each worker perturbs a copy of ``x``).

        >>> import numpy as np
        >>> CentralDiff().gradient(lambda x: np.sum(x**2), np.array([3.0, 4.0]))
        array([6., 8.])
        """
        arr = _point(x, "x")
        check_workers(workers)
        objective = Perturbation(lambda: f(arr), {"x": arr})
        return self.gradients(objective, workers=workers)["x"]

    def gradients(self, objective: Objective, *, workers: Workers = None) -> dict[str, FloatArray]:
        """Return the gradient of an :class:`Objective` for each of its parameter arrays.

        The coordinates are split into tasks fixed by the objective
        (:func:`~minifw.objective.task_chunks`), each run with one BLAS thread. ``workers`` says
        where (:mod:`minifw.parallel`): ``None`` or ``1`` in this process, one task after the
        other; an ``int`` for a pool of that many processes, started and shut down by this
        call; a map-like callable such as ``pool.map``; or a
        :class:`concurrent.futures.Executor` (threads, processes, or
        ``dask.distributed.Client.get_executor()``). Each worker evaluates its own copy of the
        objective, so the parameters are never shared, and the result is the same to the last
        bit whatever the workers.

        >>> import numpy as np
        >>> w, b = np.array([[1.0, 2.0]]), np.array([0.5])
        >>> objective = Perturbation(lambda: float((w @ [1.0, 1.0] + b)[0] ** 2), {"w": w, "b": b})
        >>> {name: g.round(6).tolist() for name, g in CentralDiff().gradients(objective).items()}
        {'w': [[7.0, 7.0]], 'b': [7.0]}
        """
        check_workers(workers)
        if not is_serial(workers):
            check_copyable(objective)
        chunks = task_chunks(objective, ENGINE_CHUNK)
        parts = run_tasks(_chunk_derivatives, (self, objective), chunks, workers)
        # nan marks a coordinate no task computed (every derivative computed is finite).
        grads = {name: np.full(arr.shape, np.nan) for name, arr in objective.params.items()}
        for chunk, part in zip(chunks, parts, strict=True):
            for name, index in chunk.items():
                grads[name].reshape(-1)[index] = part[name]
        for name, grad in grads.items():
            if np.isnan(grad).any():
                flat = int(np.flatnonzero(np.isnan(grad))[0])
                raise DifferentiationError(
                    f"{type(objective).__name__}.chunks() leaves out "
                    f"{describe(name, grad.shape, flat)}: the tasks must hold every coordinate"
                )
        return grads

    def _derivatives(self, objective: Objective, name: str, index: IntArray) -> FloatArray:
        """Apply the stencil to the objective's changes for coordinates ``index`` of ``name``."""
        stencil = self.stencil
        steps = np.array(stencil.offsets) * self.h
        self._check_steps(objective.params[name], name, index, steps)
        changes = _checked_changes(objective, name, index, steps)
        # Sum term by term, in stencil order: for the central difference this is
        # 0.5 * (f(x+h) - f(x-h)) / h, the book's number to the last digit.
        total = np.zeros(index.size)
        for k, weight in enumerate(stencil.weights):
            total += weight * changes[:, k]
        return total / self.h

    def _check_steps(self, arr: FloatArray, name: str, index: IntArray, steps: FloatArray) -> None:
        values = arr.reshape(-1)[index] if arr.flags.c_contiguous else arr.flat[index]
        for step in steps:
            stuck = values + step == values
            if np.any(stuck):
                k = int(np.flatnonzero(stuck)[0])
                where = describe(name, arr.shape, int(index[k]))
                raise DifferentiationError(
                    f"step h={self.h!r} vanishes against {where}={float(values[k])!r}: "
                    f"{name} + {abs(float(step))!r} == {name} in float64, so the difference "
                    "would be 0; use a larger h (the default is 1e-4)"
                )


_FORWARD = Stencil(offsets=(1.0,), weights=(1.0,))
_BACKWARD = Stencil(offsets=(-1.0,), weights=(-1.0,))
_CENTRAL = Stencil(offsets=(1.0, -1.0), weights=(0.5, -0.5))


@final
@attrs.frozen
class ForwardDiff(Differentiator):
    r"""Forward difference :math:`\big(f(x + h) - f(x)\big) / h`; error :math:`O(h)`.

    >>> ForwardDiff().derivative(lambda x: x * x, 3.0)
    6.000100000012054
    """

    @property
    def stencil(self) -> Stencil:
        """One step forward."""
        return _FORWARD


@final
@attrs.frozen
class BackwardDiff(Differentiator):
    r"""Backward difference :math:`\big(f(x) - f(x - h)\big) / h`; error :math:`O(h)`.

    >>> BackwardDiff().derivative(lambda x: x * x, 3.0)
    5.99990000001327
    """

    @property
    def stencil(self) -> Stencil:
        """One step backward."""
        return _BACKWARD


@final
@attrs.frozen
class CentralDiff(Differentiator):
    r"""Central difference :math:`\big(f(x + h) - f(x - h)\big) / 2h`; error :math:`O(h^2)`.

    The book's choice, with ``h = 1e-4``.

    >>> CentralDiff().derivative(lambda x0: x0 * x0 + 4.0**2.0, 3.0)
    6.00000000000378
    """

    @property
    def stencil(self) -> Stencil:
        """One step each way, weighted one half."""
        return _CENTRAL


def _chunk_derivatives(
    job: tuple[Differentiator, Objective], chunk: dict[str, IntArray]
) -> dict[str, FloatArray]:
    """One task of :meth:`Differentiator.gradients`: the derivatives of a chunk's coordinates."""
    differentiator, objective = job
    return {name: differentiator._derivatives(objective, name, index) for name, index in chunk.items()}


def _checked_changes(
    objective: Objective, name: str, index: IntArray, steps: FloatArray
) -> FloatArray:
    """Return the objective's changes, refusing a wrong shape or non-finite values."""
    changes = np.asarray(objective.loss_changes(name, index, steps))
    expected = (index.size, steps.size)
    if changes.shape != expected or changes.dtype.kind not in "fc":
        raise DifferentiationError(
            f"{type(objective).__name__}.loss_changes must return a float array of shape "
            f"{expected} for {index.size} coordinates of {name!r} and {steps.size} steps, got "
            f"dtype {changes.dtype} and shape {changes.shape}"
        )
    finite = np.isfinite(changes)
    if not np.all(finite):
        k, m = (int(i) for i in np.argwhere(~finite)[0])
        where = describe(name, objective.params[name].shape, int(index[k]))
        raise DifferentiationError(
            f"the objective's change is {changes[k, m]!r} when {where} moves by "
            f"{steps[m]!r}: not finite"
        )
    result: FloatArray = changes
    return result


def _real_scalar(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValidationError(f"{name} must be a real number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValidationError(f"{name} must be finite, got {name}={result!r}")
    return result


def _point(x: ArrayLike, name: str) -> FloatArray:
    """Return the array to perturb: ``x`` itself when it is float64, else a float64 copy."""
    if isinstance(x, np.ndarray):
        if x.dtype != np.float64:
            kind = "an integer" if np.issubdtype(x.dtype, np.integer) else f"a {x.dtype}"
            raise ValidationError(
                f"{name} must be a float64 array so that a small step is represented exactly "
                f"enough, got {kind} array (dtype {x.dtype}); pass {name}.astype(np.float64)"
            )
        if not x.flags.writeable:
            raise ValidationError(
                f"{name} must be writeable: it is perturbed in place and restored"
            )
        arr: FloatArray = x
    else:
        converted = np.asarray(x)
        if converted.dtype == np.bool_ or not np.issubdtype(converted.dtype, np.number):
            raise ValidationError(
                f"{name} must hold real numbers, got dtype {converted.dtype} "
                f"and shape {converted.shape}"
            )
        arr = converted.astype(np.float64)
    if arr.size == 0:
        raise ValidationError(f"{name} must have at least one element, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValidationError(f"{name} must be finite, got {arr!r}")
    return arr


def _flat_index(i: int | tuple[int, ...], shape: tuple[int, ...]) -> int:
    pos = (i,) if not isinstance(i, tuple) else i
    if len(pos) != len(shape) or not all(
        isinstance(p, int | np.integer) and not isinstance(p, bool) for p in pos
    ):
        raise ValidationError(
            f"i must index one element of x with shape {shape} ({len(shape)} integers), got i={i!r}"
        )
    for p, n in zip(pos, shape, strict=True):
        if not -n <= p < n:
            raise ValidationError(f"i={i!r} is out of range for x with shape {shape}")
    return int(
        np.ravel_multi_index(tuple(int(p) % n for p, n in zip(pos, shape, strict=True)), shape)
    )
