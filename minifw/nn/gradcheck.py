r"""Gradient checking: compare a numerical gradient with an analytic one.

[`gradcheck`][minifw.nn.gradcheck.gradcheck] checks a model's `backprop`;
[`gradcheck_function`][minifw.nn.gradcheck.gradcheck_function] checks a function's gradient function.
For each parameter array, with \(g\) the analytic gradient and \(\hat g\) the numerical one, the
full check reports

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
  ([`RichardsonDiff`][minifw.numdiff.schemes.richardson.RichardsonDiff]), the largest bound, which says how
  much of the error can be the numerical gradient's.

`fast=True` first checks one random direction per array instead (as torch's `fast_mode`
and JAX's `check_grads` do): for a unit vector \(u\), the derivative of
\(s \mapsto L(\theta + s u)\) at 0, taken by the scheme from two evaluations of the loss
(central differences), against \(u \cdot g\). It passes when
\(|\varphi'(0) - u \cdot g| \le\) `tolerance` \(\cdot \lVert g \rVert_2\). A wrong
formula moves \(u \cdot g\) for almost every \(u\); a single wrong entry \(j\)
moves it only by \(u_j\) times its error, so the fast check is a quick screen, not a proof.
When a direction fails, the full check runs and says which entries are wrong.

(The module is a little over 500 lines: the check, its result types and the tables they print
are one concept, read together.)

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
import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol, final, runtime_checkable

import attrs
import numpy as np

from minifw._validation import is_positive_float
from minifw.errors import DifferentiationError, NotSupportedError, ValidationError
from minifw.nn.backprop import HasExactGradients
from minifw.nn.losses import CrossEntropy, Loss
from minifw.nn.models import Layered, Model, analytic_gradient
from minifw.numdiff.differentiator import Differentiator
from minifw.numdiff.objective import Objective
from minifw.numdiff.perturbation import Perturbation
from minifw.numdiff.schemes.central import CentralDiff
from minifw.numdiff.workers import Workers, check_workers
from minifw.typing import ArrayLike, FloatArray

__all__ = [
    "DirectionCheck",
    "GradcheckReport",
    "ParamCheck",
    "Reevaluates",
    "gradcheck",
    "gradcheck_function",
]

# Wrong entries listed by index in a report (all of them are counted).
LISTED = 5
# An array's errors are measured against its own largest gradient entry, or this fraction of the
# model's largest (whichever is larger): the gradient of a bias before batch normalization is zero,
# and what both methods give for it is rounding, which must not be read as a relative error of 1.
SCALE_FLOOR = 1e-4


@final
@attrs.frozen
class ParamCheck:
    r"""The comparison of one parameter array's numerical and analytic gradients.

    `mean_abs_error` is \(\operatorname{mean}_i |\hat g_i - g_i|\), what the book's
    gradient-check scripts print. `wrong` holds the indices of the first `LISTED` entries whose
    error is above
    `tolerance * max(scale, floor)` (`n_wrong` counts them all); `error_bound` is the largest
    bound on the numerical gradient's own error (nan for a scheme without bounds). `floor` is
    `SCALE_FLOOR` times the model's largest gradient entry: an array whose gradient is (nearly)
    zero, a bias before batch normalization, is judged against it.
    """

    name: str
    shape: tuple[int, ...]
    scale: float
    max_abs_error: float
    scaled_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    numerical: float
    analytic: float
    tolerance: float
    wrong: tuple[tuple[int, ...], ...] = ()
    n_wrong: int = 0
    error_bound: float = math.nan
    floor: float = 0.0
    mean_abs_error: float = math.nan

    @property
    def passed(self) -> bool:
        """Whether `scaled_error <= tolerance`."""
        return self.scaled_error <= self.tolerance


@final
@attrs.frozen
class DirectionCheck:
    r"""The fast check of one array: the derivative along a random unit direction \(u\).

    `numerical` is \(\varphi'(0)\) for \(\varphi(s) = L(\theta + s u)\),
    `analytic` is \(u \cdot g\), `scale` is \(\lVert g \rVert_2\) (the largest
    \(u \cdot g\) can be) and `error_bound` the scheme's bound on its own error (nan
    without one); the error is measured against `max(scale, floor)` (see
    [`ParamCheck`][minifw.nn.gradcheck.ParamCheck]).
    """

    name: str
    numerical: float
    analytic: float
    scale: float
    tolerance: float
    error_bound: float = math.nan
    floor: float = 0.0

    @property
    def error(self) -> float:
        """`|numerical - analytic|`."""
        return abs(self.numerical - self.analytic)

    @property
    def scaled_error(self) -> float:
        """The error over `max(scale, floor)` (inf for a zero scale and a non-zero error, else 0)."""
        scale = max(self.scale, self.floor)
        if scale > 0:
            return self.error / scale
        return 0.0 if self.error == 0 else math.inf

    @property
    def passed(self) -> bool:
        """Whether `scaled_error <= tolerance`."""
        return self.scaled_error <= self.tolerance


@final
@attrs.frozen
class GradcheckReport:
    """The result of `gradcheck` or `gradcheck_function`.

    `checks` holds one [`ParamCheck`][minifw.nn.gradcheck.ParamCheck] per parameter array (empty when a
    fast check passed and the full check was not needed); `directions` one
    [`DirectionCheck`][minifw.nn.gradcheck.DirectionCheck] per array in fast mode. `str(report)` is a
    table, one row per array.
    """

    checks: tuple[ParamCheck, ...]
    tolerance: float
    differentiator: str
    directions: tuple[DirectionCheck, ...] = ()
    against: str = "backprop"

    @property
    def passed(self) -> bool:
        """Whether every check that ran passed (the full check decides when it ran)."""
        if self.checks:
            return all(check.passed for check in self.checks)
        return all(d.passed for d in self.directions)

    def book_lines(self) -> str:
        """Return the full check as the book's gradient-check scripts print it: `W1:<mean |num - ana|>`.

        One line per array, `name + ":" + str(mean absolute difference)`, as
        `ch05/gradient_check.py` prints `np.average(np.abs(grad_backprop[key] - grad_numerical[key]))`
        (empty when only the fast check ran).

        Examples:
            >>> import numpy as np
            >>> from minifw import TwoLayerNet, gradcheck
            >>> net = TwoLayerNet(input_size=3, hidden_size=2, output_size=2, seed=0)
            >>> lines = gradcheck(net, np.ones((1, 3)), [1]).book_lines().splitlines()
            >>> [line.split(":")[0] for line in lines]
            ['W1', 'b1', 'W2', 'b2']

        """
        return "\n".join(f"{check.name}:{check.mean_abs_error}" for check in self.checks)

    def __str__(self) -> str:
        lines = []
        if self.directions:
            lines += _direction_table(self)
        if self.checks:
            lines += _full_table(self)
        lines.append(f"overall: {'PASS' if self.passed else 'FAIL'}")
        return "\n".join(lines)


def _direction_table(report: GradcheckReport) -> list[str]:
    header = (
        f"{'param':<6} {'d/ds num':>11} {'u . g':>11} {'|g|':>9} {'scaled err':>10}  {'result':<6}"
    )
    lines = [
        f"fast gradcheck: {report.differentiator} along a random unit u per array vs "
        f"{report.against}, pass if |num - u . g| / |g| <= {report.tolerance:g}",
        header,
        "-" * len(header),
    ]
    for d in report.directions:
        lines.append(
            f"{d.name:<6} {d.numerical:>11.4e} {d.analytic:>11.4e} {d.scale:>9.3e} "
            f"{d.scaled_error:>10.3e}  {'pass' if d.passed else 'FAIL':<6}"
        )
    if report.checks:
        lines.append("a direction failed: the full check follows")
    return lines


def _full_table(report: GradcheckReport) -> list[str]:
    bounds = any(not math.isnan(c.error_bound) for c in report.checks)
    header = (
        f"{'param':<6} {'shape':<11} {'max|g|':>9} {'max abs err':>11} {'scaled err':>10} "
        f"{'max rel err':>11}  {'worst entry':<12} {'result':<6}"
        + (f" {'num err bound':>13}" if bounds else "")
    )
    lines = [
        f"gradcheck: {report.differentiator} vs {report.against}, pass if "
        f"max|num - ana| / max|ana| <= {report.tolerance:g}",
        header,
        "-" * len(header),
    ]
    for c in report.checks:
        index = "[" + ", ".join(map(str, c.worst_index)) + "]"
        lines.append(
            f"{c.name:<6} {'x'.join(map(str, c.shape)):<11} {c.scale:>9.3e} "
            f"{c.max_abs_error:>11.3e} {c.scaled_error:>10.3e} {c.max_rel_error:>11.3e}  "
            f"{index:<12} {'pass' if c.passed else 'FAIL':<6}"
            + (f" {c.error_bound:>13.3e}" if bounds else "")
        )
    failing = [c for c in report.checks if c.n_wrong]
    if failing:
        lines.append(f"entries off by more than {report.tolerance:g} * max|g|:")
    for c in failing:
        shown = ", ".join("[" + ", ".join(map(str, i)) + "]" for i in c.wrong)
        more = f" and {c.n_wrong - len(c.wrong)} more" if c.n_wrong > len(c.wrong) else ""
        lines.append(f"  {c.name}: {c.n_wrong} of {math.prod(c.shape)}: {shown}{more}")
    return lines


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
    tol = _tolerance(tolerance)
    _check_fast(fast, seed)
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


def gradcheck_function(
    f: Callable[[FloatArray], Any],
    grad_f: Callable[[FloatArray], ArrayLike],
    x: ArrayLike,
    differentiator: Differentiator | None = None,
    *,
    tolerance: float = 1e-7,
    fast: bool = False,
    seed: int = 0,
) -> GradcheckReport:
    r"""Compare the numerical gradient of `f` with `grad_f` at `x`, as `gradcheck` does.

    `f` maps an array of `x`'s shape to a number and `grad_f` to an array of that shape.
    `x` is not changed (`f` is evaluated at copies). The report has one row, named `x`.

    Examples:
        >>> import numpy as np
        >>> x = np.array([0.5, -1.0, 2.0])
        >>> gradcheck_function(lambda v: np.sum(np.sin(v)), np.cos, x).passed
        True
        >>> report = gradcheck_function(lambda v: np.sum(v**3), lambda v: 3 * v**2 + (v > 1), x)
        >>> report.passed, report.checks[0].wrong
        (False, ((2,),))

    """
    point = np.array(x, dtype=np.float64)
    if point.size == 0 or not np.all(np.isfinite(point)):
        raise ValidationError(f"x must be a finite, non-empty array, got {x!r}")
    differentiator = CentralDiff() if differentiator is None else differentiator
    tol = _tolerance(tolerance)
    _check_fast(fast, seed)
    analytic = np.asarray(grad_f(point.copy()), dtype=np.float64)
    if analytic.shape != point.shape:
        raise NotSupportedError(
            f"grad_f must return an array of x's shape {point.shape}, got shape {analytic.shape}"
        )
    arrays = {"x": point.copy()}

    def directional(_: str, u: FloatArray) -> Callable[[float], Any]:
        return lambda s: f(point + s * u)

    return _check(
        {"x": analytic},
        {"x": point},
        lambda: Perturbation(lambda: f(arrays["x"]), arrays),
        directional,
        differentiator,
        tol,
        fast=fast,
        seed=seed,
        workers=None,
        against="grad_f",
    )


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
                    floor=floors["norm"],
                )
            )
        directions = tuple(found)
        if all(d.passed for d in directions):
            return GradcheckReport((), tolerance, name, directions, against)
    estimates = differentiator.estimates(objective(), workers=workers)
    numerical = {k: e.value for k, e in estimates.items()}
    bounds = {k: float(np.max(e.error)) for k, e in estimates.items()}  # nan without bounds
    floor = floors["max"]
    checks = tuple(
        _compare(key, numerical[key], analytic[key], tolerance, bounds[key], floor)
        for key in params
    )
    return GradcheckReport(checks, tolerance, name, directions, against)


def _derivative(differentiator: Differentiator, f: Callable[[float], Any]) -> tuple[float, float]:
    found = differentiator.estimate(f, 0.0)
    return found.value, found.error


def _tolerance(tolerance: object) -> float:
    if not is_positive_float(tolerance):
        raise ValidationError(f"tolerance must be a positive float, got tolerance={tolerance!r}")
    return float(tolerance)  # type: ignore[arg-type]


def _check_fast(fast: object, seed: object) -> None:
    if not isinstance(fast, bool):
        raise ValidationError(f"fast must be True or False, got fast={fast!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValidationError(f"seed must be a non-negative integer, got seed={seed!r}")


def _compare(
    name: str,
    numerical: FloatArray,
    analytic: FloatArray,
    tolerance: float,
    bound: float,
    floor: float,
) -> ParamCheck:
    error = np.abs(numerical - analytic)
    flat = int(np.argmax(error))
    worst = tuple(int(i) for i in np.unravel_index(flat, error.shape))
    scale = float(np.max(np.abs(analytic), initial=0.0))
    max_abs = float(error.reshape(-1)[flat])
    denom = np.maximum(np.abs(numerical), np.abs(analytic))
    rel = np.divide(error, denom, out=np.zeros_like(error), where=denom > 0)
    judged = max(scale, floor)
    # An all-zero analytic gradient is matched only by an all-zero numerical one.
    scaled = max_abs / judged if judged > 0 else (0.0 if max_abs == 0 else math.inf)
    wrong = np.flatnonzero(error.reshape(-1) > tolerance * judged)
    return ParamCheck(
        name=name,
        shape=tuple(analytic.shape),
        scale=scale,
        max_abs_error=max_abs,
        scaled_error=scaled,
        max_rel_error=float(np.max(rel, initial=0.0)),
        worst_index=worst,
        numerical=float(numerical.reshape(-1)[flat]),
        analytic=float(analytic.reshape(-1)[flat]),
        tolerance=tolerance,
        wrong=tuple(
            tuple(int(i) for i in np.unravel_index(k, error.shape)) for k in wrong[:LISTED]
        ),
        n_wrong=int(wrong.size),
        error_bound=bound,
        floor=floor,
        mean_abs_error=float(np.average(error)),
    )
