"""Jacobians, Hessians, Hessian-vector products, directional, sparse and elementwise derivatives.

Against the hand-written derivatives of ``tests/oracles/vector_functions.py``, for every scheme
(from its one registration), with the error bounds where the scheme has them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.sparse  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles.vector_functions import (
    HESSIANS,
    JACOBIANS,
    PATTERNS,
    HessianCase,
    JacobianCase,
    relative_error,
)

import minifw
from minifw import (
    CentralDiff,
    ComplexStep,
    Differentiator,
    FivePointDiff,
    ForwardDiff,
    RichardsonDiff,
)
from minifw.app.registry import REGISTRY
from minifw.errors import DifferentiationError, ValidationError
from minifw.numdiff.sparsity import Pattern, column_groups
from minifw.numdiff.stencil import Stencil, second_derivative

SCHEMES: list[Differentiator] = [
    part.cls() for part in REGISTRY["differentiator"].parts if issubclass(part.cls, Differentiator)
]
# What each scheme reaches on the suites (normwise), with its defaults and with h="auto".
JACOBIAN_ACCURACY = {
    RichardsonDiff: 1e-12,
    ComplexStep: 1e-15,
    FivePointDiff: 1e-6,
    CentralDiff: 1e-6,
    ForwardDiff: 1e-2,
    minifw.BackwardDiff: 1e-2,
}


def _auto(scheme: Differentiator) -> Differentiator:
    return scheme if isinstance(scheme, ComplexStep | RichardsonDiff) else type(scheme)(h="auto")


@pytest.fixture(params=SCHEMES, ids=lambda d: type(d).__name__)
def scheme(request: pytest.FixtureRequest) -> Differentiator:
    found: Differentiator = request.param
    return found


# --- Jacobians -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", JACOBIANS, ids=lambda c: c.name)
def test_jacobians_of_every_scheme(case: JacobianCase, scheme: Differentiator) -> None:
    found = _auto(scheme).jacobian_estimate(case.f, case.point)
    assert found.value.shape == case.exact.shape  # f(x).shape + x.shape
    assert relative_error(found.value, case.exact) <= JACOBIAN_ACCURACY[type(scheme)]
    if isinstance(scheme, RichardsonDiff):
        assert np.all(np.abs(found.value - case.exact) <= found.error)
    else:
        assert np.all(np.isnan(found.error))


def test_richardson_and_complex_step_meet_the_targets_on_the_suite() -> None:
    richardson = [
        relative_error(RichardsonDiff().jacobian(c.f, c.point), c.exact) for c in JACOBIANS
    ]
    assert float(np.median(richardson)) <= 1e-13
    assert max(richardson) <= 1e-10
    assert (
        max(relative_error(ComplexStep().jacobian(c.f, c.point), c.exact) for c in JACOBIANS)
        <= 1e-14
    )


def test_a_jacobian_counts_its_evaluations() -> None:
    calls = [0]

    def f(v: np.ndarray) -> np.ndarray:
        calls[0] += 1
        return np.array([v[0] * v[1], v[0] + v[1], v[1] ** 2])

    found = CentralDiff(h="auto").jacobian_estimate(f, [1.0, 2.0])
    assert found.evaluations == calls[0] == 1 + 2 * 2  # the point, two per column


def test_a_scalar_function_has_the_gradient_as_its_jacobian(scheme: Differentiator) -> None:
    x = np.array([0.3, -1.2, 2.0])

    def f(v: np.ndarray) -> Any:
        return np.sin(v[0]) * v[1] + v[2] ** 3

    jacobian = _auto(scheme).jacobian(f, x)
    assert jacobian.shape == x.shape
    np.testing.assert_allclose(jacobian, _auto(scheme).gradient(f, x.copy()), rtol=1e-9, atol=1e-12)


def test_the_jacobian_never_writes_x() -> None:
    x = np.array([1.0, 2.0])
    before = x.tobytes()
    seen: list[Any] = []

    def f(v: np.ndarray) -> np.ndarray:
        seen.append(v)
        v[0] = 99.0  # f may change its argument: it is a copy each time
        return np.array([1.0, 2.0])

    CentralDiff().jacobian(f, x)
    assert x.tobytes() == before
    assert len({id(v) for v in seen}) == len(seen)


def test_float32_points_are_differentiated_in_float64() -> None:
    seen: set[Any] = set()

    def f(v: np.ndarray) -> np.ndarray:
        seen.add(v.dtype)
        return v**2

    found = RichardsonDiff().jacobian(f, np.array([1.5, -0.5], dtype=np.float32))
    np.testing.assert_allclose(found, np.diag([3.0, -1.0]), rtol=1e-12)
    assert seen == {np.dtype(np.float64)}


def test_a_jacobian_with_workers_is_the_serial_one_bit_for_bit() -> None:
    case = JACOBIANS[4]  # Broyden, six columns
    serial = RichardsonDiff().jacobian(case.f, case.point)
    with minifw.process_pool(2) as pool:
        parallel = RichardsonDiff().jacobian(case.f, case.point, workers=pool)
    assert parallel.tobytes() == serial.tobytes()


# --- sparsity ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", PATTERNS, ids=lambda c: c.name)
@pytest.mark.parametrize("kind", ["csr_array", "csc_matrix", "coo_array", "bool"])
def test_a_sparse_jacobian_is_the_dense_one(case: Any, kind: str) -> None:
    pattern = case.pattern(case.n)
    sparsity = pattern if kind == "bool" else getattr(scipy.sparse, kind)(pattern)
    scheme = CentralDiff(h="auto")
    found = scheme.jacobian_estimate(case.f, case.point, sparsity=sparsity)
    dense = scheme.jacobian(case.f, case.point)
    result = found.value if kind == "bool" else found.value.toarray()
    if kind != "bool":
        assert type(found.value).__name__ == kind
    assert np.array_equal(result, dense)  # the same steps, each row seeing its own column
    assert relative_error(result, case.jacobian(case.point)) <= 1e-9
    assert found.evaluations <= 1 + 2 * (2 * 2 + 1)  # at most five groups of two points


def test_a_tridiagonal_1000_jacobian_takes_seven_evaluations() -> None:
    case = PATTERNS[0]
    found = CentralDiff(h="auto").jacobian_estimate(
        case.f, case.point, sparsity=scipy.sparse.csr_array(case.pattern(case.n))
    )
    assert found.evaluations == 7  # the point and three groups of two


def test_a_sparse_richardson_jacobian_bounds_its_entries() -> None:
    case = PATTERNS[1]
    found = RichardsonDiff().jacobian_estimate(
        case.f, case.point, sparsity=scipy.sparse.csr_array(case.pattern(case.n))
    )
    exact = case.jacobian(case.point)
    assert np.all(np.abs(found.value.toarray() - exact) <= found.error.toarray() + 1e-300)


def test_column_groups_are_structurally_orthogonal() -> None:
    band = np.abs(np.arange(9)[:, None] - np.arange(9)[None, :]) <= 2
    groups = column_groups(Pattern.of(band, (9, 9)))
    assert len(groups) == 5
    assert sorted(int(c) for g in groups for c in g) == list(range(9))
    for group in groups:
        assert np.all(band[:, group].sum(axis=1) <= 1)


def test_a_pattern_that_leaves_out_an_entry_is_named() -> None:
    def f(v: np.ndarray) -> np.ndarray:
        return np.array([v[0] ** 2, 3 * v[0], v[1]])  # output 1 depends on x[0]

    pattern = np.array([[True, False], [False, False], [False, True]])
    with pytest.raises(DifferentiationError, match=r"output 1 of f changes .* leaves out an entry"):
        CentralDiff(h="auto").jacobian(f, np.ones(2), sparsity=pattern)


@pytest.mark.parametrize(
    ("sparsity", "words"),
    [
        (np.ones((3, 3)), "boolean numpy array of shape (3, 3)"),
        (np.eye(4, dtype=bool), "got shape (4, 4)"),
        ([[True]], "got list"),
        (scipy.sparse.eye(2), "scipy.sparse matrix of shape (2, 2)"),
    ],
)
def test_a_bad_pattern_is_refused(sparsity: object, words: str) -> None:
    with pytest.raises(ValidationError, match=rf"sparsity must be .*{_escape(words)}"):
        CentralDiff().jacobian(lambda v: v * 2, np.ones(3), sparsity=sparsity)


def _escape(words: str) -> str:
    return words.replace("(", r"\(").replace(")", r"\)")


# --- Hessians ------------------------------------------------------------------------------------

HESSIAN_ACCURACY = {
    RichardsonDiff: 1e-10,
    ComplexStep: 1e-10,
    FivePointDiff: 1e-8,
    CentralDiff: 1e-5,
    ForwardDiff: 1e-2,
    minifw.BackwardDiff: 1e-2,
}


@pytest.mark.parametrize("case", HESSIANS, ids=lambda c: c.name)
def test_hessians_of_every_scheme(case: HessianCase, scheme: Differentiator) -> None:
    found = _auto(scheme).hessian_estimate(case.f, case.point)
    assert found.value.shape == case.exact.shape
    assert np.array_equal(found.value, found.value.T)  # symmetric by construction
    assert relative_error(found.value, case.exact) <= HESSIAN_ACCURACY[type(scheme)]
    if isinstance(scheme, RichardsonDiff):
        assert np.all(np.abs(found.value - case.exact) <= found.error)


def test_richardson_hessians_meet_the_targets_on_the_suite() -> None:
    errors = [relative_error(RichardsonDiff().hessian(c.f, c.point), c.exact) for c in HESSIANS]
    assert float(np.median(errors)) <= 1e-12
    assert max(errors) <= 1e-10


def test_a_hessian_takes_n_squared_plus_n_points_per_level() -> None:
    case = HESSIANS[3]  # Rosenbrock in ten dimensions: a polynomial, so three levels suffice
    found = RichardsonDiff().hessian_estimate(case.f, case.point)
    assert found.evaluations <= 3 * (100 + 10) + 1  # numdifftools: 3,001


@pytest.mark.parametrize("case", HESSIANS, ids=lambda c: c.name)
def test_hessian_vector_products(case: HessianCase) -> None:
    v = np.cos(np.arange(case.point.size) + 0.5)
    found = RichardsonDiff().hessian_vector_estimate(case.f, case.point, v)
    exact = case.exact @ v
    assert relative_error(found.value, exact) <= 1e-7
    assert np.all(np.abs(found.value - exact) <= found.error)


def test_a_hessian_vector_product_along_an_axis() -> None:
    # a_i e_i - b v vanishes for the coordinate v points along: Q(0) = 0, no line needed
    found = CentralDiff(h="auto").hessian_vector(lambda v: v[0] ** 2 * v[1], [1.0, 3.0], [1.0, 0.0])
    np.testing.assert_allclose(found, [6.0, 2.0], rtol=1e-6)


def test_second_derivative_rules_by_hand() -> None:
    assert second_derivative(Stencil((1.0,), (1.0,))) == Stencil((1.0, 2.0), (-2.0, 1.0), 2)
    assert second_derivative(Stencil((1.0, -1.0), (0.5, -0.5))) == Stencil(
        (1.0, -1.0), (1.0, 1.0), 2
    )
    five = second_derivative(FivePointDiff().stencil)
    assert five.weights == (-1 / 12, -1 / 12, 4 / 3, 4 / 3)
    assert five.order == 4
    # f'' of the cubic x^3 at 2 by the central second difference at h = 0.5: exact, 12
    assert CentralDiff(h=0.5).hessian(lambda v: v[0] ** 3, [2.0])[0, 0] == 12.0


def test_a_hessian_of_an_array_valued_function_is_refused() -> None:
    with pytest.raises(
        DifferentiationError, match=r"scalar function, but f returns an array of shape \(2,\)"
    ):
        RichardsonDiff().hessian(lambda v: v**2, [1.0, 2.0])


# --- directional and elementwise -----------------------------------------------------------------


def test_a_directional_derivative_is_one_stencil_along_v(scheme: Differentiator) -> None:
    calls = [0]

    def f(v: np.ndarray) -> Any:
        calls[0] += 1
        return np.sum(v**3)

    x, v = np.array([1.0, 2.0, -0.5]), np.array([1.0, -1.0, 4.0])
    found = _auto(scheme).directional_estimate(f, x, v)
    assert found.value == pytest.approx(
        float(3 * x**2 @ v),
        rel=1e-5 if isinstance(scheme, ForwardDiff | minifw.BackwardDiff) else 1e-9,
    )
    assert found.evaluations == calls[0]
    if not isinstance(scheme, RichardsonDiff | ComplexStep):
        assert found.evaluations == 1 + len(scheme.stencil.offsets)


def test_a_directional_derivative_of_an_array_valued_function_is_refused() -> None:
    with pytest.raises(DifferentiationError, match=r"directional takes a scalar f"):
        CentralDiff().directional(lambda v: v, [1.0, 2.0], [1.0, 0.0])


@pytest.mark.parametrize("v", [[0.0, 0.0], [1.0]])
def test_a_bad_direction_is_refused(v: list[float]) -> None:
    with pytest.raises(DifferentiationError, match="v must"):
        CentralDiff().directional(lambda u: float(np.sum(u)), [1.0, 2.0], v)


def test_an_elementwise_derivative_calls_f_once_per_batch(scheme: Differentiator) -> None:
    calls = [0]

    def f(v: Any) -> Any:
        calls[0] += 1
        return np.exp(v) * np.sin(v)

    xs = np.linspace(-2.0, 2.0, 501).reshape(3, 167)
    found = _auto(scheme).estimate(f, xs, elementwise=True)
    exact = np.exp(xs) * (np.sin(xs) + np.cos(xs))
    assert found.value.shape == xs.shape
    tolerance = 1e-4 if isinstance(scheme, ForwardDiff | minifw.BackwardDiff) else 1e-8
    np.testing.assert_allclose(found.value, exact, rtol=tolerance, atol=tolerance)
    if isinstance(scheme, RichardsonDiff):
        assert np.all(np.abs(found.value - exact) <= found.error)
        assert calls[0] <= 16  # one call per round of the tables, not per point
    elif isinstance(scheme, ComplexStep):
        assert calls[0] <= 6  # the points, the complex step and the real check
    elif isinstance(scheme, CentralDiff):
        assert calls[0] == 2  # the points, then every stencil point of every point
    else:  # h="auto" checks points whose stencil reaches near 0 one by one
        assert calls[0] <= 12


@given(st.lists(st.floats(-50, 50), min_size=1, max_size=20))
@settings(max_examples=30, deadline=None)
def test_elementwise_is_the_point_by_point_derivative(points: list[float]) -> None:
    xs = np.array(points)
    together = CentralDiff().derivative(np.sin, xs, elementwise=True)
    alone = [CentralDiff().derivative(np.sin, float(x)) for x in xs]
    assert together.tolist() == alone  # the same steps and the same arithmetic, bit for bit


def test_elementwise_needs_an_elementwise_function() -> None:
    with pytest.raises(
        DifferentiationError, match="elementwise f must return numbers of its argument's shape"
    ):
        CentralDiff().derivative(np.sum, np.ones(3), elementwise=True)
    with pytest.raises(ValidationError, match="elementwise must be True or False"):
        CentralDiff().derivative(np.sin, 1.0, elementwise=1)  # type: ignore[call-overload]


def test_an_elementwise_point_outside_the_domain_is_named() -> None:
    with np.errstate(invalid="ignore"), pytest.raises(DifferentiationError, match=r"x\[2\]=-1.0"):
        RichardsonDiff().derivative(np.log, np.array([1.0, 2.0, -1.0]), elementwise=True)


def test_float_extremes_are_valid_points() -> None:
    for x in (1e308, -1e308, 1.79e308, 5e-324, 1e-300):
        result = RichardsonDiff().estimate(lambda v: v, x)
        assert abs(result.value - 1.0) <= result.error <= 1e-9
    assert math.isfinite(RichardsonDiff().derivative(lambda v: v * v, 1e154))
