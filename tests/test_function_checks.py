"""The checks of a user's derivatives: Jacobians, JVPs, Hessians and HVPs, full and fast.

Right derivatives (the oracle's) pass with every scheme; deliberately wrong ones fail, naming the
wrong entries with their absolute and relative errors; tolerances follow the scheme, the size
and the precision of the input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from oracles.vector_functions import HESSIANS, JACOBIANS, HessianCase, JacobianCase

from minifw import (
    CentralDiff,
    ComplexStep,
    FivePointDiff,
    RichardsonDiff,
    VectorProduct,
    gradcheck_function,
    hessian_check,
)
from minifw.errors import DifferentiationError, NotSupportedError, ValidationError
from minifw.numdiff.function_check import default_tolerance

CHECKING_SCHEMES = [
    CentralDiff(),
    CentralDiff(h="auto"),
    FivePointDiff(h="auto"),
    RichardsonDiff(),
    ComplexStep(),
]


def _wrong_at(matrix: np.ndarray, index: tuple[int, ...], by: float) -> np.ndarray:
    wrong: np.ndarray = matrix.copy()
    wrong[index] += by * max(1.0, abs(float(matrix[index])))
    return wrong


@pytest.mark.parametrize("case", JACOBIANS, ids=lambda c: c.name)
@pytest.mark.parametrize("scheme", CHECKING_SCHEMES, ids=repr)
def test_a_right_jacobian_passes(case: JacobianCase, scheme: Any) -> None:
    if case.hard and not isinstance(scheme, RichardsonDiff | ComplexStep):
        # A fixed stencil cannot know its truncation error: its tolerance assumes functions that
        # vary on the scale of max(1, |x|), which these do not (sin(300 y) at y = 3e-3).
        pytest.skip("badly scaled: a check needs a scheme that bounds its error")
    for fast in (False, True):
        report = gradcheck_function(case.f, case.jacobian, case.point, scheme, fast=fast)
        assert report.passed, str(report)


@pytest.mark.parametrize("case", JACOBIANS, ids=lambda c: c.name)
def test_a_wrong_jacobian_entry_is_named(case: JacobianCase) -> None:
    index = tuple(int(i) for i in np.unravel_index(case.exact.size // 2, case.exact.shape))

    def wrong(v: np.ndarray) -> np.ndarray:
        return _wrong_at(case.jacobian(v), index, 1e-4)

    report = gradcheck_function(case.f, wrong, case.point, RichardsonDiff())
    check = report.checks[0]
    assert not report.passed
    assert check.wrong == (index,)
    (entry,) = check.entries
    assert entry.index == index
    assert entry.abs_error == pytest.approx(
        1e-4 * max(1.0, abs(float(case.exact[index]))), rel=1e-6
    )
    assert f"J{list(index)}".replace(" ", "") in str(report).replace(" ", "")
    assert "abs" in str(report)
    assert "rel" in str(report)


def test_the_fast_check_catches_a_wrong_formula_and_then_names_the_entries() -> None:
    case = JACOBIANS[0]

    def wrong(v: np.ndarray) -> np.ndarray:
        jac = case.jacobian(v)
        jac[1] *= 1.5  # a whole row wrong: any direction sees it
        return jac

    report = gradcheck_function(case.f, wrong, case.point, fast=True, directions=2)
    assert not report.passed
    assert len(report.directions) == 2
    assert not any(d.passed for d in report.directions)
    assert report.checks[0].wrong == ((1, 0), (1, 1))
    assert "a direction failed: the full check follows" in str(report)


def test_a_jacobian_vector_product_is_checked_column_by_column() -> None:
    case = JACOBIANS[2]  # spherical to Cartesian
    products: list[Any] = []

    def jvp(v: np.ndarray, u: np.ndarray) -> np.ndarray:
        products.append(u)
        found: np.ndarray = case.jacobian(v) @ u
        return found

    assert gradcheck_function(case.f, VectorProduct(jvp), case.point, RichardsonDiff()).passed
    assert len(products) == 3  # one per coordinate, e_j
    products.clear()
    assert gradcheck_function(case.f, VectorProduct(jvp), case.point, fast=True).passed
    assert len(products) == 1  # one direction

    def wrong(v: np.ndarray, u: np.ndarray) -> np.ndarray:
        found: np.ndarray = _wrong_at(case.jacobian(v), (2, 1), 1e-3) @ u
        return found

    report = gradcheck_function(case.f, VectorProduct(wrong), case.point, RichardsonDiff())
    assert report.checks[0].wrong == ((2, 1),)


@pytest.mark.parametrize("case", HESSIANS, ids=lambda c: c.name)
def test_a_right_hessian_passes(case: HessianCase) -> None:
    for scheme in (RichardsonDiff(), ComplexStep(), CentralDiff()):
        for fast in (False, True):
            report = hessian_check(case.f, case.hessian, case.point, scheme, fast=fast)
            assert report.passed, str(report)


@pytest.mark.parametrize("case", HESSIANS, ids=lambda c: c.name)
def test_a_wrong_hessian_entry_is_named(case: HessianCase) -> None:
    n = case.point.size
    index = (0, n - 1)

    def wrong(v: np.ndarray) -> np.ndarray:
        return _wrong_at(case.hessian(v), index, 1e-6)

    report = hessian_check(case.f, wrong, case.point)
    assert not report.passed
    assert report.checks[0].wrong == (index,)
    assert report.checks[0].entries[0].index == index


def test_a_hessian_vector_product_is_checked() -> None:
    case = HESSIANS[3]  # Rosenbrock (10)
    hvp = VectorProduct(lambda v, u: case.hessian(v) @ u)
    assert hessian_check(case.f, hvp, case.point).passed
    assert hessian_check(case.f, hvp, case.point, fast=True, directions=3).passed
    off = VectorProduct(lambda v, u: _wrong_at(case.hessian(v), (4, 5), 1e-5) @ u)
    report = hessian_check(case.f, off, case.point)
    assert report.checks[0].wrong == ((4, 5),)
    assert report.against == "hess_f"


def test_a_gradient_check_keeps_its_name_and_its_verdicts() -> None:
    x = np.array([0.5, -1.0, 2.0])
    report = gradcheck_function(lambda v: np.sum(v**3), lambda v: 3 * v**2 + (v > 1), x)
    assert (report.passed, report.checks[0].name, report.checks[0].wrong) == (False, "x", ((2,),))
    assert report.against == "grad_f"


# --- tolerances and precision --------------------------------------------------------------------


def test_the_default_tolerance_follows_the_scheme() -> None:
    float64 = np.dtype(np.float64)
    assert default_tolerance(CentralDiff().first_rule, 1e-4, float64, 4) == pytest.approx(
        1e-6, rel=1e-3
    )
    eps = 2.0**-52
    assert default_tolerance(CentralDiff().first_rule, None, float64, 4) == pytest.approx(
        10 * 11 * eps ** (2 / 3)
    )
    assert default_tolerance(RichardsonDiff().first_rule, None, float64, 4) == 1e-12
    assert default_tolerance(ComplexStep().first_rule, 1e-20, float64, 4) < 1e-14


def test_the_default_tolerance_follows_the_size_and_the_precision() -> None:
    rule = RichardsonDiff().first_rule
    eps32 = float(np.finfo(np.float32).eps)
    assert default_tolerance(rule, None, np.dtype(np.float32), 100) == pytest.approx(100 * eps32)
    assert default_tolerance(rule, None, np.dtype(np.float32), 10_000) == pytest.approx(
        1000 * eps32
    )
    assert default_tolerance(rule, None, np.dtype(np.float16), 4) == pytest.approx(
        20 * float(np.finfo(np.float16).eps)
    )


def test_a_float32_analytic_jacobian_is_held_to_float32() -> None:
    case = JACOBIANS[1]
    x = case.point.astype(np.float32)

    def jac32(v: np.ndarray) -> np.ndarray:
        assert v.dtype == np.float32  # evaluated at x as given
        return case.jacobian(v).astype(np.float32)

    report = gradcheck_function(case.f, jac32, x, RichardsonDiff())
    assert report.passed
    assert report.tolerance == pytest.approx(10 * math.sqrt(2) * float(np.finfo(np.float32).eps))


def test_an_f_that_returns_float32_is_refused_saying_why() -> None:
    with pytest.raises(
        DifferentiationError, match=r"f returned float32 for a float64 point.*too few digits"
    ):
        gradcheck_function(lambda v: (v**2).astype(np.float32), lambda v: 2 * v, np.ones(3))
    with pytest.raises(DifferentiationError, match=r"f returned float16"):
        hessian_check(lambda v: np.float16(np.sum(v**2)), lambda v: 2 * np.eye(2), np.ones(2))


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"tolerance": 0.0}, ValidationError, "tolerance must be a positive float"),
        ({"fast": 1}, ValidationError, "fast must be True or False"),
        ({"seed": -1}, ValidationError, "seed must be a non-negative integer"),
        ({"directions": 0}, ValidationError, "directions must be a positive integer"),
        ({"workers": 0}, ValidationError, "workers must be"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, Any], error: type, fragment: str) -> None:
    for check in (gradcheck_function, hessian_check):
        with pytest.raises(error, match=fragment):
            check(
                lambda v: float(np.sum(v**2)),
                lambda v: 2 * v if v.ndim else 2.0,
                np.ones(2),
                **kwargs,
            )


def test_an_analytic_side_of_the_wrong_shape_is_named() -> None:
    with pytest.raises(
        NotSupportedError, match=r"jac_f must return an array of shape \(3, 2\), got shape \(2, 2\)"
    ):
        gradcheck_function(JACOBIANS[0].f, lambda v: np.eye(2), [1.0, 2.0])
    with pytest.raises(
        NotSupportedError, match=r"hess_f\(x, v\) must return an array of shape \(2,\)"
    ):
        hessian_check(lambda v: float(np.sum(v**2)), VectorProduct(lambda v, u: 1.0), [1.0, 2.0])
    with pytest.raises(NotSupportedError, match="hessian_check takes a scalar f"):
        hessian_check(lambda v: v, lambda v: np.eye(2), [1.0, 2.0])
    with pytest.raises(ValidationError, match="differentiator must be a Differentiator"):
        hessian_check(lambda v: float(np.sum(v)), lambda v: np.zeros((2, 2)), [1.0, 2.0], "central")  # type: ignore[arg-type]
