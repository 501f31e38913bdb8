"""Vector functions with their Jacobians, and scalar functions with their Hessians, by hand.

The oracle of ``benchmarks/derivatives.py`` and of the tests of Jacobians, Hessians, sparse
Jacobians and the checks of a user's derivatives. Every derivative is written out in closed form
(no numerical method involved); every function is numpy only and complex-safe, so that the
complex step applies. ``hard`` says what makes a point hard (``"badly scaled"`` when the
coordinates differ by many orders of magnitude, as ``x = (1e6, 3e-3)``).

Every function also takes points stacked along trailing axes (``x`` of shape ``(n, k)`` gives
``k`` values), as scipy.differentiate evaluates them. The error measure of the suite is
normwise: ``max|D_num - D| / max|D|`` over the whole matrix (an
entry's own relative error means nothing where the derivative is zero, as most entries of a
Hessian of Rosenbrock's function are).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, final

import attrs
import numpy as np

__all__ = [
    "HESSIANS",
    "JACOBIANS",
    "PATTERNS",
    "HessianCase",
    "JacobianCase",
    "PatternCase",
    "relative_error",
]


def relative_error(found: Any, exact: Any) -> float:
    """Return ``max|found - exact| / max|exact|`` (the suite's normwise error)."""
    found, exact = np.asarray(found, dtype=np.float64), np.asarray(exact, dtype=np.float64)
    return float(np.max(np.abs(found - exact)) / np.max(np.abs(exact)))


@final
@attrs.frozen
class JacobianCase:
    """A function from arrays to arrays, its Jacobian (``f(x).shape + x.shape``) and a point."""

    name: str
    f: Callable[[Any], Any]
    jacobian: Callable[[np.ndarray], np.ndarray]
    x: tuple[float, ...] | tuple[tuple[float, ...], ...]
    hard: str = ""

    @property
    def point(self) -> np.ndarray:
        """The point as a float64 array."""
        return np.array(self.x, dtype=np.float64)

    @property
    def exact(self) -> np.ndarray:
        """The Jacobian at the point."""
        return np.asarray(self.jacobian(self.point), dtype=np.float64)


@final
@attrs.frozen
class HessianCase:
    """A scalar function, its Hessian and a point."""

    name: str
    f: Callable[[Any], Any]
    hessian: Callable[[np.ndarray], np.ndarray]
    x: tuple[float, ...]
    hard: str = ""

    @property
    def point(self) -> np.ndarray:
        """The point as a float64 array."""
        return np.array(self.x, dtype=np.float64)

    @property
    def exact(self) -> np.ndarray:
        """The Hessian at the point."""
        return np.asarray(self.hessian(self.point), dtype=np.float64)


# --- Jacobians -----------------------------------------------------------------------------------


def _products(v: Any) -> Any:
    return np.array([v[0] * v[1], np.sin(v[0]) + v[1] ** 3, np.exp(0.1 * v[0]) * v[1]])


def _products_jac(v: np.ndarray) -> np.ndarray:
    e = np.exp(0.1 * v[0])
    return np.array([[v[1], v[0]], [np.cos(v[0]), 3 * v[1] ** 2], [0.1 * e * v[1], e]])


def _polar(v: Any) -> Any:
    return np.array([v[0] * np.cos(v[1]), v[0] * np.sin(v[1])])


def _polar_jac(v: np.ndarray) -> np.ndarray:
    r, t = v
    return np.array([[np.cos(t), -r * np.sin(t)], [np.sin(t), r * np.cos(t)]])


def _spherical(v: Any) -> Any:
    r, t, p = v[0], v[1], v[2]
    return np.array([r * np.sin(t) * np.cos(p), r * np.sin(t) * np.sin(p), r * np.cos(t)])


def _spherical_jac(v: np.ndarray) -> np.ndarray:
    r, t, p = v
    st, ct, sp, cp = np.sin(t), np.cos(t), np.sin(p), np.cos(p)
    return np.array(
        [
            [st * cp, r * ct * cp, -r * st * sp],
            [st * sp, r * ct * sp, r * st * cp],
            [ct, -r * st, 0.0],
        ]
    )


def _rosen_residuals(v: Any) -> Any:
    return np.array([10 * (v[1] - v[0] ** 2), 1 - v[0]])


def _rosen_residuals_jac(v: np.ndarray) -> np.ndarray:
    return np.array([[-20 * v[0], 10.0], [-1.0, 0.0]])


def _broyden(v: Any) -> Any:
    """Broyden's tridiagonal function: (3 - 2 x_i) x_i - x_{i-1} - 2 x_{i+1} + 1."""
    n = len(v)
    out = []
    for i in range(n):
        term = (3 - 2 * v[i]) * v[i] + 1
        if i > 0:
            term = term - v[i - 1]
        if i < n - 1:
            term = term - 2 * v[i + 1]
        out.append(term)
    return np.array(out)


def _broyden_jac(v: np.ndarray) -> np.ndarray:
    n = v.size
    jac = np.zeros((n, n))
    for i in range(n):
        jac[i, i] = 3 - 4 * v[i]
        if i > 0:
            jac[i, i - 1] = -1.0
        if i < n - 1:
            jac[i, i + 1] = -2.0
    return jac


def _rational(v: Any) -> Any:
    return np.array([np.exp(v[0] - v[1]), v[0] / (1 + v[1] ** 2), np.arctan(v[0] * v[1])])


def _rational_jac(v: np.ndarray) -> np.ndarray:
    x, y = v
    e = np.exp(x - y)
    q = 1 + y * y
    a = 1 / (1 + (x * y) ** 2)
    return np.array([[e, -e], [1 / q, -2 * x * y / q**2], [y * a, x * a]])


def _softmax(v: Any) -> Any:
    e = np.exp(v - 0.5)  # not shifted by the max: a complex argument has no order
    return e / np.sum(e, axis=0)


def _softmax_jac(v: np.ndarray) -> np.ndarray:
    s = np.exp(v - np.max(v))
    s /= s.sum()
    return np.diag(s) - np.outer(s, s)


def _matrix_input(v: Any) -> Any:
    """A function of a 2x2 array: its trace, determinant and the sum of squares."""
    squares = np.sum(v * v, axis=(0, 1))
    return np.array([v[0, 0] + v[1, 1], v[0, 0] * v[1, 1] - v[0, 1] * v[1, 0], squares])


def _matrix_input_jac(v: np.ndarray) -> np.ndarray:
    jac = np.zeros((3, 2, 2))
    jac[0] = np.eye(2)
    jac[1] = np.array([[v[1, 1], -v[1, 0]], [-v[0, 1], v[0, 0]]])
    jac[2] = 2 * v
    return jac


def _badly_scaled(v: Any) -> Any:
    return np.array([v[0] * v[1], v[0] ** 2 + 1e6 * v[1], np.log(v[0]) * np.sin(v[1] * 300.0)])


def _badly_scaled_jac(v: np.ndarray) -> np.ndarray:
    x, y = v
    return np.array(
        [[y, x], [2 * x, 1e6], [np.sin(300 * y) / x, 300 * np.log(x) * np.cos(300 * y)]]
    )


def _tiny_and_huge(v: Any) -> Any:
    return np.array([v[0] * v[1], np.sqrt(v[1]) * v[0], np.log(v[0]) + v[1] * 1e-8])


def _tiny_and_huge_jac(v: np.ndarray) -> np.ndarray:
    x, y = v
    return np.array([[y, x], [np.sqrt(y), 0.5 * x / np.sqrt(y)], [1 / x, 1e-8]])


def _trig(v: Any) -> Any:
    return np.array([np.cos(3 * v[0]) * v[1], np.sin(v[0] + v[1]), np.tanh(v[0] - 2 * v[1])])


def _trig_jac(v: np.ndarray) -> np.ndarray:
    x, y = v
    c = np.cos(x + y)
    s2 = 1 / np.cosh(x - 2 * y) ** 2
    return np.array([[-3 * np.sin(3 * x) * y, np.cos(3 * x)], [c, c], [s2, -2 * s2]])


JACOBIANS: tuple[JacobianCase, ...] = (
    JacobianCase("products and sine", _products, _products_jac, (0.7, -1.3)),
    JacobianCase("polar to Cartesian", _polar, _polar_jac, (2.0, 0.6)),
    JacobianCase("spherical to Cartesian", _spherical, _spherical_jac, (1.5, 0.8, -2.1)),
    JacobianCase("Rosenbrock residuals", _rosen_residuals, _rosen_residuals_jac, (-1.2, 1.0)),
    JacobianCase(
        "Broyden tridiagonal (6)", _broyden, _broyden_jac, (-1.0, -0.8, -0.6, 0.3, 0.9, 1.4)
    ),
    JacobianCase("exponential, rational, atan", _rational, _rational_jac, (0.4, -1.7)),
    JacobianCase("softmax (4)", _softmax, _softmax_jac, (0.1, -1.2, 2.0, 0.5)),
    JacobianCase(
        "trace, det, squares of 2x2", _matrix_input, _matrix_input_jac, ((1.0, 2.0), (-0.5, 3.0))
    ),
    JacobianCase("trigonometric", _trig, _trig_jac, (0.3, 0.2)),
    JacobianCase(
        "badly scaled (1e6, 3e-3)", _badly_scaled, _badly_scaled_jac, (1e6, 3e-3), "badly scaled"
    ),
    JacobianCase(
        "badly scaled (1e-8, 1e8)", _tiny_and_huge, _tiny_and_huge_jac, (1e-8, 1e8), "badly scaled"
    ),
    JacobianCase("polar at a large radius", _polar, _polar_jac, (1e5, 2.5), "badly scaled"),
)


# --- Hessians ------------------------------------------------------------------------------------


def _rosenbrock(v: Any) -> Any:
    return sum(100 * (v[i + 1] - v[i] ** 2) ** 2 + (1 - v[i]) ** 2 for i in range(len(v) - 1))


def _rosenbrock_hess(v: np.ndarray) -> np.ndarray:
    n = v.size
    hess = np.zeros((n, n))
    for i in range(n - 1):
        hess[i, i] += 1200 * v[i] ** 2 - 400 * v[i + 1] + 2
        hess[i + 1, i + 1] += 200
        hess[i, i + 1] = hess[i + 1, i] = -400 * v[i]
    return hess


_A = np.array(
    [
        [4.0, 1.0, 0.5, 0.0, 0.2],
        [1.0, 3.0, 0.0, 0.3, 0.0],
        [0.5, 0.0, 2.0, 0.1, 0.4],
        [0.0, 0.3, 0.1, 5.0, 1.5],
        [0.2, 0.0, 0.4, 1.5, 6.0],
    ]
)
_B = np.array([1.0, -2.0, 0.5, 0.0, 3.0])


def _quadratic(v: Any) -> Any:
    return 0.5 * np.einsum("i...,ij,j...->...", v, _A, v) + np.einsum("i,i...->...", _B, v)


def _quadratic_hess(v: np.ndarray) -> np.ndarray:
    return _A.copy()


def _logsumexp(v: Any) -> Any:
    return np.log(np.sum(np.exp(v), axis=0))


def _logsumexp_hess(v: np.ndarray) -> np.ndarray:
    p = np.exp(v - np.max(v))
    p /= p.sum()
    return np.diag(p) - np.outer(p, p)


_LABEL = 2


def _cross_entropy(v: Any) -> Any:
    """The softmax cross-entropy of scores ``v`` for the label 2: -v_2 + log sum exp v."""
    return -v[_LABEL] + np.log(np.sum(np.exp(v), axis=0))


def _beale(v: Any) -> Any:
    x, y = v[0], v[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _beale_hess(v: np.ndarray) -> np.ndarray:
    x, y = v
    terms = [(1.5, 1), (2.25, 2), (2.625, 3)]
    hxx = hxy = hyy = 0.0
    for c, k in terms:
        r = c - x + x * y**k
        rx = y**k - 1
        ry = k * x * y ** (k - 1)
        rxy = k * y ** (k - 1)
        ryy = k * (k - 1) * x * y ** (k - 2) if k > 1 else 0.0
        hxx += 2 * rx * rx
        hxy += 2 * (rx * ry + r * rxy)
        hyy += 2 * (ry * ry + r * ryy)
    return np.array([[hxx, hxy], [hxy, hyy]])


def _scaled(v: Any) -> Any:
    """Each coordinate on its own scale: log(x) y^2 + x y / 1e6, at x = 1e6 and y = 3e-3."""
    return np.log(v[0]) * v[1] ** 2 + v[0] * v[1] * 1e-6


def _scaled_hess(v: np.ndarray) -> np.ndarray:
    x, y = v
    mixed = 2 * y / x + 1e-6
    return np.array([[-(y * y) / (x * x), mixed], [mixed, 2 * np.log(x)]])


def _rosen_point(n: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.linspace(-1.2, 1.5, n))


HESSIANS: tuple[HessianCase, ...] = (
    *(
        HessianCase(f"Rosenbrock ({n})", _rosenbrock, _rosenbrock_hess, _rosen_point(n))
        for n in (2, 3, 5, 10)
    ),
    HessianCase("quadratic form (5)", _quadratic, _quadratic_hess, (0.3, -1.0, 2.0, 0.5, -0.7)),
    HessianCase("log-sum-exp (4)", _logsumexp, _logsumexp_hess, (0.1, -1.2, 2.0, 0.5)),
    HessianCase(
        "softmax cross-entropy in its scores (5)",
        _cross_entropy,
        _logsumexp_hess,
        (1.0, -0.5, 0.3, 2.2, -1.4),
    ),
    HessianCase("Beale", _beale, _beale_hess, (1.2, 0.4)),
    HessianCase("badly scaled (1e6, 3e-3)", _scaled, _scaled_hess, (1e6, 3e-3), "badly scaled"),
)


# --- sparsity patterns ---------------------------------------------------------------------------


@final
@attrs.frozen
class PatternCase:
    """A function with a sparse Jacobian, its pattern (boolean, outputs by inputs) and a point."""

    name: str
    f: Callable[[Any], Any]
    jacobian: Callable[[np.ndarray], np.ndarray]
    pattern: Callable[[int], np.ndarray]
    n: int

    @property
    def point(self) -> np.ndarray:
        """A point of ``n`` coordinates in [0.1, 1]."""
        return np.linspace(0.1, 1.0, self.n)


def _tridiagonal(v: Any) -> Any:
    out = 2 * v**2
    out[:-1] = out[:-1] + np.sin(v[1:])
    out[1:] = out[1:] + v[:-1] ** 3
    return out


def _tridiagonal_jac(v: np.ndarray) -> np.ndarray:
    n = v.size
    jac = np.diag(4 * v)
    jac[np.arange(n - 1), np.arange(1, n)] = np.cos(v[1:])
    jac[np.arange(1, n), np.arange(n - 1)] = 3 * v[:-1] ** 2
    return jac


def _band(n: int, width: int) -> np.ndarray:
    index = np.arange(n)
    band: np.ndarray = np.abs(index[:, None] - index[None, :]) <= width
    return band


def _pentadiagonal(v: Any) -> Any:
    out = np.exp(v)
    out[2:] = out[2:] * v[:-2]
    out[:-2] = out[:-2] - v[2:] ** 2
    return out


def _pentadiagonal_jac(v: np.ndarray) -> np.ndarray:
    n = v.size
    jac = np.diag(np.exp(v))
    jac[np.arange(2, n), np.arange(2, n)] = np.exp(v[2:]) * v[:-2]
    jac[np.arange(2, n), np.arange(n - 2)] = np.exp(v[2:])
    jac[np.arange(n - 2), np.arange(2, n)] = -2 * v[2:]
    return jac


def _arrow(v: Any) -> Any:
    """Each output depends on its own input and on the first one."""
    return v**2 * v[0] + np.sin(v)


def _arrow_jac(v: np.ndarray) -> np.ndarray:
    jac = np.diag(2 * v * v[0] + np.cos(v))
    jac[:, 0] += v**2
    return jac


def _arrow_pattern(n: int) -> np.ndarray:
    pattern = np.eye(n, dtype=bool)
    pattern[:, 0] = True
    return pattern


PATTERNS: tuple[PatternCase, ...] = (
    PatternCase("tridiagonal (1000)", _tridiagonal, _tridiagonal_jac, lambda n: _band(n, 1), 1000),
    PatternCase(
        "pentadiagonal (200)", _pentadiagonal, _pentadiagonal_jac, lambda n: _band(n, 2), 200
    ),
    PatternCase("arrowhead (50)", _arrow, _arrow_jac, _arrow_pattern, 50),
)
