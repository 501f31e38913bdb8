r"""Perturbation: the objective of any function, one coordinate moved in place at a time.

[`Perturbation`][minifw.numdiff.perturbation.Perturbation] is the book's way: set one coordinate
to `value + step`, call `f`, write the exact original back.
[`check_copyable`][minifw.numdiff.perturbation.check_copyable] refuses a perturbation whose copy in
a worker would not see its own steps.

Examples:
    >>> import numpy as np
    >>> w = np.array([3.0, 4.0])
    >>> objective = Perturbation(lambda: float(np.sum(w**2)), {"w": w})
    >>> objective.value()
    25.0
    >>> objective.changes("w", np.array([0, 1]), np.array([1.0, -1.0]))
    array([[ 7., -5.],
           [ 9., -7.]])

"""

from __future__ import annotations

import functools
import math
import sys
import types
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw._validation import check_params, describe
from minifw.errors import DifferentiationError
from minifw.numdiff.objective import Objective
from minifw.numdiff.precision import warn_low_precision
from minifw.typing import FloatArray, IntArray

__all__ = ["REAL_PART_AGREEMENT", "Perturbation", "check_copyable", "check_real_part"]


def _scalar(value: object, where: Callable[[], str]) -> float:
    """Return `value` as a float (nan and inf included) or raise, naming where it came from."""
    if isinstance(value, float):
        return float(value)
    arr = np.asarray(value)
    # A complex value with no imaginary part is real: a complex-safe f may compute in complex.
    real = arr.dtype.kind in "fiu" or (arr.dtype.kind == "c" and np.all(arr.imag == 0))
    if arr.size == 1 and arr.ndim <= 1 and arr.dtype.kind == "c" and not real:
        raise DifferentiationError(
            f"f must return a real scalar, got the complex {complex(arr.reshape(()))!r} at "
            f"{where()}: f is complex-valued, so no real derivative (and no complex step) "
            "applies; differentiate its real and imaginary parts as two functions"
        )
    if arr.size != 1 or arr.ndim > 1 or not real:
        raise DifferentiationError(
            f"f must return a finite real scalar, got {type(value).__name__} of shape "
            f"{arr.shape} and dtype {arr.dtype} at {where()}"
        )
    return float(arr.real.reshape(()))


def _complex_scalar(value: object, where: Callable[[], str]) -> complex:
    """Return `value` as a complex number, or say that `f` dropped the imaginary part."""
    if isinstance(value, complex):
        return value
    arr = np.asarray(value)
    if arr.size != 1 or arr.ndim > 1 or arr.dtype.kind not in "fiuc":
        raise DifferentiationError(
            f"f must return a scalar, got {type(value).__name__} of shape {arr.shape} and dtype "
            f"{arr.dtype} at {where()}"
        )
    if arr.dtype.kind != "c":
        raise DifferentiationError(
            f"f returned a real {arr.dtype} for a complex argument at {where()}: f is not "
            "complex-safe (abs, float(), .real, math functions or a cast to float drop the "
            "imaginary part), so a complex step cannot differentiate it; use a real scheme such "
            "as RichardsonDiff or CentralDiff"
        )
    return complex(arr.reshape(()))


# What a function that is not complex-safe raises for a complex argument.
_NOT_COMPLEX_SAFE = (TypeError, ValueError, np.exceptions.ComplexWarning)
# Re f(x + ih) must be f(x) to this part: an imaginary step of 1e-20 moves it by h^2 f''/2.
REAL_PART_AGREEMENT = 1e-3


def check_real_part(
    moved: complex, base: float, where: Callable[[], str], step: complex = 0j
) -> None:
    r"""Refuse `f(x + ih)` whose real part is not `f(x)`: f mixes the imaginary part into it.

    For an analytic f the gap is \(h^2 f''(x) / 2\); allowed is `REAL_PART_AGREEMENT` of the
    largest of \(|f(x)|\), \(|\operatorname{Re} f(x + ih)|\) and
    \(|\operatorname{Im} f(x + ih)|\), and \(|h|\) itself (so that \(f = x^4\) at 0 passes).

    Examples:
        >>> check_real_part(9.0 + 6e-20j, 9.0, lambda: "x")
        >>> check_real_part(10.0 + 6e-20j, 9.0, lambda: "x")
        Traceback (most recent call last):
        ...
        minifw.errors.DifferentiationError: f's real part moves under an imaginary step at x (f = 9, Re f(x + ih) = 10): f is not complex-safe, so a complex step cannot differentiate it; use a real scheme such as RichardsonDiff

    """
    scale = max(abs(base), abs(moved.real), abs(moved.imag))
    if abs(moved.real - base) <= REAL_PART_AGREEMENT * scale + abs(step):
        return
    raise DifferentiationError(
        f"f's real part moves under an imaginary step at {where()} (f = {base:.6g}, "
        f"Re f(x + ih) = {moved.real:.6g}): f is not complex-safe, so a complex step cannot "
        "differentiate it; use a real scheme such as RichardsonDiff"
    )


