"""Numerical derivatives: the seed's numbers, exactness, restoration and the seed's pitfalls."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minifw import (
    BackwardDiff,
    CentralDiff,
    ComplexStep,
    Differentiator,
    FivePointDiff,
    ForwardDiff,
    Perturbation,
    RichardsonDiff,
    Stencil,
)
from minifw.errors import DifferentiationError, MinifwError, ValidationError
from minifw.numdiff.auto_step import auto_steps
from minifw.numdiff.engine import combine
from minifw.numdiff.stencil import one_sided


def function_2(x: np.ndarray) -> float:
    return float(np.sum(x**2))


# --- the seed's numbers -------------------------------------------------------------------------


def test_seed_derivative_of_function_tmp1() -> None:
    value = CentralDiff().derivative(lambda x0: x0 * x0 + 4.0**2.0, 3.0)
    assert value == pytest.approx(6.00000000000378, abs=1e-9)
    # Same formula as the book, so the same float, digit for digit.
    assert value == ((3.0 + 1e-4) ** 2 + 16.0 - ((3.0 - 1e-4) ** 2 + 16.0)) / (2 * 1e-4)


def test_seed_derivative_of_function_tmp2_as_meant() -> None:
    # The seed writes x1 ** x1; the partial derivative of 3^2 + x1^2 is meant.
    value = CentralDiff().derivative(lambda x1: 3.0**2.0 + x1 * x1, 4.0)
    assert value == pytest.approx(7.999999999999119, abs=1e-9)


def test_seed_partial_derivatives() -> None:
    diff = CentralDiff()
    assert diff.partial(function_2, [3.0, 4.0], 0) == pytest.approx(6.00000000000378, abs=1e-9)
    assert diff.partial(function_2, [3.0, 4.0], 1) == pytest.approx(7.999999999999119, abs=1e-9)


def test_seed_gradient() -> None:
    np.testing.assert_allclose(
        CentralDiff().gradient(function_2, np.array([3.0, 4.0])), [6.0, 8.0], atol=1e-6
    )


def test_book_tangent_example() -> None:
    # y = 0.01x^2 + 0.1x has slope 0.2 at x=5 and 0.3 at x=10 (the book's figure).
    f: Callable[[float], float] = lambda x: 0.01 * x**2 + 0.1 * x  # noqa: E731
    assert CentralDiff().derivative(f, 5.0) == pytest.approx(0.2, abs=1e-9)
    assert CentralDiff().derivative(f, 10.0) == pytest.approx(0.3, abs=1e-9)


@pytest.mark.parametrize(
    ("diff", "expected"),
    [
        (ForwardDiff(), (3.0001**2 - 9.0) / 1e-4),
        (BackwardDiff(), (9.0 - 2.9999**2) / 1e-4),
    ],
    ids=["forward", "backward"],
)
def test_one_sided_differences_by_hand(diff: Differentiator, expected: float) -> None:
    # Truncation error h * f''/2 = 1e-4 for x^2: the one-sided schemes are off by about that.
    value = diff.derivative(lambda x: x * x, 3.0)
    assert value == pytest.approx(expected, rel=1e-12)
    assert abs(value - 6.0) == pytest.approx(1e-4, rel=1e-6)


# --- shapes, restoration --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 1, 3)])
def test_gradient_has_the_shape_of_x(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    grad = CentralDiff().gradient(lambda a: float(np.sum(a**3)), x)
    assert grad.shape == x.shape
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-7, atol=1e-7)


def test_gradient_through_a_closure_that_reads_the_array_in_place() -> None:
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    v = np.array([1.0, 2.0])

    def loss(_: np.ndarray) -> float:  # ignores its argument, like the book's lambda W: ...
        return float(np.sum((w @ v) ** 2))

    grad = CentralDiff().gradient(loss, w)
    np.testing.assert_allclose(grad, 2 * np.outer(w @ v, v), rtol=1e-9)


def test_gradient_of_a_non_contiguous_view() -> None:
    base = np.arange(12.0).reshape(3, 4)
    view = base[:, ::2]
    grad = CentralDiff().gradient(lambda a: float(np.sum(a**2)), view)
    np.testing.assert_allclose(grad, 2 * view, rtol=1e-9)
    np.testing.assert_array_equal(base, np.arange(12.0).reshape(3, 4))


class BoomError(RuntimeError):
    pass


@given(
    x=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
        elements=st.floats(-1e3, 1e3),
    ),
    fail_after=st.integers(1, 30),
)
def test_gradient_restores_x_even_when_f_raises(x: np.ndarray, fail_after: int) -> None:
    original = x.copy()
    calls = 0

    def f(a: np.ndarray) -> float:
        nonlocal calls
        calls += 1
        if calls > fail_after:
            raise BoomError
        return float(np.sum(a))

    with contextlib.suppress(BoomError):
        CentralDiff().gradient(f, x)
    np.testing.assert_array_equal(x, original)
    assert x.tobytes() == original.tobytes()  # bit for bit, signed zeros included


@given(
    a=hnp.arrays(np.float64, st.integers(1, 5), elements=st.floats(-10, 10)),
    c=st.floats(-10, 10),
    data=st.data(),
)
def test_central_difference_is_exact_for_quadratics(
    a: np.ndarray, c: float, data: st.DataObject
) -> None:
    # f(x) = sum(a x^2) + c has no third derivative: only rounding separates the central
    # difference from 2 a x. Rounding error is about eps * |f| / h.
    x = data.draw(hnp.arrays(np.float64, a.shape, elements=st.floats(-10, 10)))
    f = lambda v: float(np.sum(a * v * v) + c)  # noqa: E731
    scale = float(np.sum(np.abs(a) * (np.abs(x) + 1) ** 2) + abs(c) + 1)
    grad = CentralDiff().gradient(f, x.copy())
    np.testing.assert_allclose(grad, 2 * a * x, rtol=0, atol=1e-10 * scale)


# --- the seed's pitfalls become errors ---------------------------------------------------------


@pytest.mark.parametrize("diff_type", [ForwardDiff, BackwardDiff, CentralDiff])
def test_a_vanishing_step_is_an_error(diff_type: type[Differentiator]) -> None:
    with pytest.raises(DifferentiationError, match=r"h=1e-50 vanishes against x=5.0"):
        diff_type(h=1e-50).derivative(lambda x: 0.01 * x**2 + 0.1 * x, 5.0)
    with pytest.raises(DifferentiationError, match=r"vanishes against x\[1\]=4.0"):
        diff_type(h=1e-50).gradient(function_2, np.array([0.0, 4.0]))


def test_step_vanishing_only_against_a_large_coordinate() -> None:
    with pytest.raises(DifferentiationError, match=r"x\[0, 1\]=1e\+20"):
        CentralDiff().gradient(function_2, np.array([[1.0, 1e20]]))


@pytest.mark.parametrize(
    ("f", "fragment"),
    [
        (lambda x: x, "shape (2,)"),
        (lambda x: "a", "str"),
        (lambda x: math.nan if x[1] > 4.0 else 1.0, r"nan at x\[1\] moved by 0.0001"),
        (lambda x: 1 / 0.0 if x[0] < 3.0 else 1.0, "ZeroDivisionError"),
    ],
    ids=["vector", "string", "nan", "raises"],
)
def test_bad_function_values_name_the_coordinate(f: Callable[[Any], Any], fragment: str) -> None:
    x = np.array([3.0, 4.0])
    with pytest.raises((DifferentiationError, ZeroDivisionError)) as info:
        CentralDiff().gradient(f, x)
    text = f"{type(info.value).__name__}: {info.value}"
    assert fragment in text or __import__("re").search(fragment, text)
    np.testing.assert_array_equal(x, [3.0, 4.0])


def test_non_finite_value_at_the_start_is_named() -> None:
    with pytest.raises(DifferentiationError, match="inf at the unperturbed point"):
        CentralDiff().derivative(lambda x: math.inf, 1.0)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float32, np.bool_])
def test_non_float64_arrays_are_rejected(dtype: type) -> None:
    x: np.ndarray = np.array([3, 4], dtype=dtype)
    with pytest.raises(ValidationError, match=f"float64 array .*dtype {np.dtype(dtype)}"):
        CentralDiff().gradient(function_2, x)


def test_lists_of_ints_are_converted() -> None:
    np.testing.assert_allclose(CentralDiff().gradient(function_2, [3, 4]), [6, 8], atol=1e-6)


@pytest.mark.parametrize("h", [0.0, -1e-4, math.nan, math.inf, True, "1e-4"])
def test_bad_step(h: object) -> None:
    with pytest.raises(
        ValidationError, match=r"h must be a positive finite float or 'auto', got h="
    ):
        CentralDiff(h=h)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("i", "fragment"),
    [(2, "out of range"), ((0, 0), "1 integers"), (1.0, "integers"), (-3, "out of range")],
)
def test_bad_partial_index(i: Any, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        CentralDiff().partial(function_2, [3.0, 4.0], i)


def test_partial_accepts_negative_and_tuple_indices() -> None:
    diff = CentralDiff()
    assert diff.partial(function_2, [3.0, 4.0], -1) == diff.partial(function_2, [3.0, 4.0], 1)
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert diff.partial(function_2, x, (1, 0)) == pytest.approx(6.0, abs=1e-9)


@pytest.mark.parametrize("x", [math.nan, "3.0", True, [3.0]])
def test_bad_derivative_point(x: Any) -> None:
    with pytest.raises(ValidationError, match="x must be"):
        CentralDiff().derivative(lambda v: v, x)


# --- stencils ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offsets", "weights", "fragment"),
    [
        ((), (), "at least one"),
        ((1.0,), (1.0, 2.0), "as many weights"),
        ((0.0,), (1.0,), "non-zero"),
        ((1.0, 1.0), (0.5, 0.5), "distinct"),
        ((1.0, -1.0), (1.0, -1.0), "sum"),
    ],
)
def test_bad_stencils(
    offsets: tuple[float, ...], weights: tuple[float, ...], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment):
        Stencil(offsets, weights)


def test_perturbation_objective_restores_and_reports_changes() -> None:
    w = np.array([1.0, 2.0, 3.0])
    objective = Perturbation(lambda: float(w @ w), {"w": w})
    changes = objective.changes("w", np.array([0, 2]), np.array([1.0, -1.0]))
    np.testing.assert_array_equal(changes, [[3.0, -1.0], [7.0, -5.0]])
    np.testing.assert_array_equal(w, [1.0, 2.0, 3.0])


def test_errors_are_minifw_errors() -> None:
    assert issubclass(DifferentiationError, MinifwError)
    assert issubclass(ValidationError, MinifwError)


# --- complex stencils, orders, the five-point scheme, one-sided stencils -------------------------


def test_complex_stencil() -> None:
    stencil = Stencil((1j,), (-1j,))
    assert stencil.offsets == (1j,)
    assert stencil.is_complex
    assert not Stencil((1.0, -1.0), (0.5, -0.5)).is_complex
    assert repr(stencil) == "Stencil(offsets=(1j,), weights=(-1j,))"


@pytest.mark.parametrize(
    ("offsets", "weights", "fragment"),
    [
        ((1j,), (1j,), r"got \(-1\+0j\)|got -1.0"),
        ((1j, 1j), (-0.5j, -0.5j), "distinct"),
        ((complex(math.inf, 1),), (-1j,), "finite"),
        ((1j,), (complex(math.nan, 1),), "finite"),
        (("1",), (1.0,), "numbers"),
    ],
)
def test_bad_complex_stencils(
    offsets: tuple[Any, ...], weights: tuple[Any, ...], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment):
        Stencil(offsets, weights)


@pytest.mark.parametrize(
    ("scheme", "order"),
    [
        (ForwardDiff(), 1),
        (BackwardDiff(), 1),
        (CentralDiff(), 2),
        (FivePointDiff(), 4),
        (ComplexStep(), 2),
        (RichardsonDiff(), 2),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, int) else "",
)
def test_stencil_orders(scheme: Differentiator, order: int) -> None:
    assert scheme.stencil.order == order


def test_five_point_is_fourth_order() -> None:
    # Error -h^4 f^(5) / 30: for exp at 0, -h^4 / 30, to within the next term.
    for h in (0.1, 0.05):
        error = FivePointDiff(h=h).derivative(math.exp, 0.0) - 1.0
        assert error == pytest.approx(-(h**4) / 30, rel=0.02)


def test_five_point_by_hand() -> None:
    f: Callable[[float], float] = lambda x: x**5  # noqa: E731
    h = 0.1
    by_hand = (f(1 - 2 * h) - 8 * f(1 - h) + 8 * f(1 + h) - f(1 + 2 * h)) / (12 * h)
    assert FivePointDiff(h=h).derivative(f, 1.0) == pytest.approx(by_hand, rel=1e-14)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("side", [1.0, -1.0])
def test_one_sided_stencils_are_exact_for_polynomials_of_their_order(
    order: int, side: float
) -> None:
    stencil = one_sided(order, side)
    assert stencil.order == order
    assert all(complex(o).real * side > 0 for o in stencil.offsets)
    # f(x) = x^order at 1: the formula is exact up to rounding.
    h = 0.01
    changes = np.array([[(1 + o * h) ** order - 1 for o in stencil.offsets]])
    value = float(combine(stencil, changes, np.array([h]))[0])
    assert value == pytest.approx(order, rel=1e-9)


def test_auto_step_is_relative_and_a_power_of_two() -> None:
    steps = auto_steps(2, np.array([0.0, 0.5, 3.0, -1e6]))
    assert steps.tolist() == [2.0**-17, 2.0**-17, 2.0**-16, 2.0**-17 * 2.0**19]


def test_auto_is_accepted_for_every_real_scheme() -> None:
    for scheme in (ForwardDiff, BackwardDiff, CentralDiff, FivePointDiff, RichardsonDiff):
        assert scheme(h="auto").h == "auto"


def test_fixed_steps_keep_the_books_numbers_bit_for_bit() -> None:
    assert CentralDiff().derivative(lambda x0: x0 * x0 + 4.0**2.0, 3.0) == 6.00000000000378
    assert CentralDiff(h=1e-4).gradient(function_2, np.array([3.0, 4.0])).tolist() == [
        6.00000000000378,
        7.999999999999119,
    ]
