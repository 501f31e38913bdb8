"""Loss values pinned to the seed note, hand computations and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minifw import CrossEntropy, Loss, MeanSquared, MinifwError, TwoLayerNet
from minifw.errors import ValidationError

T = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]  # the answer is "2"
Y_TWO = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]  # 0.6 on "2"
Y_SEVEN = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]  # 0.6 on "7"


@pytest.mark.parametrize(("y", "expected"), [(Y_TWO, 0.0975), (Y_SEVEN, 0.5975)])
def test_mean_squared_reproduces_the_seed(y: list[float], expected: float) -> None:
    assert MeanSquared()(y, T) == pytest.approx(expected, rel=1e-14)


def test_mean_squared_by_hand() -> None:
    # 0.5 * ((0.5 - 0)^2 + (0.5 - 1)^2) = 0.25 per example; mean of 0.25 and 0.5*(1+1) = 1.0.
    y = [[0.5, 0.5], [1.0, 0.0]]
    t = [[0.0, 1.0], [0.0, 1.0]]
    assert MeanSquared()(y, t) == 0.625
    assert MeanSquared(reduction="sum")(y, t) == 1.25
    np.testing.assert_array_equal(MeanSquared(reduction="none")(y, t), [0.25, 1.0])


@pytest.mark.parametrize(
    ("y", "expected"), [(Y_TWO, 0.510825457099338), (Y_SEVEN, 2.302584092994546)]
)
def test_cross_entropy_reproduces_the_seed(y: list[float], expected: float) -> None:
    assert CrossEntropy()(y, T) == pytest.approx(expected, abs=1e-15)
    assert CrossEntropy()(y, 2) == pytest.approx(expected, abs=1e-15)
    assert CrossEntropy()(y, T) == -math.log(y[2] + 1e-7)


def test_cross_entropy_batch_is_the_mean_of_the_seed_examples() -> None:
    batch = CrossEntropy()([Y_TWO, Y_SEVEN], [2, 2])
    assert batch == (0.510825457099338 + 2.302584092994546) / 2
    assert batch == CrossEntropy()([Y_TWO, Y_SEVEN], [T, T])


def test_cross_entropy_keeps_the_delta_in_batches() -> None:
    # The seed's batched version drops the 1e-7 and returns inf here.
    value = CrossEntropy()([[0.0, 1.0], [0.0, 1.0]], [0, 0])
    assert value == pytest.approx(-math.log(1e-7))
    assert math.isfinite(value)


def test_cross_entropy_eps_is_configurable() -> None:
    assert CrossEntropy(eps=1e-3)([0.5, 0.5], 0) == pytest.approx(-math.log(0.501))
    assert CrossEntropy(eps=1) == CrossEntropy(eps=1.0)


def test_soft_targets() -> None:
    # -(0.25 log 0.5 + 0.75 log 0.5) = log 2
    assert CrossEntropy(eps=1e-300)([0.5, 0.5], [0.25, 0.75]) == pytest.approx(math.log(2))


# --- bad input --------------------------------------------------------------------------------

BAD_CALLS = [
    pytest.param([0.5, 0.5], [1.0, 0.0, 0.0], "shape", id="shape-mismatch"),
    pytest.param([[0.5, 0.5]], [[1.0, 0.0], [0.0, 1.0]], "shape", id="batch-mismatch"),
    pytest.param([0.5, 0.5], 2, "0..1", id="index-out-of-range"),
    pytest.param([[0.5, 0.5]], [-1], "t[0]=-1", id="negative-index"),
    pytest.param([[0.5, 0.5]], [0.5], "integers", id="float-index"),
    pytest.param([[0.5, 0.5]], [True], "integers", id="bool-index"),
    pytest.param(np.empty((0, 10)), np.empty((0,), dtype=int), "at least one", id="empty-batch"),
    pytest.param([], [], "at least one", id="empty-vector"),
    pytest.param([0.5, math.nan], [1.0, 0.0], "y must be finite", id="nan-in-y"),
    pytest.param([0.5, 0.5], [math.inf, 0.0], "t must be finite", id="inf-in-t"),
    pytest.param(np.zeros((2, 2, 2)), 0, "shape (2, 2, 2)", id="3d-y"),
    pytest.param(["a", "b"], 0, "real numbers", id="strings"),
]


@pytest.mark.parametrize("loss", [MeanSquared(), CrossEntropy()], ids=repr)
@pytest.mark.parametrize(("y", "t", "fragment"), BAD_CALLS)
def test_bad_input_gives_a_clear_error(loss: Loss, y: object, t: object, fragment: str) -> None:
    with pytest.raises(ValidationError, match=None) as info:
        loss(y, t)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_cross_entropy_rejects_negative_probabilities() -> None:
    with pytest.raises(ValidationError, match=r"y must hold probabilities .* y\[0, 1\]=-0.1"):
        CrossEntropy()([1.1, -0.1], 0)
    with pytest.raises(ValidationError, match=r"t must hold probabilities"):
        CrossEntropy()([0.5, 0.5], [1.5, -0.5])


@pytest.mark.parametrize("eps", [0.0, -1e-7, math.nan, math.inf, True, "1e-7"])
def test_bad_eps(eps: object) -> None:
    with pytest.raises(MinifwError, match=r"eps must be a positive finite float, got eps="):
        CrossEntropy(eps=eps)  # type: ignore[arg-type]


@pytest.mark.parametrize("loss_type", [MeanSquared, CrossEntropy])
def test_unknown_reduction_is_rejected_when_built(loss_type: type[Loss]) -> None:
    with pytest.raises(ValidationError, match=r"reduction must be one of .* got reduction='avg'"):
        loss_type(reduction="avg")  # type: ignore[arg-type]


def test_weight_is_pure_and_gradients_need_a_scalar_reduction() -> None:
    assert CrossEntropy().weight(4) == 0.25
    assert CrossEntropy(reduction="sum").weight(7) == 1.0
    assert CrossEntropy(reduction="none").weight(7) == 1.0  # checks nothing
    net = TwoLayerNet(input_size=3, hidden_size=2, output_size=2, seed=0)
    x, t = np.ones((2, 3)), np.array([0, 1])
    for call in (net.objective, net.backprop):
        with pytest.raises(ValidationError, match="reduction='none'"):
            call(x, t, CrossEntropy(reduction="none"))


def test_inputs_are_not_modified() -> None:
    y = np.array([[0.2, 0.8], [0.6, 0.4]])
    t = np.array([1, 0])
    y_copy, t_copy = y.copy(), t.copy()
    CrossEntropy()(y, t)
    MeanSquared()(y, t)
    np.testing.assert_array_equal(y, y_copy)
    np.testing.assert_array_equal(t, t_copy)


# --- properties -------------------------------------------------------------------------------

probabilities = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
    elements=st.floats(0.0, 1.0, allow_subnormal=False),
)


@st.composite
def predictions_and_labels(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    y = draw(probabilities)
    labels = draw(hnp.arrays(np.int64, y.shape[0], elements=st.integers(0, y.shape[1] - 1)))
    return y, labels


@given(predictions_and_labels())
def test_one_hot_and_index_labels_agree_exactly(case: tuple[np.ndarray, np.ndarray]) -> None:
    y, labels = case
    one_hot = np.eye(y.shape[1])[labels]
    for loss in (CrossEntropy(reduction="none"), MeanSquared(reduction="none")):
        np.testing.assert_array_equal(loss(y, labels), loss(y, one_hot))


@given(predictions_and_labels())
def test_cross_entropy_is_non_negative(case: tuple[np.ndarray, np.ndarray]) -> None:
    y, labels = case
    values = CrossEntropy(reduction="none")(y, labels)
    assert isinstance(values, np.ndarray)
    # With the 1e-7 inside the log, a probability of exactly 1 gives -log(1 + 1e-7) < 0;
    # below 1 - 1e-7 the loss is never negative.
    assert np.all(values >= -math.log(1.0 + 1e-7))
    answer = y[np.arange(y.shape[0]), labels]
    assert np.all(values[answer <= 1 - 1e-7] >= 0)


@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 8), st.integers(1, 8)),
        elements=st.floats(-1e6, 1e6),
    ),
    st.data(),
)
def test_mean_squared_is_symmetric(y: np.ndarray, data: st.DataObject) -> None:
    t = data.draw(hnp.arrays(np.float64, y.shape, elements=st.floats(-1e6, 1e6)))
    assert MeanSquared()(y, t) == MeanSquared()(t, y)
    assert MeanSquared()(y, y) == 0.0


@given(predictions_and_labels())
def test_mean_is_sum_over_batch_size(case: tuple[np.ndarray, np.ndarray]) -> None:
    y, labels = case
    total = CrossEntropy(reduction="sum")(y, labels)
    assert isinstance(total, float)
    assert CrossEntropy()(y, labels) == pytest.approx(total / y.shape[0], rel=1e-12)


@pytest.mark.parametrize("loss", [MeanSquared(), CrossEntropy()], ids=repr)
@given(case=predictions_and_labels(), data=st.data())
def test_loss_change_matches_two_evaluations(
    loss: Loss, case: tuple[np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    y, labels = case
    t = np.eye(y.shape[1])[labels]
    y_new = data.draw(hnp.arrays(np.float64, y.shape, elements=st.floats(0.0, 1.0)))
    expected = loss.per_example(y_new, t) - loss.per_example(y, t)
    change = loss.change(y, t, y_new - y)
    assert change.shape == (y.shape[0],)
    np.testing.assert_allclose(change, expected, atol=1e-9)
