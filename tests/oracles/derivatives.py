"""Smooth functions of one variable with their derivatives written out by hand.

The oracle of ``benchmarks/accuracy.py`` and ``tests/test_accuracy.py``: each
:class:`Case` has a function (numpy only, complex-safe, so that the complex step applies), its
derivative in closed form (no numerical method involved), a point, and what makes the point
hard (``"large |x|"``, ``"domain edge"``, or ``""``). The derivative is evaluated in float64:
it is exact to a few units of the last place, which is the resolution of every comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, final

import attrs
import numpy as np

__all__ = ["CASES", "Case"]


@final
@attrs.frozen
class Case:
    """A function, its derivative and a point; ``hard`` says what makes the point hard."""

    name: str
    f: Callable[[Any], Any]
    derivative: Callable[[float], float]
    x: float
    hard: str = ""

    @property
    def exact(self) -> float:
        """The derivative at the point."""
        return float(self.derivative(self.x))


def _runge(x: Any) -> Any:
    return 1.0 / (1.0 + x * x)


CASES: tuple[Case, ...] = (
    Case("exp(x) at 1", np.exp, np.exp, 1.0),
    Case("sin(x) at 0.7", np.sin, np.cos, 0.7),
    Case("1/(1+x^2) at 0.3", _runge, lambda x: -2 * x / (1 + x * x) ** 2, 0.3),
    Case("tanh(x) at 0.5", np.tanh, lambda x: 1 / np.cosh(x) ** 2, 0.5),
    Case(
        "exp(sin x) at 1",
        lambda x: np.exp(np.sin(x)),
        lambda x: np.cos(x) * np.exp(np.sin(x)),
        1.0,
    ),
    Case("atan(x) at 2", np.arctan, lambda x: 1 / (1 + x * x), 2.0),
    Case("exp(-x^2) at 1.5", lambda x: np.exp(-x * x), lambda x: -2 * x * np.exp(-x * x), 1.5),
    Case("x log x at 5", lambda x: x * np.log(x), lambda x: np.log(x) + 1, 5.0),
    Case("sinh(x) at 2", np.sinh, np.cosh, 2.0),
    Case("log(x) at 1e-3", np.log, lambda x: 1 / x, 1e-3, "domain edge"),
    Case("sqrt(x) at 1e-4", np.sqrt, lambda x: 0.5 / np.sqrt(x), 1e-4, "domain edge"),
    Case("log1p(x) at -0.999", np.log1p, lambda x: 1 / (1 + x), -0.999, "domain edge"),
    # (1 - x)(1 + x), not 1 - x*x: the subtraction is exact there, the square's rounding is not
    Case(
        "arcsin(x) at 0.999",
        np.arcsin,
        lambda x: 1 / np.sqrt((1 - x) * (1 + x)),
        0.999,
        "domain edge",
    ),
    Case("1/x at -0.01", lambda x: 1 / x, lambda x: -1 / (x * x), -0.01, "domain edge"),
    Case("tan(x) at 1.5", np.tan, lambda x: 1 / np.cos(x) ** 2, 1.5, "domain edge"),
    Case("log(x) at 1e10", np.log, lambda x: 1 / x, 1e10, "large |x|"),
    Case("x^1.5 at 1e8", lambda x: x**1.5, lambda x: 1.5 * np.sqrt(x), 1e8, "large |x|"),
    Case("x^3 - 2x at 1e6", lambda x: x**3 - 2 * x, lambda x: 3 * x * x - 2, 1e6, "large |x|"),
    Case("sqrt(x) at 1e20", np.sqrt, lambda x: 0.5 / np.sqrt(x), 1e20, "large |x|"),
    Case("cos(x) at 100", np.cos, lambda x: -np.sin(x), 100.0, "large |x|"),
    Case("exp(x) at 20", np.exp, np.exp, 20.0, "large |x|"),
)
