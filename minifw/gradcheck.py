r"""Gradient checking: compare a numerical gradient with a model's analytic one.

For each parameter array, with :math:`g` the analytic (backprop) gradient and :math:`\hat g` the
numerical one, the check reports

- the largest absolute error :math:`\max_i |\hat g_i - g_i|` and where it is;
- the *scaled* error :math:`\max_i |\hat g_i - g_i| / \max_i |g_i|`, which decides pass or fail:
  an entry's own relative error is meaningless where the gradient is (nearly) zero, so the error
  is measured against the scale of the whole array;
- the largest per-entry relative error :math:`|\hat g_i - g_i| / \max(|\hat g_i|, |g_i|)`, for
  information.

>>> import numpy as np
>>> from minifw import CrossEntropy, TwoLayerNet, gradcheck
>>> net = TwoLayerNet(input_size=6, hidden_size=4, output_size=3, weight_init_std=0.5, seed=0)
>>> x, t = np.random.default_rng(0).random((5, 6)), np.array([0, 1, 2, 1, 0])
>>> report = gradcheck(net, x, t, CrossEntropy())
>>> report.passed
True
>>> [check.name for check in report.checks]
['W1', 'b1', 'W2', 'b2']
"""

from __future__ import annotations

import math
from typing import final

import attrs
import numpy as np

from minifw._validation import is_positive_float
from minifw.differentiation import CentralDiff, Differentiator
from minifw.errors import ValidationError
from minifw.losses import CrossEntropy, Loss
from minifw.models import Model, analytic_gradient
from minifw.parallel import Workers, check_workers
from minifw.typing import ArrayLike, FloatArray

__all__ = ["GradcheckReport", "ParamCheck", "gradcheck"]


@final
@attrs.frozen
class ParamCheck:
    """The comparison of one parameter array's numerical and analytic gradients."""

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

    @property
    def passed(self) -> bool:
        """Whether ``scaled_error <= tolerance``."""
        return self.scaled_error <= self.tolerance


@final
@attrs.frozen
class GradcheckReport:
    """The result of :func:`gradcheck`: one :class:`ParamCheck` per parameter array.

    ``str(report)`` is a table, one row per parameter array.
    """

    checks: tuple[ParamCheck, ...]
    tolerance: float
    differentiator: str

    @property
    def passed(self) -> bool:
        """Whether every parameter array passed."""
        return all(check.passed for check in self.checks)

    def __str__(self) -> str:
        header = (
            f"{'param':<6} {'shape':<11} {'max|g|':>9} {'max abs err':>11} {'scaled err':>10} "
            f"{'max rel err':>11}  {'worst entry':<12} {'result':<6}"
        )
        lines = [
            f"gradcheck: {self.differentiator} vs backprop, pass if "
            f"max|num - ana| / max|ana| <= {self.tolerance:g}",
            header,
            "-" * len(header),
        ]
        for c in self.checks:
            index = "[" + ", ".join(map(str, c.worst_index)) + "]"
            lines.append(
                f"{c.name:<6} {'x'.join(map(str, c.shape)):<11} {c.scale:>9.3e} "
                f"{c.max_abs_error:>11.3e} {c.scaled_error:>10.3e} {c.max_rel_error:>11.3e}  "
                f"{index:<12} {'pass' if c.passed else 'FAIL':<6}"
            )
        lines.append(f"overall: {'PASS' if self.passed else 'FAIL'}")
        return "\n".join(lines)


def gradcheck(
    model: Model,
    x: ArrayLike,
    t: ArrayLike,
    loss: Loss | None = None,
    differentiator: Differentiator | None = None,
    *,
    tolerance: float = 1e-7,
    workers: Workers = None,
) -> GradcheckReport:
    r"""Compare ``differentiator``'s numerical gradient with ``model.backprop``.

    The loss defaults to :class:`~minifw.CrossEntropy` and the scheme to
    :class:`~minifw.CentralDiff` (``h=1e-4``). A parameter array passes when
    :math:`\max_i |\hat g_i - g_i| / \max_i |g_i| \le` ``tolerance``. The parameters are left as
    they were. ``workers`` spreads the numerical gradient over processes or an executor, with
    the same result to the last bit (:meth:`~minifw.Differentiator.gradients`).

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
    if not is_positive_float(tolerance):
        raise ValidationError(f"tolerance must be a positive float, got tolerance={tolerance!r}")
    tol = float(tolerance)
    check_workers(workers)
    analytic = analytic_gradient(model, x, t, loss)
    numerical = differentiator.gradients(model.objective(x, t, loss), workers=workers)
    checks = tuple(_compare(name, numerical[name], analytic[name], tol) for name in model.params)
    return GradcheckReport(checks=checks, tolerance=tol, differentiator=repr(differentiator))


def _compare(
    name: str, numerical: FloatArray, analytic: FloatArray, tolerance: float
) -> ParamCheck:
    error = np.abs(numerical - analytic)
    flat = int(np.argmax(error))
    worst = tuple(int(i) for i in np.unravel_index(flat, error.shape))
    scale = float(np.max(np.abs(analytic), initial=0.0))
    max_abs = float(error.reshape(-1)[flat])
    denom = np.maximum(np.abs(numerical), np.abs(analytic))
    rel = np.divide(error, denom, out=np.zeros_like(error), where=denom > 0)
    # An all-zero analytic gradient is matched only by an all-zero numerical one.
    scaled = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
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
    )
