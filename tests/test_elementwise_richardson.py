"""RichardsonDiff's elementwise derivative: the array tables equal the per-point tables bit for bit.

The oracle is `RichardsonDiff().estimate(f, x)` at each point alone (its own table, worked
through in Python by `minifw.numdiff.tables`): the values, the bounds and the errors must be the
same, and the evaluations the same in all and point by point.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minifw import RichardsonDiff
from minifw.errors import DifferentiationError, ValidationError
from minifw.numdiff.elementwise import Elementwise
from minifw.numdiff.tables import FirstDerivative, SecondDerivative, first_steps
from minifw.numdiff.vector_tables import first_derivatives, first_steps_of


def _quiet(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def quiet(v: Any) -> Any:
        with np.errstate(all="ignore"):
            return f(v)

    return quiet


def _step(v: Any) -> Any:
    return np.where(np.asarray(v) >= 0, 1.0, 0.0) + 0.5 * np.asarray(v)


def _ripple(v: Any) -> Any:
    return np.exp(v) + 1e-9 * np.sin(1e8 * np.asarray(v))


def _fine_noise(v: Any) -> Any:
    x = np.asarray(v)
    return x + 1e-14 * np.cos(1e12 * x) * (1 + np.abs(x))


EXTREMES = [0.0, 5e-324, -5e-324, 1e-310, 2.2e-308, 1e-300, -1e-300, 1e300, -1e300, 1.7e308]

CASES: dict[str, tuple[Callable[[Any], Any], list[float]]] = {
    "sin": (np.sin, [*np.linspace(-3.0, 3.0, 301).tolist(), *EXTREMES]),
    "exp at large x": (np.exp, np.linspace(-700.0, 709.0, 161).tolist()),
    "log near 0": (np.log, [5e-324, *np.geomspace(1e-300, 10.0, 201).tolist()]),
    "sqrt up to 1e20": (np.sqrt, [*np.geomspace(1e-20, 1e20, 121).tolist(), 1e300, 0.0]),
    "abs near kinks": (np.abs, [1e-12, -1e-12, 1e-8, -3e-9, 0.5, -0.5, 1e-300, -1e-300]),
    "a step near its jump": (_step, [1e-9, -1e-9, 1e-3, 2.0, -2.0, 1e-15, -1e-15]),
    "a ripple (noise)": (_ripple, np.linspace(-1.0, 1.0, 101).tolist()),
    "fine noise": (_fine_noise, np.linspace(-2.0, 2.0, 81).tolist()),
    "x/3 at float extremes": (lambda v: np.asarray(v) / 3, [*EXTREMES, -1.7e308]),
    "arctan at float extremes": (np.arctan, [*EXTREMES, -1.7e308]),
    "tan near its poles": (np.tan, [math.pi / 2 - 1e-6, math.pi / 2 + 1e-7, 1.5, -1.57]),
    "1/x near 0": (lambda v: 1 / np.asarray(v), [1e-5, -1e-5, 1e-100, -1e-200, 3.0]),
    "cbrt near 0": (np.cbrt, [1e-30, -1e-30, 1e-6, 8.0]),
    "x**2 (exact values)": (np.square, np.linspace(-5.0, 5.0, 101).tolist()),
    "a constant": (lambda v: 0 * np.asarray(v) + 2.0, [-3.0, 0.0, 1e10]),
    "log1p near its edge": (np.log1p, [-1 + 1e-10, -0.999, -0.5, 1e-20]),
    "x^(3/2) near 0": (lambda v: np.asarray(v) ** 1.5, [1e-12, 1e-3, 0.0, 2.0]),
}

SCHEMES = [
    RichardsonDiff(),
    RichardsonDiff(rtol=1e-13),
    RichardsonDiff(h=1e-2),
    RichardsonDiff(atol=1e-3),
]


def _point_by_point(
    scheme: RichardsonDiff, f: Callable[[Any], Any], xs: list[float]
) -> tuple[dict[int, tuple[float, float, int]], dict[int, str]]:
    """Return each point's (value, error, evaluations) alone, and the errors where it raised."""
    found: dict[int, tuple[float, float, int]] = {}
    refused: dict[int, str] = {}
    for k, x in enumerate(xs):
        try:
            e = scheme.estimate(f, x)
        except DifferentiationError as err:
            refused[k] = str(err)
        else:
            found[k] = (float(e.value), float(e.error), e.evaluations)
    return found, refused