def _moved(name: str, shape: tuple[int, ...], flat: int, step: complex) -> str:
    amount = f"{step:g}" if isinstance(step, complex) else f"{float(step):g}"
    return f"{describe(name, shape, flat)} moved by {amount}"


@final
@attrs.define
class Perturbation:
    """An `Objective` for any function: perturb one coordinate in place, evaluate, restore.

    `f` takes no arguments and reads the parameter arrays itself (the way the book's
    `numerical_gradient` wraps a network's loss in a closure over its weights). Every
    coordinate is set to `value + step`, `f` is called, and the exact original value is
    written back, also when `f` raises. The arrays must be writeable float64 arrays,
    not empty and finite.

    A complex step ([`ComplexStep`][minifw.numdiff.schemes.complex_step.ComplexStep]) cannot be written into a
    float64 array. Instead, a complex copy of the array is put in its place in `arrays` (which must
    then be a `dict`) while `f` runs, and the original is put back afterwards: `f` must read the
    array through the mapping. A value of `f` that is not complex, or a `TypeError` or `ValueError`
    for a complex argument, means `f` is not complex-safe, and is a
    [`DifferentiationError`][minifw.errors.DifferentiationError].

    Examples:
        >>> w = np.array([3.0, 4.0])
        >>> objective = Perturbation(lambda: float(np.sum(w**2)), {"w": w})
        >>> objective.changes("w", np.array([1]), np.array([1.0]))
        array([[9.]])
        >>> w
        array([3., 4.])

        A complex step, with `f` reading the array through the mapping:

        >>> arrays = {"w": np.array([3.0, 4.0])}
        >>> objective = Perturbation(lambda: np.sum(arrays["w"] ** 2), arrays)
        >>> objective.changes("w", np.array([1]), np.array([1e-20j]))
        array([[0.+8.e-20j]])
        >>> arrays["w"]
        array([3., 4.])
        >>> Perturbation(lambda: float(abs(np.sum(arrays["w"] ** 2))), arrays).changes(
        ...     "w", np.array([1]), np.array([1e-20j]))
        Traceback (most recent call last):
        ...
        minifw.errors.DifferentiationError: f returned a real float64 for a complex argument at w[1] moved by 0+1e-20j: f is not complex-safe (abs, float(), ...

    """

    f: Callable[[], object]
    arrays: Mapping[str, FloatArray]
    _base: float | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        check_params(self.arrays, name="objective params", why="stepped by a small h in place and restored: convert it with .astype(np.float64)")

    @property
    def params(self) -> Mapping[str, FloatArray]:
        """The arrays this objective perturbs."""
        return self.arrays

    def value(self) -> float:
        """Return `f()` at the unperturbed point (evaluated once, then remembered).

        A value in less than float64 (float32, float16) is a
        [`PrecisionWarning`][minifw.numdiff.precision.PrecisionWarning]: every difference of
        such values loses digits.
        """
        if self._base is None:
            found = self.f()
            if isinstance(found, np.generic | np.ndarray):
                warn_low_precision(found.dtype, "the unperturbed point")
            base = _scalar(found, lambda: "the unperturbed point")
            if not math.isfinite(base):
                raise DifferentiationError(
                    f"f must return a finite scalar, got {base} at the unperturbed point"
                )
            self._base = base
        return self._base

    def changes(self, name: str, index: IntArray, steps: NDArray[Any]) -> NDArray[Any]:
        """Return `f()` after each single-coordinate step minus `f()` before, `(K, M)`.

        A value of `f` that is not finite (nan, inf) is returned as it is, for the engine to
        report or to step around. Complex steps are taken on a complex copy (see the class text).
        """
        if np.iscomplexobj(steps):
            # The value at the point is taken (once): f there must be real, and for a purely
            # imaginary step ih, Re f(x + ih) = f(x) - h^2 f''(x)/2 + ... must be f(x) itself.
            imaginary = bool(np.all(np.real(steps) == 0))
            return self._complex_changes(name, index, steps, self.value(), imaginary)
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
                    if not isinstance(value, float):
                        value = _scalar(
                            value, functools.partial(_moved, name, arr.shape, int(index[row]), step)
                        )
                    changes.append(value - base)
            finally:
                target[pos] = original
        return np.array(changes, dtype=np.float64).reshape(index.size, steps.size)

    def _complex_changes(
        self, name: str, index: IntArray, steps: NDArray[Any], base: float, imaginary: bool
    ) -> NDArray[np.complex128]:
        """Evaluate `f` with a complex copy of `arrays[name]` swapped in, then swap back.

        The user's float64 array is never written: the mapping's entry points to the copy while
        `f` runs (so `f` must read the array through the mapping, as a model's `predict`
        reads `self.params`), and to the original again afterwards, also when `f` raises.
        """
        arrays = self.arrays
        if not isinstance(arrays, MutableMapping):
            raise DifferentiationError(
                f"a complex step swaps a complex copy of {name!r} into the objective's arrays, "
                f"but they are a read-only {type(arrays).__name__}; pass a dict"
            )
        original = arrays[name]
        work = np.array(original, dtype=np.complex128, order="C")
        flat = work.reshape(-1)
        step_values = steps.tolist()
        changes: list[complex] = []
        arrays[name] = work
        try:
            for i in index.tolist():
                centre = flat[i]
                for step in step_values:
                    flat[i] = centre + step
                    where = functools.partial(_moved, name, original.shape, i, step)
                    try:
                        value = self.f()
                    except _NOT_COMPLEX_SAFE as err:
                        raise DifferentiationError(
                            f"f raised {type(err).__name__} ({err}) for a complex argument at "
                            f"{where()}: it is not complex-safe, so a complex step cannot "
                            "differentiate it; use a real scheme such as RichardsonDiff"
                        ) from err
                    finally:
                        flat[i] = centre
                    moved = _complex_scalar(value, where)
                    if imaginary:
                        check_real_part(moved, base, where, step)
                    changes.append(moved - base)
        finally:
            arrays[name] = original
        return np.array(changes, dtype=np.complex128).reshape(index.size, steps.size)


