r"""Gradient checking of a model: its backprop against a numerical gradient.

[`gradcheck`][minifw.nn.gradcheck.gradcheck] checks a model's `backprop`, array by array, with the
report of [`minifw.numdiff.reports`][minifw.numdiff.reports] (the checks of a plain function,
[`gradcheck_function`][minifw.numdiff.function_check.gradcheck_function] and
[`hessian_check`][minifw.numdiff.function_check.hessian_check], live in the numerical wing: they
need no network). For each parameter array, with \(g\) the analytic gradient and \(\hat g\) the
numerical one, the full check reports

- the largest absolute error \(\max_i |\hat g_i - g_i|\) and where it is;
- the *scaled* error \(\max_i |\hat g_i - g_i| / \max_i |g_i|\), which decides pass or fail:
  an entry's own relative error is meaningless where the gradient is (nearly) zero, so the error
  is measured against the scale of the whole array (or `SCALE_FLOOR` \(= 10^{-4}\) of the
  model's largest gradient entry, when that is larger: the gradient of a bias before batch
  normalization is zero, and both methods give rounding for it);
- the largest per-entry relative error \(|\hat g_i - g_i| / \max(|\hat g_i|, |g_i|)\), for
  information;
- the entries whose error is above `tolerance * max|g|` (the first few, and how many);
- with a scheme that bounds its own error
  ([`RichardsonDiff`][minifw.numdiff.schemes.richardson.RichardsonDiff]), the largest bound, which
  says how much of the error can be the numerical gradient's (an entry within its bound passes).

`fast=True` first checks one random direction per array instead (as torch's `fast_mode`
and JAX's `check_grads` do): for a unit vector \(u\), the derivative of
\(s \mapsto L(\theta + s u)\) at 0, taken by the scheme from two evaluations of the loss
(central differences), against \(u \cdot g\). It passes when
\(|\varphi'(0) - u \cdot g| \le\) `tolerance` \(\cdot \lVert g \rVert_2\). A wrong
formula moves \(u \cdot g\) for almost every \(u\); a single wrong entry \(j\)
moves it only by \(u_j\) times its error, so the fast check is a quick screen, not a proof.
When a direction fails, the full check runs and says which entries are wrong.

Examples:
    >>> import numpy as np
    >>> from minifw import CrossEntropy, TwoLayerNet, gradcheck
    >>> net = TwoLayerNet(input_size=6, hidden_size=4, output_size=3, weight_init_std=0.5, seed=0)
    >>> x, t = np.random.default_rng(0).random((5, 6)), np.array([0, 1, 2, 1, 0])
    >>> report = gradcheck(net, x, t, CrossEntropy())
    >>> report.passed
    True
    >>> [check.name for check in report.checks]
    ['W1', 'b1', 'W2', 'b2']
    >>> gradcheck(net, x, t, fast=True).passed
    True

"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from minifw.errors import DifferentiationError
from minifw.nn.backprop import HasExactGradients
from minifw.nn.losses import CrossEntropy, Loss
from minifw.nn.models import Layered, Model, analytic_gradient
from minifw.numdiff.differentiator import Differentiator
from minifw.numdiff.objective import Objective
from minifw.numdiff.reports import (
    DirectionCheck,
    GradcheckReport,
    check_options,
    check_tolerance,
    compare,
)
from minifw.numdiff.schemes.central import CentralDiff
from minifw.numdiff.workers import Workers, check_workers
from minifw.typing import ArrayLike, FloatArray

__all__ = ["SCALE_FLOOR", "Reevaluates", "gradcheck"]

SCALE_FLOOR = 1e-4
"""An array's errors are measured against its own largest gradient entry, or this fraction of the
model's largest (whichever is larger): the gradient of a bias before batch normalization is zero,
and what both methods give for it is rounding, which must not be read as a relative error of 1."""


def gradcheck(
    model: Model,
    x: ArrayLike,
    t: ArrayLike,
    loss: Loss | None = None,
    differentiator: Differentiator | None = None,
    *,
    tolerance: float = 1e-7,
    fast: bool = False,
    seed: int = 0,
    workers: Workers = None,
) -> GradcheckReport:
    r"""Compare `differentiator`'s numerical gradient with `model.backprop`.

    The loss defaults to [`CrossEntropy`][minifw.nn.losses.CrossEntropy] and the scheme to
    [`CentralDiff`][minifw.numdiff.schemes.central.CentralDiff] (`h=1e-4`). A parameter array passes when
    \(\max_i |\hat g_i - g_i| / \max_i |g_i| \le\) `tolerance`. With `fast=True` one
    random direction per array (drawn from `seed`) is checked first, and the full check runs
    only when one fails (see the module text). The parameters are left as they were.
    `workers` spreads the numerical gradient over processes or an executor, with the same
    result to the last bit ([`gradients`][minifw.numdiff.differentiator.Differentiator.gradients]).

    Examples:
        >>> import numpy as np
        >>> from minifw import TwoLayerNet, ForwardDiff
        >>> net = TwoLayerNet(input_size=3, hidden_size=2, output_size=2, weight_init_std=1.0, seed=1)
        >>> x, t = np.array([[0.2, 0.0, 0.9]]), np.array([1])
        >>> gradcheck(net, x, t, differentiator=ForwardDiff()).passed  # error O(h): 1e-5 or so
        False
        >>> gradcheck(net, x, t, differentiator=ForwardDiff(), tolerance=1e-3).passed
        True

    """
    loss = CrossEntropy() if loss is None else loss
    differentiator = CentralDiff() if differentiator is None else differentiator
    tol = check_tolerance(tolerance)
    check_options(fast, seed)
    check_workers(workers)
    # Running statistics move once per objective built; a check leaves them as they were.
    kept = {k: v.copy() for k, v in model.statistics.items()} if isinstance(model, Layered) else {}
    try:
        # One objective for both gradients: a dropout mask drawn for it holds for both.
        objective = model.objective(x, t, loss)
        if isinstance(objective, HasExactGradients):
            analytic = objective.exact_gradients()
        else:
            analytic = analytic_gradient(model, x, t, loss)
        return _check(
            analytic,
            model.params,
            lambda: objective,
            _directions(model, objective, x, t, loss),
            differentiator,
            tol,
            fast=fast,
            seed=seed,
            workers=workers,
            against="backprop",
        )
    finally:
        if isinstance(model, Layered):
            for name, arr in model.statistics.items():
                arr[...] = kept[name]


def _directions(
    model: Model, objective: Objective, x: ArrayLike, t: ArrayLike, loss: Loss
) -> Callable[[str, FloatArray], Callable[[float], float]]:
    """Return, per array and unit direction `u`, the loss at the parameters moved by `s u`.

    Through the objective's own layers when it can reevaluate itself (the same dropout masks as
    its gradients), else through `model.loss`.
    """
    params = model.params
    value: Callable[[], float] = (
        objective.reevaluate
        if isinstance(objective, Reevaluates)
        else functools.partial(model.loss, x, t, loss)
    )

    def directional(name: str, u: FloatArray) -> Callable[[float], float]:
        arr = params[name]
        saved = arr.copy()

        def along(s: float) -> float:
            if isinstance(s, complex):
                raise DifferentiationError(
                    "fast gradcheck moves the model's float64 parameters in place, which a "
                    "complex step cannot do; use a real scheme (RichardsonDiff, CentralDiff) "
                    "with fast=True, or fast=False"
                )
            try:
                arr[...] = saved + s * u
                return value()
            finally:
                arr[...] = saved

        return along

    return directional


@runtime_checkable
class Reevaluates(Protocol):
    """An objective that can compute its value again at the parameters as they are now."""

    def reevaluate(self) -> float:
        """Return the objective's value at the current parameters (one new evaluation)."""
        ...