@pytest.mark.filterwarnings("ignore::minifw.numdiff.fixed_step.StepWarning")
@pytest.mark.parametrize("scheme", SCHEMES, ids=repr)
@pytest.mark.parametrize("case", list(CASES))
def test_elementwise_equals_point_by_point(scheme: RichardsonDiff, case: str) -> None:
    f, xs = CASES[case]
    f = _quiet(f)
    alone, refused = _point_by_point(scheme, f, xs)
    if alone:
        together = scheme.estimate(f, np.array([xs[k] for k in alone]), elementwise=True)
        assert together.value.tolist() == [v for v, _, _ in alone.values()]
        assert together.error.tolist() == [e for _, e, _ in alone.values()]
        assert together.evaluations == sum(n for _, _, n in alone.values())
    for k in list(alone)[::5]:  # and each point's own count
        one = scheme.estimate(f, np.array([xs[k]]), elementwise=True)
        assert one.evaluations == alone[k][2]
    if refused:  # the first point without a derivative is named, as alone (where x is x[k])
        with pytest.raises(DifferentiationError) as raised:
            scheme.estimate(f, np.array(xs), elementwise=True)
        k, message = min(refused.items())
        if message.startswith(("f has no derivative", "f is not finite on either side")):
            # the tables' own errors (the checks of the points and steps word theirs apart)
            assert str(raised.value) == re.sub(r"\bx=", f"x[{k}]=", message, count=1)


def test_the_cases_reach_the_per_point_paths() -> None:
    """Restarts, edges, noise, kinks and jumps occur in the cases (else the tests prove little)."""
    left = 0
    for f, xs in CASES.values():
        points = np.array(xs)
        elementwise = Elementwise(_quiet(f), points)
        index = np.arange(points.size)
        try:
            base = elementwise.values_at("x", index)
        except DifferentiationError:
            continue
        first, small = first_steps_of(points, None, FirstDerivative())

        def at(rows: Any, steps: Any, e: Elementwise = elementwise) -> Any:
            with np.errstate(all="ignore"):
                return e.changes_at("x", rows, steps[:, None]).reshape(-1)

        def again(rows: Any, at: Callable[[Any, Any], Any] = at) -> Any:
            return at(rows, 0.0 * rows)

        found = first_derivatives(points, base, first, small, 1e-8, 0.0, at, again)
        left += len(found.transcripts)
        assert all(len(t) >= 1 for t in found.transcripts.values())
    assert left >= 40


def test_most_points_of_a_smooth_f_stay_in_the_arrays() -> None:
    xs = np.linspace(-3.0, 3.0, 2000)
    e = Elementwise(np.sin, xs)
    index = np.arange(xs.size)
    first, small = first_steps_of(xs, None, FirstDerivative())

    def at(rows: Any, steps: Any) -> Any:
        return e.changes_at("x", rows, steps[:, None]).reshape(-1)

    found = first_derivatives(
        xs, e.values_at("x", index), first, small, 1e-8, 0.0, at, lambda r: at(r, 0.0 * r)
    )
    assert len(found.transcripts) <= 20
    assert np.all(np.abs(found.value[found.finished] - np.cos(xs[found.finished])) < 1e-10)


@settings(max_examples=40, deadline=None)
@given(
    xs=st.lists(
        st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=True), min_size=1, max_size=12
    ),
    which=st.sampled_from(["sin", "exp", "arctan", "log"]),
)
def test_random_points(xs: list[float], which: str) -> None:
    f = _quiet({"sin": np.sin, "exp": np.exp, "arctan": np.arctan, "log": np.log}[which])
    scheme = RichardsonDiff()
    alone, refused = _point_by_point(scheme, f, xs)
    if refused or not all(np.isfinite(f(np.array(xs)))):
        return
    together = scheme.estimate(f, np.array(xs), elementwise=True)
    assert together.value.tolist() == [v for v, _, _ in alone.values()]
    assert together.error.tolist() == [e for _, e, _ in alone.values()]
    assert together.evaluations == sum(n for _, _, n in alone.values())


@settings(max_examples=200, deadline=None)
@given(
    x=st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True),
    h=st.sampled_from([None, 1e-3, 0.5]),
    second=st.booleans(),
)
def test_first_steps_of_equal_first_steps(x: float, h: float | None, second: bool) -> None:
    quotient = SecondDerivative() if second else FirstDerivative()
    first, small = first_steps_of(np.array([x]), h, quotient)
    assert (float(first[0]), float(small[0])) == first_steps(x, h, quotient)


def test_nan_points_are_refused_as_before() -> None:
    with pytest.raises(ValidationError, match=r"xs must be finite, got xs\[1\]=nan"):
        RichardsonDiff().estimate(np.sin, np.array([1.0, math.nan]), elementwise=True)


def test_a_2d_array_of_points() -> None:
    xs = np.linspace(0.1, 2.0, 12).reshape(3, 4)
    found = RichardsonDiff().estimate(np.log, xs, elementwise=True)
    alone = [RichardsonDiff().estimate(np.log, float(x)) for x in xs.reshape(-1)]
    assert found.value.shape == (3, 4)
    assert found.value.reshape(-1).tolist() == [float(a.value) for a in alone]
    assert found.error.reshape(-1).tolist() == [float(a.error) for a in alone]