def check_copyable(objective: Objective) -> None:
    """Refuse a `Perturbation` whose copy in a worker would not see its own steps.

    Workers evaluate copies of the objective. A function defined at the top of an importable
    module is pickled by reference: in the worker it reads that module's globals, not the
    copy's arrays, so a parameter array it reads as a global would never move and every change
    would be 0. Lambdas, closures, methods, `functools.partial` and functions of `__main__`
    are pickled with what they refer to, and are fine.

    Examples:
        >>> w = np.array([3.0, 4.0])
        >>> check_copyable(Perturbation(lambda: float(np.sum(w**2)), {"w": w}))  # a closure: fine

    """
    if not isinstance(objective, Perturbation):
        return
    arrays = {id(arr): name for name, arr in objective.arrays.items()}
    pending: list[object] = [objective.f]
    seen: set[int] = set()
    while pending:
        fn = pending.pop()
        if isinstance(fn, functools.partial):
            pending.append(fn.func)
            continue
        if not isinstance(fn, types.FunctionType) or id(fn) in seen or not _by_reference(fn):
            continue
        seen.add(id(fn))
        for global_name in _global_names(fn.__code__):
            value = fn.__globals__.get(global_name)
            if id(value) in arrays:
                raise DifferentiationError(
                    f"{fn.__module__}.{fn.__qualname__} reads parameter {arrays[id(value)]!r} as "
                    f"the module global {global_name!r}: a worker's copy of the function would "
                    "read its own module's array, which never moves, and every change would be "
                    "0. Pass the array to the function (a lambda, a closure or "
                    "functools.partial), or compute serially with workers=None"
                )
            if isinstance(value, types.FunctionType):
                pending.append(value)


def _by_reference(fn: types.FunctionType) -> bool:
    """Whether pickling sends `fn` as a name to import (a module's top-level function)."""
    module = sys.modules.get(fn.__module__ or "")
    if module is None or fn.__module__ == "__main__":
        return False
    found: object = module
    for part in fn.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is fn


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names
