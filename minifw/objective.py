r"""Objectives: scalar functions of named parameter arrays, as the differentiation engine sees them.

An :class:`Objective` has parameter arrays (``params``), a :meth:`~Objective.value`, and reports
its own *changes*: :math:`L(\theta + s\,e_i) - L(\theta)` for many coordinates :math:`i` and steps
:math:`s` at once. The engine (:mod:`minifw.differentiation`) knows nothing else: it asks for
changes and combines them with a scheme's weights. :class:`Perturbation` is the objective of any
function, perturbing one coordinate at a time; a model built from layers gives a faster one
that recomputes only what a coordinate changes (see :meth:`minifw.Model.objective`).

>>> import numpy as np
>>> w = np.array([3.0, 4.0])
>>> objective = Perturbation(lambda: float(np.sum(w**2)), {"w": w})
>>> objective.value()
25.0
>>> objective.loss_changes("w", np.array([0, 1]), np.array([1.0, -1.0]))
array([[ 7., -5.],
       [ 9., -7.]])
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol, final, runtime_checkable

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import DifferentiationError, ValidationError
from minifw.typing import FloatArray, IntArray

__all__ = ["Objective", "Perturbation", "check_params", "describe"]


@runtime_checkable
class Objective(Protocol):
    r"""A scalar function of named parameter arrays that reports its own changes."""

    @property
    def params(self) -> Mapping[str, FloatArray]:
        """The parameter arrays, by name (float64; left as they were after every call)."""
        ...

    def value(self) -> float:
        """Return the value at the parameters as they are."""
        ...

    def loss_changes(self, name: str, index: IntArray, steps: NDArray[Any]) -> NDArray[Any]:
        r"""Return :math:`L(\theta + s_m e_{i_k}) - L(\theta)`, shape ``(K, M)``.

        ``index`` holds ``K`` flat (C-order) indices into ``params[name]``; ``steps`` the ``M``
        steps :math:`s_m` (real, or complex for a complex step: then the changes are complex).
        """
        ...


def describe(name: str, shape: tuple[int, ...], flat: int) -> str:
    """Return ``name[i, j]`` for flat index ``flat`` of an array of ``shape``.

    >>> describe("W1", (784, 50), 51)
    'W1[1, 1]'
    """
    if not shape:
        return name
    pos = ", ".join(str(int(p)) for p in np.unravel_index(flat, shape))
    return f"{name}[{pos}]"


def check_params(params: Mapping[str, object], owner: str) -> None:
    """Refuse parameter arrays a numerical gradient would get wrong.

    Each must be a writeable float64 ``numpy.ndarray`` with at least one element, all finite: an
    integer or float32 array cannot hold ``x + h`` for a small ``h`` (int64 ``[1, 2, 3]`` would
    give gradients a thousand times too large), and a read-only one cannot be perturbed.

    >>> check_params({"w": np.array([1, 2, 3])}, "model")
    Traceback (most recent call last):
    ...
    minifw.errors.ValidationError: model parameter 'w' must be a float64 array (a small step is lost in dtype int64); convert it with .astype(np.float64)
    """
    for name, arr in params.items():
        if not isinstance(arr, np.ndarray):
            raise ValidationError(
                f"{owner} parameter {name!r} must be a numpy array, got {type(arr).__name__}"
            )
        if arr.dtype != np.float64:
            raise ValidationError(
                f"{owner} parameter {name!r} must be a float64 array (a small step is lost in "
                f"dtype {arr.dtype}); convert it with .astype(np.float64)"
            )
        if not arr.flags.writeable:
            raise ValidationError(
                f"{owner} parameter {name!r} is read-only: it is perturbed in place and "
                "restored, so it must be writeable"
            )
        if arr.size == 0:
            raise ValidationError(f"{owner} parameter {name!r} is empty (shape {arr.shape})")
        if not np.all(np.isfinite(arr)):
            flat = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ValidationError(
                f"{owner} parameter {describe(name, arr.shape, flat)} is "
                f"{float(arr.reshape(-1)[flat])!r}: parameters must be finite"
            )


def _scalar(value: object, where: Callable[[], str]) -> float:
    """Return ``value`` as a finite float or raise, naming where it came from."""
    if isinstance(value, float):
        result = float(value)
    else:
        arr = np.asarray(value)
        if arr.size != 1 or arr.ndim > 1 or arr.dtype.kind not in "fiu":
            raise DifferentiationError(
                f"f must return a finite real scalar, got {type(value).__name__} of shape "
                f"{arr.shape} and dtype {arr.dtype} at {where()}"
            )
        result = float(arr.reshape(()))
    if not math.isfinite(result):
        raise DifferentiationError(f"f must return a finite scalar, got {result} at {where()}")
    return result


def _moved(name: str, shape: tuple[int, ...], flat: int, step: float) -> str:
    return f"{describe(name, shape, flat)} moved by {float(step):g}"


@final
@attrs.define
class Perturbation:
    """An :class:`Objective` for any function: perturb one coordinate in place, evaluate, restore.

    ``f`` takes no arguments and reads the parameter arrays itself (the way the book's
    ``numerical_gradient`` wraps a network's loss in a closure over its weights). Every
    coordinate is set to ``value + step``, ``f`` is called, and the exact original value is
    written back, also when ``f`` raises. The arrays must be writeable float64 arrays
    (:func:`check_params`).

    >>> w = np.array([3.0, 4.0])
    >>> objective = Perturbation(lambda: float(np.sum(w**2)), {"w": w})
    >>> objective.loss_changes("w", np.array([1]), np.array([1.0]))
    array([[9.]])
    >>> w
    array([3., 4.])
    """

    f: Callable[[], object]
    arrays: Mapping[str, FloatArray]
    _base: float | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        check_params(self.arrays, "objective")

    @property
    def params(self) -> Mapping[str, FloatArray]:
        """The arrays this objective perturbs."""
        return self.arrays

    def value(self) -> float:
        """Return ``f()`` at the unperturbed point (evaluated once, then remembered)."""
        if self._base is None:
            self._base = _scalar(self.f(), lambda: "the unperturbed point")
        return self._base

    def loss_changes(self, name: str, index: IntArray, steps: NDArray[Any]) -> FloatArray:
        """Return ``f()`` after each single-coordinate step minus ``f()`` before, ``(K, M)``."""
        if np.iscomplexobj(steps):
            raise DifferentiationError(
                "a complex step cannot be written into the float64 arrays this Perturbation "
                "perturbs in place; pass a function of x to ComplexStep().gradient instead"
            )
        base = self.value()
        arr = self.arrays[name]
        # Address elements through a flat view where one exists (an int index is the cheapest),
        # else through index tuples.
        target: FloatArray = arr.reshape(-1) if arr.flags.c_contiguous else arr
        positions: list[Any] = (
            index.tolist()
            if target is not arr or arr.ndim == 1
            else list(zip(*(p.tolist() for p in np.unravel_index(index, arr.shape)), strict=True))
        )
        step_values = steps.tolist()
        changes: list[float] = []
        # This loop runs once per coordinate and step around a full evaluation of f: keep it as
        # lean as the book's (Python floats, no objects built per evaluation unless f
        # misbehaves). float64 values round-trip exactly through Python floats.
        for row, pos in enumerate(positions):
            original = float(target[pos])
            try:
                for step in step_values:
                    target[pos] = original + step
                    value = self.f()
                    if not (isinstance(value, float) and math.isfinite(value)):
                        value = _scalar(
                            value, functools.partial(_moved, name, arr.shape, int(index[row]), step)
                        )
                    changes.append(value - base)
            finally:
                target[pos] = original
        return np.array(changes, dtype=np.float64).reshape(index.size, steps.size)
