"""Batch normalization and dropout in the engine: coupled rows, per-example masks, running statistics.

The numerical gradient's changes through a row-coupled layer must be the changes of the loss
itself: here against reevaluating the objective at the stepped parameters (one forward pass of
the same layers per step), for every parameter and every route (a whole-batch lane per coordinate
for the layers with step moves, perturbation in place otherwise).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minifw
from minifw import Backprop, CentralDiff, ComplexStep, CrossEntropy, Sequential, gradcheck
from minifw.errors import DifferentiationError, ValidationError
from minifw.nn.layered import LayeredObjective, limits
from minifw.nn.layered.moves import DenseMove
from minifw.nn.layers import (
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Flatten,
    ReLU,
    Softmax,
    Tanh,
    TrainingBatchNorm,
)

Array = Any


def net_and_batch() -> tuple[Sequential, Array, Array]:
    rng = np.random.default_rng(0)
    net = Sequential(
        [
            Affine.init(6, 5, std=0.8, rng=rng),
            BatchNormalization(gamma=rng.normal(size=5) + 1.0, beta=rng.normal(size=5)),
            Tanh(),
            Dropout(0.3, seed=4),
            Affine.init(5, 4, std=0.8, rng=rng),
            BatchNormalization(gamma=rng.normal(size=4) + 1.0, beta=rng.normal(size=4)),
            Affine.init(4, 3, std=0.8, rng=rng),
            Softmax(),
        ]
    )
    return net, rng.random((4, 6)), np.array([0, 2, 1, 2])


def reevaluated_changes(objective: LayeredObjective, name: str, steps: Array) -> Array:
    flat = objective.params[name].reshape(-1)
    base = objective.value()
    out = np.zeros((flat.size, steps.size))
    for i in range(flat.size):
        original = flat[i]
        for m, step in enumerate(steps):
            flat[i] = original + step
            out[i, m] = objective.reevaluate() - base
            flat[i] = original
    return out


@pytest.mark.parametrize("h", [1e-3, 1e-1])
def test_changes_through_coupled_rows_are_the_loss_changes(h: float) -> None:
    net, x, t = net_and_batch()
    objective = net.objective(x, t, CrossEntropy())
    assert isinstance(objective, LayeredObjective)
    steps = np.array([h, -h, 2 * h])
    for name in objective.params:
        index = np.arange(objective.params[name].size)
        found = objective.changes(name, index, steps)
        expected = reevaluated_changes(objective, name, steps)
        # To the rounding of the difference of two losses (what reevaluating gives).
        np.testing.assert_allclose(found, expected, rtol=0, atol=1e-13, err_msg=name)


def test_gradients_through_coupled_rows_match_backprop_and_complex_steps() -> None:
    net, x, t = net_and_batch()
    objective = net.objective(x, t, CrossEntropy())
    exact = Backprop().gradients(objective)
    complex_step = ComplexStep().gradients(objective)  # the whole-batch lanes take complex moves
    central = CentralDiff(h=1e-5).gradients(objective)
    for name, value in exact.items():
        scale = float(np.max(np.abs(value)))
        np.testing.assert_allclose(complex_step[name], value, rtol=0, atol=1e-13 * max(scale, 1))
        np.testing.assert_allclose(central[name], value, rtol=0, atol=1e-8 * max(scale, 1))
    # Four rows normalized: sharply curved, so a smaller step than the book's keeps the check's
    # truncation error below its tolerance.
    assert gradcheck(net, x, t, CrossEntropy(), CentralDiff(h=1e-5)).passed


def test_parameters_before_a_coupled_layer_are_tasks_of_generic_size() -> None:
    net, x, t = net_and_batch()
    objective = net.objective(x, t, CrossEntropy())
    assert isinstance(objective, LayeredObjective)
    tasks = [task for task in objective.chunks() if "W1" in task]
    assert [task["W1"].size for task in tasks] == [min(limits.GENERIC_TASK, 30)]
    # The last affine layer has no coupled layer after it: its weights take the unit routes.
    assert sorted(net.params) == ["W1", "W3", "W5", "b1", "b3", "b5", "beta2", "beta4", "gamma2", "gamma4"]
    assert any(set(task) == {"W5", "b5"} for task in objective.chunks())


def test_a_coupled_layer_takes_whole_batches_only() -> None:
    layer = TrainingBatchNorm(gamma=np.ones(2), beta=np.zeros(2))
    x = np.array([[0.0, 1.0], [2.0, 3.0], [1.0, 1.0]])
    y = layer.forward(x)
    with pytest.raises(DifferentiationError, match="must move the whole batch of 3 rows in order"):
        DenseMove(np.array([0, 2]), np.ones((2, 2))).through(layer, x, y)
    two_lanes = DenseMove(np.tile(np.arange(3), 2), np.ones((6, 2)))
    assert two_lanes.through(layer, x, y).data.shape == (6, 2)


def test_batch_normalization_after_a_convolution_normalizes_every_feature() -> None:
    rng = np.random.default_rng(1)
    net = Sequential(
        [
            Convolution(W=rng.normal(size=(2, 1, 2, 2)), b=np.zeros(2)),
            BatchNormalization(gamma=np.ones(8), beta=np.zeros(8)),  # 2 channels of 2x2
            ReLU(),
            Flatten(),
            Affine.init(8, 3, std=0.5, rng=rng),
            Softmax(),
        ],
        input_shape=(1, 3, 3),
    )
    x, t = rng.random((5, 9)) + 0.1, np.array([0, 1, 2, 1, 0])
    # The filters' channel steps move every row at once through the batch's statistics (the
    # batch route), at the book's step.
    assert gradcheck(net, x, t, CrossEntropy(), CentralDiff(h=1e-4)).passed


def test_running_statistics_follow_the_books_momentum() -> None:
    layer = BatchNormalization(gamma=np.ones(2), beta=np.zeros(2), momentum=0.5)
    x = np.array([[1.0, 0.0], [3.0, 4.0]])
    layer.observe(x)
    np.testing.assert_array_equal(layer.running_mean, [1.0, 1.0])  # 0.5 * 0 + 0.5 * mean
    np.testing.assert_array_equal(layer.running_var, [0.5, 2.0])
    # At test time: (x - mean) / sqrt(var + 10e-7), then gamma and beta.
    expected = (x - [1.0, 1.0]) / np.sqrt(np.array([0.5, 2.0]) + 10e-7)
    np.testing.assert_array_equal(layer.forward(x), expected)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"momentum": 1.5}, r"momentum must be a number in \[0, 1\]"),
        ({"running_var": -np.ones(2)}, "running_var must not be negative"),
        ({"running_mean": np.zeros(3)}, r"must have the shape of gamma \(2,\)"),
        ({"beta": np.full(2, np.nan)}, "beta must be finite"),
    ],
)
def test_batch_normalization_checks_its_arrays(kwargs: dict[str, Any], words: str) -> None:
    arguments = {"gamma": np.ones(2), "beta": np.zeros(2), **kwargs}
    with pytest.raises(ValidationError, match=words):
        BatchNormalization(**arguments)


def test_dropout_checks_its_ratio_and_keeps_its_mask_per_objective() -> None:
    with pytest.raises(ValidationError, match=r"ratio must be a number in \[0, 1\)"):
        Dropout(1.0)
    net, x, t = net_and_batch()
    first = net.objective(x, t, CrossEntropy())
    assert isinstance(first, LayeredObjective)
    # Every evaluation of one objective sees the same mask: reevaluating twice gives one value.
    assert first.reevaluate() == first.reevaluate() == first.value()
    assert minifw.nn.layers.DropoutMask in {type(layer) for layer in first.layers}
