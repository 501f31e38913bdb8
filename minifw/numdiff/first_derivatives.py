r"""First derivatives of a function: at a point, a partial, a gradient, along a direction, a Jacobian.

[`FirstDerivatives`][minifw.numdiff.first_derivatives.FirstDerivatives] is what every
[`Differentiator`][minifw.numdiff.differentiator.Differentiator] answers about a function \(f\)
with its first-derivative rule (its stencil and step policy,
[`first_rule`][minifw.numdiff.differentiator.Differentiator.first_rule]). Each entry point has a
twin that also returns the error bound and the evaluations, an
[`Estimate`][minifw.numdiff.results.Estimate] (its error is nan for a scheme that does not bound
it):

| entry point | of | returns |
|---|---|---|
| `derivative` / `estimate` | \(f:\mathbb{R}\to\mathbb{R}\) at a point; with `elementwise=True`, at every point of an array in one call of `f` per batch of steps | a float (an array) |
| `partial` | \(f:\mathbb{R}^n\to\mathbb{R}\), one coordinate | a float |
| `gradient` / `gradient_estimate` | \(f:\mathbb{R}^n\to\mathbb{R}\), perturbed in place | an array of `x`'s shape |
| `directional` / `directional_estimate` | \(\nabla f \cdot v\), one stencil along \(v\) | a float |
| `jacobian` / `jacobian_estimate` | \(f\) from arrays to arrays; `sparsity=` groups columns | `f(x).shape + x.shape` (sparse with a scipy pattern) |

`gradient` perturbs a float64 `x` in place (the book's way: `f` may read it through a
closure); the others call `f` with a new array at every point and never write `x`.

Examples:
    >>> import numpy as np
    >>> from minifw import RichardsonDiff
    >>> RichardsonDiff().jacobian(lambda v: np.array([v[0] * v[1], np.sin(v[0])]), [1.0, 2.0]).round(12)
    array([[2.        , 1.        ],
           [0.54030231, 0.        ]])

"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, Literal, overload

import attrs
import numpy as np

from minifw.errors import DifferentiationError, ValidationError
from minifw.numdiff.checks import flat_index, point, real_scalar
from minifw.numdiff.elementwise import elementwise_estimate
from minifw.numdiff.engine import Rule
from minifw.numdiff.jacobian import directional_estimate, jacobian_estimate, sparse_jacobian
from minifw.numdiff.method import GradientMethod
from minifw.numdiff.perturbation import Perturbation
from minifw.numdiff.results import Estimate
from minifw.numdiff.workers import Workers, check_workers
from minifw.typing import ArrayLike, FloatArray

__all__ = ["FirstDerivatives"]


@attrs.frozen
class FirstDerivatives(GradientMethod):
    """The first derivatives of a function, by a scheme's first-derivative rule (module text)."""

    @property
    @abc.abstractmethod
    def first_rule(self) -> Rule:
        """The stencil and step policy of first derivatives."""

    @overload
    def derivative(
        self, f: Callable[[Any], Any], x: float, *, elementwise: Literal[False] = False
    ) -> float: ...

    @overload
    def derivative(
        self, f: Callable[[Any], Any], x: ArrayLike, *, elementwise: Literal[True]
    ) -> FloatArray: ...

    def derivative(
        self, f: Callable[[Any], Any], x: Any, *, elementwise: bool = False
    ) -> float | FloatArray:
        """Return the derivative of a function of one real variable at `x`.

        With `elementwise=True`, `f` acts elementwise on arrays (a ufunc, say) and `x` is an
        array of points: the derivative at each, from one call of `f` per batch of steps
        ([`minifw.numdiff.elementwise`][minifw.numdiff.elementwise]).

        Examples:
            >>> import numpy as np
            >>> from minifw import CentralDiff
            >>> CentralDiff().derivative(lambda x: 0.01 * x**2 + 0.1 * x, 5.0)
            0.1999999999990898
            >>> CentralDiff().derivative(np.exp, np.zeros(3), elementwise=True)
            array([1.00000000e+00, 1.00000000e+00, 1.00000000e+00])

        """
        if _elementwise(elementwise):
            return elementwise_estimate(self.first_rule, f, x).value
        objective = _scalar_objective(f, real_scalar(x, "x"))
        return float(self.first_rule.estimate(objective, "x", np.zeros(1, dtype=np.intp)).value[0])

    @overload
    def estimate(
        self, f: Callable[[Any], Any], x: float, *, elementwise: Literal[False] = False
    ) -> Estimate[float]: ...

    @overload
    def estimate(
        self, f: Callable[[Any], Any], x: ArrayLike, *, elementwise: Literal[True]
    ) -> Estimate[FloatArray]: ...

    def estimate(
        self, f: Callable[[Any], Any], x: Any, *, elementwise: bool = False
    ) -> Estimate[float] | Estimate[FloatArray]:
        """Return the derivative of `f` at `x`, its error bound (nan if none) and the calls of `f`.

        With `elementwise=True`, as `derivative` does, arrays of values and bounds, and the
        points at which `f` was evaluated.

        Examples:
            >>> from minifw import CentralDiff, RichardsonDiff
            >>> result = RichardsonDiff().estimate(lambda x: x**3, 2.0)
            >>> result.value, result.error < 1e-10, result.evaluations
            (12.0, True, 7)
            >>> CentralDiff().estimate(lambda x: x**3, 2.0).evaluations  # f(x), f(x + h), f(x - h)
            3

        """
        if _elementwise(elementwise):
            return elementwise_estimate(self.first_rule, f, x)
        calls = 0

        def counted(v: float) -> Any:
            nonlocal calls
            calls += 1
            return f(v)

        objective = _scalar_objective(counted, real_scalar(x, "x"))
        found = self.first_rule.estimate(objective, "x", np.zeros(1, dtype=np.intp))
        return Estimate(float(found.value[0]), float(found.error[0]), calls)

    def partial(
        self, f: Callable[[FloatArray], Any], x: ArrayLike, i: int | tuple[int, ...]
    ) -> float:
        r"""Return \(\partial f / \partial x_i\) at `x`, the other coordinates fixed.

        `i` is an index into `x` (an int for a vector, a tuple for any shape).

        Examples:
            >>> from minifw import CentralDiff
            >>> CentralDiff().partial(lambda x: x[0]**2 + x[1]**2, [3.0, 4.0], 1)
            7.999999999999119

        """
        arr = point(x, "x")
        flat = flat_index(i, arr.shape)
        objective = _array_objective(f, arr)
        found = self.first_rule.estimate(objective, "x", np.array([flat], dtype=np.intp))
        return float(found.value[0])

    def gradient(
        self, f: Callable[[FloatArray], Any], x: ArrayLike, *, workers: Workers = None
    ) -> FloatArray:
        r"""Return \(\nabla f(x)\), an array of `x`'s shape.

        A float64 array `x` is perturbed in place, one coordinate at a time, so `f` may also ignore
        its argument and read the array through a closure. Afterwards `x` holds exactly its original
        values, also when `f` raises. Other array-likes are copied first. `workers` spreads the
        coordinates over processes or an executor, as in
        [`gradients`][minifw.numdiff.differentiator.Differentiator.gradients] (then each worker
        perturbs a copy of `x`).

        Examples:
            >>> import numpy as np
            >>> from minifw import CentralDiff
            >>> CentralDiff().gradient(lambda x: np.sum(x**2), np.array([3.0, 4.0]))
            array([6., 8.])

        """
        arr = point(x, "x")
        check_workers(workers)
        return self.gradients(_array_objective(f, arr), workers=workers)["x"]

    def gradient_estimate(
        self, f: Callable[[FloatArray], Any], x: ArrayLike, *, workers: Workers = None
    ) -> Estimate[FloatArray]:
        """Return the gradient of `f` at `x` with error bounds and evaluations, as `gradient` does.

        Examples:
            >>> import numpy as np
            >>> from minifw import RichardsonDiff
            >>> result = RichardsonDiff().gradient_estimate(lambda v: np.sum(np.sin(v)), [0.5, 1.0])
            >>> bool(np.all(np.abs(result.value - np.cos([0.5, 1.0])) <= result.error))
            True
            >>> result.evaluations  # 1 at the point, 6 and 6 along the coordinates
            13

        """
        arr = point(x, "x")
        check_workers(workers)
        return self.estimates(_array_objective(f, arr), workers=workers)["x"]

    def directional(self, f: Callable[[FloatArray], Any], x: ArrayLike, v: ArrayLike) -> float:
        r"""Return \(\nabla f(x) \cdot v\) for a scalar `f`: one stencil along \(v\).

        The steps move `x` along `v` (scaled to the point, as a coordinate's own steps would be);
        it costs one derivative, not a gradient.

        Examples:
            >>> import numpy as np
            >>> from minifw import RichardsonDiff
            >>> RichardsonDiff().directional(lambda v: np.sum(v**3), [1.0, 2.0], [1.0, -1.0])
            -9.0

        """
        return float(self.directional_estimate(f, x, v).value)

    def directional_estimate(
        self, f: Callable[[FloatArray], Any], x: ArrayLike, v: ArrayLike
    ) -> Estimate[float]:
        r"""Return \(\nabla f(x) \cdot v\) with its error bound and evaluations.

        Examples:
            >>> from minifw import CentralDiff
            >>> CentralDiff().directional_estimate(lambda v: v[0] * v[1], [2.0, 3.0], [1.0, 1.0]).evaluations
            3

        """
        found = directional_estimate(self.first_rule, f, x, v)
        if found.value.shape != ():
            raise DifferentiationError(
                f"directional takes a scalar f, but f returns an array of shape "
                f"{found.value.shape}; for J v use jacobian(f, x) @ v"
            )
        return Estimate(float(found.value), float(found.error), found.evaluations)

    def jacobian(
        self,
        f: Callable[[FloatArray], Any],
        x: ArrayLike,
        *,
        sparsity: object = None,
        workers: Workers = None,
    ) -> Any:
        r"""Return the Jacobian of `f` at `x`, of shape `f(x).shape + x.shape`.

        Entry `[i..., j...]` is \(\partial f_i / \partial x_j\): one stencil per coordinate of `x`,
        each giving a column. With `sparsity` (a `scipy.sparse` matrix or a boolean array of shape
        `(f(x).size, x.size)`), structurally orthogonal columns share their stencils
        ([`minifw.numdiff.sparsity`][minifw.numdiff.sparsity]): a banded Jacobian takes a handful,
        and the result is a scipy matrix of the pattern's format (a dense 2-D array for a
        boolean pattern). `workers` spreads the columns (or groups) as
        [`gradients`][minifw.numdiff.differentiator.Differentiator.gradients] does.

        Examples:
            >>> import numpy as np
            >>> from minifw import CentralDiff
            >>> CentralDiff(h="auto").jacobian(lambda v: v[:2] * v[1:], [1.0, 2.0, 3.0]).round(8)
            array([[2., 1., 0.],
                   [0., 3., 2.]])

        """
        return self.jacobian_estimate(f, x, sparsity=sparsity, workers=workers).value

    def jacobian_estimate(
        self,
        f: Callable[[FloatArray], Any],
        x: ArrayLike,
        *,
        sparsity: object = None,
        workers: Workers = None,
    ) -> Estimate[Any]:
        """Return the Jacobian of `f` at `x` with error bounds and evaluations, as `jacobian` does.

        `evaluations` counts the points at which `f` was evaluated, `x` itself included.

        Examples:
            >>> import numpy as np
            >>> from minifw import CentralDiff
            >>> band = np.eye(4, dtype=bool) | np.eye(4, k=1, dtype=bool) | np.eye(4, k=-1, dtype=bool)
            >>> found = CentralDiff(h="auto").jacobian_estimate(np.cumsum, np.ones(4), sparsity=np.tril(np.ones((4, 4), dtype=bool)))
            >>> found.value.round(8).tolist(), found.evaluations
            ([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]], 9)

        """
        check_workers(workers)
        if sparsity is None:
            return jacobian_estimate(self.first_rule, f, x, workers=workers)
        return sparse_jacobian(self.first_rule, f, x, sparsity, workers=workers)


def _elementwise(flag: object) -> bool:
    if not isinstance(flag, bool):
        raise ValidationError(f"elementwise must be True or False, got elementwise={flag!r}")
    return flag


def _scalar_objective(f: Callable[[Any], Any], x: float) -> Perturbation:
    """Return the objective of `f` at a number; `f` gets a Python float (or complex)."""
    arrays = {"x": np.array(x)}
    return Perturbation(lambda: f(arrays["x"].item()), arrays)


def _array_objective(f: Callable[[Any], Any], arr: FloatArray) -> Perturbation:
    """Return the objective of `f` at an array; `f` gets it (or a complex copy of it)."""
    arrays = {"x": arr}
    return Perturbation(lambda: f(arrays["x"]), arrays)