def _check(
    analytic: Mapping[str, FloatArray],
    params: Mapping[str, FloatArray],
    objective: Callable[[], Objective],
    directional: Callable[[str, FloatArray], Callable[[float], Any]],
    differentiator: Differentiator,
    tolerance: float,
    *,
    fast: bool,
    seed: int,
    workers: Workers,
    against: str,
) -> GradcheckReport:
    """Run the fast check (when asked), then the full check unless every direction passed."""
    name = repr(differentiator)
    directions: tuple[DirectionCheck, ...] = ()
    floors = {
        "max": SCALE_FLOOR * max(float(np.max(np.abs(g), initial=0.0)) for g in analytic.values()),
        "norm": SCALE_FLOOR * max(float(np.linalg.norm(g)) for g in analytic.values()),
    }
    if fast:
        rng = np.random.default_rng(seed)
        found = []
        for key, arr in params.items():
            u = rng.standard_normal(arr.shape)
            u /= np.linalg.norm(u)
            g = analytic[key]
            value, bound = _derivative(differentiator, directional(key, u))
            found.append(
                DirectionCheck(
                    name=key,
                    numerical=value,
                    analytic=float(np.sum(u * g)),
                    scale=float(np.linalg.norm(g)),
                    tolerance=tolerance,
                    error_bound=bound,
                    scale_floor=floors["norm"],
                )
            )
        directions = tuple(found)
        if all(d.passed for d in directions):
            return GradcheckReport((), tolerance, name, directions, against)
    estimates = differentiator.estimates(objective(), workers=workers)
    checks = tuple(
        compare(
            key,
            estimates[key].value,
            analytic[key],
            tolerance,
            estimates[key].error,
            scale_floor=floors["max"],
            listed=False,
        )
        for key in params
    )
    return GradcheckReport(checks, tolerance, name, directions, against)


def _derivative(differentiator: Differentiator, f: Callable[[float], Any]) -> tuple[float, float]:
    found = differentiator.estimate(f, 0.0)
    return found.value, found.error
