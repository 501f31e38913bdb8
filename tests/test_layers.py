"""Contracts every concrete Layer keeps: backward, change, series and capabilities against their definitions.

A new built-in layer is tested by adding a factory to ``LAYERS``;
``test_every_concrete_layer_is_listed`` fails until it is. Shapes and values are drawn by
hypothesis. Row-coupled layers (batch normalization in training) are given whole batches, as the
engine gives them; per-example layers (a dropout mask) are asked for the part at the rows and
units a test gathers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_contracts import _concrete_subclasses

import minifw
from minifw.errors import DifferentiationError
from minifw.nn import _series
from minifw.nn.layered.steps import UnitSteps
from minifw.nn.layers import (
    Activation,
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    DropoutMask,
    Elementwise,
    Flatten,
    HasStepMoves,
    Layer,
    Linear,
    PerExample,
    Pooling,
    RelativeOutputs,
    ReLU,
    Reshape,
    RowCoupled,
    SeriesLayer,
    Sigmoid,
    Softmax,
    Tanh,
)

Array = Any


def _affine(n_in: int, n_out: int, rng: np.random.Generator) -> Layer:
    return Affine(W=rng.normal(size=(n_in, n_out)), b=rng.normal(size=n_out))


def _batch_norm(n: int, rng: np.random.Generator) -> BatchNormalization:
    return BatchNormalization(
        gamma=rng.normal(size=n),
        beta=rng.normal(size=n),
        running_mean=rng.normal(size=n),
        running_var=rng.random(n) + 0.1,
    )


#: name -> factory(rows, n, rng) returning (layer, the shape of one input example).
LAYERS: dict[str, Callable[[int, int, np.random.Generator], tuple[Layer, tuple[int, ...]]]] = {
    "Affine": lambda r, n, rng: (_affine(n, 3, rng), (n,)),
    "Sigmoid": lambda r, n, rng: (Sigmoid(), (n,)),
    "Tanh": lambda r, n, rng: (Tanh(), (n,)),
    "ReLU": lambda r, n, rng: (ReLU(), (n,)),
    "Softmax": lambda r, n, rng: (Softmax(), (n,)),
    "Convolution": lambda r, n, rng: (
        Convolution(W=rng.normal(size=(3, 2, 2, 3)), b=rng.normal(size=3), stride=1 + n % 2, pad=n % 3),
        (2, n + 2, n + 3),
    ),
    "Pooling": lambda r, n, rng: (Pooling(2, 1 + n % 2, stride=1 + n % 2), (2, n + 1, n + 2)),
    "BatchNormalization": lambda r, n, rng: (_batch_norm(n, rng), (n,)),
    "TrainingBatchNorm": lambda r, n, rng: (_batch_norm(2 * n, rng).training(np.zeros(1)), (2, n)),
    "Dropout": lambda r, n, rng: (Dropout(0.3), (n,)),
    "DropoutMask": lambda r, n, rng: (DropoutMask(rng.random((r, n)) > 0.4), (n,)),
    "Flatten": lambda r, n, rng: (Flatten(), (2, n, 1)),
    "Reshape": lambda r, n, rng: (Reshape((n, 2)), (2 * n,)),
}


def test_every_concrete_layer_is_listed() -> None:
    assert {cls.__name__ for cls in _concrete_subclasses(Layer)} == set(LAYERS)


def test_layer_bases_are_abstract() -> None:
    for base in (Layer, Activation, minifw.nn.layers.Reshaping):
        with pytest.raises(TypeError):
            base()  # type: ignore[abstract]


def _flat(a: Array) -> Array:
    return a.reshape(a.shape[0], -1)


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, Layer, Array, Array]:
    name = draw(st.sampled_from(sorted(LAYERS)))
    rows = draw(st.integers(1, 4))
    n_in = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    layer, shape = LAYERS[name](rows, n_in, rng)
    scale = draw(st.sampled_from([0.1, 1.0, 4.0]))
    x: Array = scale * rng.normal(size=(rows, *shape))
    if name == "Pooling":  # distinct values: no window's maximum is tied or nearly so
        x = scale * 0.1 * rng.permutation(x.size).reshape(x.shape)
    direction = rng.normal(size=(rows, *shape))
    return name, layer, x, direction


@given(cases())
def test_backward_is_the_gradient(case: tuple[str, Layer, Array, Array]) -> None:
    # d/dx of sum(g * f(x)) by central differences on a smooth function of x and the params.
    name, layer, x, _ = case
    if name == "ReLU":
        x = np.where(np.abs(x) < 1e-2, 0.5, x)  # away from the kink
    y = layer.forward(x)
    g = np.random.default_rng(0).normal(size=y.shape)
    dx, dparams = layer.backward(x, y, g)
    assert dx.shape == x.shape
    assert set(dparams) == set(layer.params)

    def objective() -> float:
        return float(np.sum(g * layer.forward(x)))

    numerical = minifw.CentralDiff(h=1e-6).gradient(lambda _: objective(), x)
    np.testing.assert_allclose(dx, numerical, rtol=1e-6, atol=1e-7)
    for pname, arr in layer.params.items():
        numerical_p = minifw.CentralDiff(h=1e-6).gradient(lambda _: objective(), arr)
        np.testing.assert_allclose(dparams[pname], numerical_p, rtol=1e-6, atol=1e-7)


@given(cases(), st.sampled_from([1e-12, 1e-6, 1e-2, 1.0, 40.0]))
def test_change_is_the_difference_of_outputs(
    case: tuple[str, Layer, Array, Array], size: float
) -> None:
    _, layer, x, direction = case
    y = layer.forward(x)
    dx = size * direction
    change = layer.change(x, y, dx)
    assert change.shape == y.shape
    difference = layer.forward(x + dx) - y
    # Agreement to the rounding of the difference itself (which loses digits for tiny moves).
    scale = np.maximum(np.abs(y), np.abs(layer.forward(x + dx))) + 1e-300
    ulps = 4e-15
    if isinstance(layer, RowCoupled):  # every row's output moves with the whole batch
        scale = np.maximum(scale, np.max(scale))
        ulps = 16e-15  # and with the rounding of its mean and variance, summed over the batch
    np.testing.assert_allclose(change, difference, rtol=0, atol=float(np.max(ulps * scale)))


@given(cases())
def test_change_keeps_the_precision_of_tiny_moves(case: tuple[str, Layer, Array, Array]) -> None:
    # For a move of 1e-13 the subtraction of outputs keeps about 3 digits; the change rule keeps
    # them all: <g, change> equals the first-order change <backward(g), move> to 1e-7.
    name, layer, x, direction = case
    if name == "ReLU":
        x = np.where(np.abs(x) < 1e-2, 0.5, x)
    y = layer.forward(x)
    g = np.random.default_rng(1).normal(size=y.shape)
    change = layer.change(x, y, 1e-13 * direction)
    jvp = float(np.sum(layer.backward(x, y, g)[0] * direction))
    assert float(np.sum(g * change)) == pytest.approx(1e-13 * jvp, rel=1e-7, abs=1e-28)


@given(cases(), st.sampled_from([1e-6, 1e-4, 1e-3]))
def test_series_change_agrees_with_change(
    case: tuple[str, Layer, Array, Array], reach: float
) -> None:
    _, layer, x, direction = case
    if isinstance(layer, RowCoupled):  # moves pass it as whole batches, on the exact route
        assert not isinstance(layer, SeriesLayer)
        return
    assert isinstance(layer, SeriesLayer)
    y = layer.forward(x)
    order = 8
    dx = np.zeros((order, *x.shape))
    dx[0] = direction  # the input moves along u * direction + u^2 * direction^2 / 2
    dx[1] = 0.5 * direction**2
    series, ok = layer.series_change(x, y, dx, np.full(x.shape[0], reach))
    assert ok.shape == (x.shape[0],)
    u = reach
    moved = u * direction + 0.5 * (u * direction) ** 2
    expected = layer.change(x, y, moved)
    value = _series.evaluate(series, u)
    scale = float(np.max(np.abs(expected), initial=0.0)) + 1e-300
    np.testing.assert_allclose(value[ok], expected[ok], rtol=1e-9, atol=1e-12 * scale)


@given(cases())
def test_activation_taylor_starts_with_the_slope(case: tuple[str, Layer, Array, Array]) -> None:
    _, layer, x, _ = case
    if not isinstance(layer, Activation):
        return
    y = layer.forward(x)
    coeffs, reach = layer.taylor(x, y, 4)
    assert coeffs.shape == (4, *x.shape)
    assert reach.shape == x.shape
    np.testing.assert_allclose(coeffs[0], layer.slope(x, y), rtol=1e-11, atol=1e-300)


@given(cases())
def test_complex_moves_give_the_derivative(case: tuple[str, Layer, Array, Array]) -> None:
    # A complex step i*1e-20*d: Im(change) / 1e-20 is the directional derivative, exactly.
    name, layer, x, direction = case
    if name == "ReLU":
        x = np.where(np.abs(x) < 1e-2, 0.5, x)
    y = layer.forward(x)
    change = layer.change(x, y, 1e-20j * direction)
    derivative = np.imag(change) / 1e-20
    g = np.ones_like(y)
    dx, _ = layer.backward(x, y, g)
    # the sum over outputs of the derivative = <backward(ones), direction>; per row unless the
    # rows are coupled.
    if isinstance(layer, RowCoupled):
        assert float(np.sum(derivative)) == pytest.approx(float(np.sum(dx * direction)), rel=1e-12, abs=1e-12)
        return
    np.testing.assert_allclose(
        _flat(derivative).sum(axis=1), _flat(dx * direction).sum(axis=1), rtol=1e-12, atol=1e-14
    )


def test_relu_refuses_a_complex_step_at_its_kink() -> None:
    x = np.array([[0.0, 1.0]])
    with pytest.raises(DifferentiationError, match="kink"):
        ReLU().change(x, ReLU().forward(x), np.array([[1e-20j, 0.0]]))


def test_pooling_refuses_a_complex_step_at_a_tie() -> None:
    x = np.array([[[[1.0, 1.0], [0.0, 0.0]]]])
    pool = Pooling(2, 2)
    with pytest.raises(DifferentiationError, match="tied"):
        pool.change(x, pool.forward(x), np.full(x.shape, 1e-20j))


def test_sigmoid_is_complex_safe_far_out() -> None:
    x = np.array([[-800.0, 800.0]], dtype=complex) + 1e-20j
    out = minifw.sigmoid(x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out.real, [[0.0, 1.0]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"W": np.zeros((2, 3), dtype=np.float32), "b": np.zeros(3)}, "float64"),
        ({"W": np.zeros((2, 3)), "b": np.zeros(2)}, "one entry per column"),
        ({"W": [[1.0]], "b": np.zeros(1)}, "2-D float64 array"),
    ],
)
def test_affine_validates_its_arrays(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(minifw.MinifwError, match=match):
        Affine(**kwargs)


# --- capabilities: each one against the rules it stands for -------------------------------------


@given(cases())
def test_a_linear_layer_s_image_is_its_change(case: tuple[str, Layer, Array, Array]) -> None:
    _, layer, x, direction = case
    if not isinstance(layer, Linear):
        return
    y = layer.forward(x)
    np.testing.assert_array_equal(layer.image(direction), layer.change(x, y, direction))
    units = np.array([x.shape[1] - 1, 0])
    np.testing.assert_array_equal(
        layer.unit_images(units), layer.image(np.eye(x.shape[1])[units])
    )


@given(cases())
def test_an_elementwise_layer_moves_each_unit_alone(case: tuple[str, Layer, Array, Array]) -> None:
    _, layer, x, direction = case
    if not isinstance(layer, Elementwise):
        return
    assert isinstance(layer, SeriesLayer)
    y = layer.forward(x)
    dx = 1e-3 * direction
    at = (np.array([0, x.shape[0] - 1]), np.array([_flat(x).shape[1] - 1, 0]))
    here: Any = layer.for_units(*at) if isinstance(layer, PerExample) else layer
    assert isinstance(here, Elementwise)
    np.testing.assert_array_equal(
        here.unit_change(_flat(x)[at], _flat(y)[at], _flat(dx)[at]), _flat(layer.change(x, y, dx))[at]
    )
    series = np.stack([dx, np.zeros_like(dx)])
    reach = np.full(x.shape[0], 1.0)
    whole, _ = layer.series_change(x, y, series, reach)
    flat_series = series.reshape(2, x.shape[0], -1)
    gathered, ok = here.unit_series(
        _flat(x)[at], _flat(y)[at], flat_series[:, at[0], at[1]], reach[at[0]]
    )
    np.testing.assert_array_equal(gathered, whole.reshape(2, x.shape[0], -1)[:, at[0], at[1]])
    assert ok.shape == (2,)


@given(cases())
def test_a_per_example_layer_s_rows_act_as_the_whole(case: tuple[str, Layer, Array, Array]) -> None:
    _, layer, x, direction = case
    if not isinstance(layer, PerExample):
        return
    y = layer.forward(x)
    rows = np.array([x.shape[0] - 1, 0, x.shape[0] - 1])
    part = layer.for_rows(rows)
    np.testing.assert_array_equal(
        part.change(x[rows], y[rows], direction[rows]), layer.change(x, y, direction)[rows]
    )


@given(cases(), st.sampled_from([1e-6, 1e-2, 1.0]))
def test_step_moves_are_what_a_step_does_to_the_output(
    case: tuple[str, Layer, Array, Array], step: float
) -> None:
    # For every coordinate: forward with the parameter moved by s, minus forward, is s times the
    # coordinate's move (layers are linear in their parameters).
    _, layer, x, _ = case
    if not isinstance(layer, HasStepMoves):
        return
    y = layer.forward(x)
    moves = layer.step_moves(x)
    assert set(moves) == set(layer.params)
    for name, arr in layer.params.items():
        move = moves[name]
        if not isinstance(move, UnitSteps):
            continue  # a convolution's channel steps: tests/test_channel_steps.py
        flat = arr.reshape(-1)
        for c in range(arr.size):
            one = move.take(np.array([c]))
            expected = np.zeros(_flat(y).shape)
            expected[:, one.units[0]] = step * one.amounts(np.array([0]))[:, 0]
            original = flat[c]
            flat[c] = original + step
            try:
                moved = _flat(layer.forward(x) - y)
            finally:
                flat[c] = original
            # To the rounding of the difference of two outputs.
            scale = 1.0 + float(np.max(np.abs(y)))
            np.testing.assert_allclose(moved, expected, rtol=1e-9, atol=1e-14 * scale)


@given(cases(), st.sampled_from([1e-6, 1e-3, 1.0]))
def test_a_row_coupled_layer_moves_whole_batches(
    case: tuple[str, Layer, Array, Array], size: float
) -> None:
    # L moves of the whole batch at once are each the change of that move.
    _, layer, x, direction = case
    if not isinstance(layer, RowCoupled):
        return
    assert isinstance(layer, Layer)
    y = layer.forward(x)
    moves = np.stack([size * direction, -0.5 * size * direction[::-1]])
    found = layer.batch_change(x, y, moves)
    assert found.shape == (2, *y.shape)
    for lane in range(2):
        np.testing.assert_array_equal(found[lane], layer.change(x, y, moves[lane]))


@given(cases(), st.sampled_from([1e-4, 1e-2]))
def test_relative_outputs_are_the_change_over_the_output(
    case: tuple[str, Layer, Array, Array], u: float
) -> None:
    _, layer, x, direction = case
    if not isinstance(layer, RelativeOutputs):
        return
    y = layer.forward(x)
    w = direction[:1]  # one vector: lane n moves example n along it, by z
    outputs = np.arange(x.shape[0]) % x.shape[1]
    relative, ok = layer.relative_series(y, w, outputs, 10, np.full(x.shape[0], u))
    rows = np.arange(x.shape[0])
    expected = layer.change(x, y, u * np.repeat(w, x.shape[0], axis=0))[rows, outputs] / y[rows, outputs]
    value = _series.evaluate(relative, u)
    np.testing.assert_allclose(value[ok], expected[ok], rtol=1e-9, atol=1e-15)
    # Vectors per example: the same vector for every example gives the same relative move.
    per_example = np.repeat(w[None], x.shape[0], axis=0)
    again, ok_again = layer.relative_series(y, per_example, outputs, 10, np.full(x.shape[0], u))
    np.testing.assert_array_equal(ok_again, ok)
    np.testing.assert_allclose(_series.evaluate(again, u)[ok], expected[ok], rtol=1e-9, atol=1e-15)
