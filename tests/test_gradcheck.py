"""gradcheck: the fast directional check, the full check naming wrong entries, plain functions."""

from __future__ import annotations

import math
from typing import Any, final

import attrs
import numpy as np
import pytest

import minifw
from minifw import (
    MNIST,
    ComplexStep,
    CrossEntropy,
    ForwardDiff,
    Loss,
    Model,
    RandomChoiceSampler,
    RichardsonDiff,
    TwoLayerNet,
    gradcheck,
    gradcheck_function,
)
from minifw.errors import DifferentiationError, NotSupportedError, ValidationError
from minifw.typing import ArrayLike, FloatArray


def _batch(size: int = 10) -> tuple[np.ndarray, np.ndarray]:
    data = MNIST.sample().train
    return RandomChoiceSampler(size, seed=0).minibatch(data.x, data.t)


@final
@attrs.define(eq=False)
class Broken(Model):
    """Another model's backprop with deliberate bugs: one wrong entry of W2, b1 doubled."""

    inner: TwoLayerNet
    entry: tuple[int, int] = (3, 4)

    def __attrs_post_init__(self) -> None:
        self.params = self.inner.params

    def predict(self, x: ArrayLike) -> FloatArray:
        return self.inner.predict(x)

    def backprop(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> dict[str, FloatArray]:
        grads = self.inner.backprop(x, t, loss)
        grads["W2"] = grads["W2"].copy()
        grads["W2"][self.entry] += 0.05
        grads["b1"] = 2 * grads["b1"]
        return grads


def test_fast_check_passes_a_correct_backprop_without_the_full_check() -> None:
    x, t = _batch()
    net = TwoLayerNet(784, 10, 10, seed=0)
    before = {k: v.copy() for k, v in net.params.items()}
    report = gradcheck(net, x, t, fast=True)
    assert report.passed
    assert report.checks == ()  # the full check was not needed
    assert [d.name for d in report.directions] == ["W1", "b1", "W2", "b2"]
    assert all(d.scaled_error < 1e-8 for d in report.directions)
    assert "fast gradcheck" in str(report)
    for name, value in before.items():  # restored bit for bit
        assert net.params[name].tobytes() == value.tobytes()


def test_fast_check_failure_runs_the_full_check_and_names_the_wrong_entries() -> None:
    x, t = _batch()
    report = gradcheck(Broken(TwoLayerNet(784, 10, 10, seed=0)), x, t, fast=True)
    assert not report.passed
    failed = {d.name for d in report.directions if not d.passed}
    assert failed == {"b1", "W2"}
    checks = {c.name: c for c in report.checks}
    assert checks["W2"].wrong == ((3, 4),)
    assert checks["W2"].n_wrong == 1
    assert checks["b1"].n_wrong == 10
    assert checks["W1"].passed
    assert checks["b2"].passed
    text = str(report)
    assert "a direction failed: the full check follows" in text
    assert "entries off by more than 1e-07 * max|g|:\n" in text
    assert "\n  W2: 1 of 100: [3, 4]\n" in text
    assert "\n  b1: 10 of 10: [0], [1], [2], [3], [4] and 5 more\n" in text
    assert text.endswith("overall: FAIL")


def test_fast_check_direction_is_the_derivative_along_u() -> None:
    x, t = _batch(5)
    net = TwoLayerNet(784, 4, 10, seed=1)
    report = gradcheck(net, x, t, fast=True, seed=3)
    exact = net.backprop(x, t, CrossEntropy())
    rng = np.random.default_rng(3)
    for direction, g in zip(report.directions, exact.values(), strict=True):
        u = rng.standard_normal(g.shape)
        u /= np.linalg.norm(u)
        assert direction.analytic == pytest.approx(float(np.sum(u * g)), rel=1e-12)
        assert direction.scale == pytest.approx(float(np.linalg.norm(g)), rel=1e-12)


def test_richardson_gives_error_bounds_in_both_checks() -> None:
    x, t = _batch(5)
    net = TwoLayerNet(784, 4, 10, seed=0)
    fast = gradcheck(net, x, t, differentiator=RichardsonDiff(), fast=True, tolerance=1e-10)
    assert fast.passed
    assert all(d.error <= d.error_bound for d in fast.directions)
    full = gradcheck(net, x, t, differentiator=RichardsonDiff(), tolerance=1e-10)
    assert full.passed
    assert all(c.max_abs_error <= c.error_bound for c in full.checks)
    assert "num err bound" in str(full)
    assert all(math.isnan(c.error_bound) for c in gradcheck(net, x, t).checks)


def test_complex_step_full_check_is_exact_to_rounding() -> None:
    x, t = _batch(5)
    report = gradcheck(
        TwoLayerNet(784, 4, 10, seed=0), x, t, differentiator=ComplexStep(), tolerance=1e-13
    )
    assert report.passed


def test_complex_step_fast_check_is_refused_clearly() -> None:
    x, t = _batch(5)
    with pytest.raises(DifferentiationError, match="fast gradcheck moves the model's float64"):
        gradcheck(TwoLayerNet(784, 4, 10, seed=0), x, t, differentiator=ComplexStep(), fast=True)


# --- plain functions ---------------------------------------------------------------------------


def rosenbrock(v: np.ndarray) -> Any:
    return np.sum(100 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2)


def rosenbrock_grad(v: np.ndarray) -> np.ndarray:
    g = np.zeros_like(v)
    g[:-1] = -400 * v[:-1] * (v[1:] - v[:-1] ** 2) - 2 * (1 - v[:-1])
    g[1:] += 200 * (v[1:] - v[:-1] ** 2)
    return g


@pytest.mark.parametrize("fast", [False, True])
def test_gradcheck_function_passes_a_right_gradient(fast: bool) -> None:
    x = np.array([-1.2, 1.0, 0.5, 2.0])
    before = x.copy()
    report = gradcheck_function(rosenbrock, rosenbrock_grad, x, fast=fast)
    assert report.passed
    assert report.against == "grad_f"
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("fast", [False, True])
def test_gradcheck_function_names_a_wrong_entry(fast: bool) -> None:
    def wrong(v: np.ndarray) -> np.ndarray:
        g = rosenbrock_grad(v)
        g[2] *= 1.01
        return g

    report = gradcheck_function(rosenbrock, wrong, np.array([-1.2, 1.0, 0.5, 2.0]), fast=fast)
    assert not report.passed
    assert report.checks[0].wrong == ((2,),)
    assert "vs grad_f" in str(report)


@pytest.mark.parametrize(
    "scheme",
    [RichardsonDiff(), ComplexStep(), ForwardDiff(h="auto")],
    ids=lambda s: type(s).__name__,
)
def test_gradcheck_function_with_other_schemes(scheme: minifw.Differentiator) -> None:
    x = np.array([0.3, -0.7, 1.1])
    tolerance = 1e-6 if isinstance(scheme, ForwardDiff) else 1e-12
    for fast in (False, True):
        report = gradcheck_function(
            lambda v: np.sum(np.exp(v) * np.sin(v)),
            lambda v: np.exp(v) * (np.sin(v) + np.cos(v)),
            x,
            scheme,
            tolerance=tolerance,
            fast=fast,
        )
        assert report.passed, str(report)


def test_gradcheck_function_refuses_a_gradient_of_the_wrong_shape() -> None:
    with pytest.raises(NotSupportedError, match=r"shape \(3,\), got shape \(2,\)"):
        gradcheck_function(np.sum, lambda v: v[:2], np.ones(3))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"tolerance": 0.0}, "tolerance must be a positive float"),
        ({"fast": 1}, "fast must be True or False"),
        ({"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_bad_options(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        gradcheck_function(np.sum, np.ones_like, np.ones(2), **kwargs)
    x, t = _batch(2)
    with pytest.raises(ValidationError, match=fragment):
        gradcheck(TwoLayerNet(784, 2, 10, seed=0), x, t, **kwargs)


def test_bad_point() -> None:
    with pytest.raises(ValidationError, match="x must be a finite, non-empty array"):
        gradcheck_function(np.sum, np.ones_like, [1.0, math.nan])
