"""The book's later networks against independent re-implementations of the book's code.

``SimpleConvNet`` (chapter 7), ``MultiLayerNetExtend`` (chapter 6: batch normalization, weight
decay, dropout) and ``MultiLayerNet`` with weight decay, against ``tests/oracles/`` (which share no
code with minifw): losses and test-time predictions to the last bit, backprop to rounding (the
oracle keeps the cross-entropy's 1e-7 as minifw's backprop does), and numerical gradients on
subsets of every parameter array equal to the book's per-coordinate loop over the same stencil to
that loop's rounding, truncation error kept. Also the training/test mode and when running
statistics move.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from oracles import book_later_networks as book
from oracles import book_network as book1

import minifw
from minifw import (
    BackwardDiff,
    CentralDiff,
    CrossEntropy,
    Differentiator,
    ForwardDiff,
    MultiLayerNet,
    MultiLayerNetExtend,
    SimpleConvNet,
    gradcheck,
)
from minifw.nn.layered import LayeredObjective
from minifw.nn.layers import DropoutMask
from minifw.typing import FloatArray

Array = Any
CE = CrossEntropy()


def copy(params: Any) -> dict[str, FloatArray]:
    return {name: np.array(value) for name, value in params.items()}


def subsets(params: dict[str, FloatArray], count: int = 12) -> dict[str, Array]:
    """A few flat indices of every array: the first, the last and some drawn ones."""
    rng = np.random.default_rng(0)
    return {
        name: np.unique(np.r_[0, arr.size - 1, rng.integers(0, arr.size, size=min(count, arr.size))])
        for name, arr in params.items()
    }


def stencil(diff: Differentiator) -> tuple[float, list[float], list[float]]:
    s = diff.stencil
    return float(diff.h), [o.real for o in s.offsets], [w.real for w in s.weights]


def book_partials(f: Any, params: dict[str, FloatArray], diff: Differentiator) -> dict[str, Array]:
    h, offsets, weights = stencil(diff)
    return {
        name: book1.numerical_partials(f, params[name], index.tolist(), h, offsets, weights)
        for name, index in subsets(params).items()
    }


def agree(fast: dict[str, FloatArray], reference: dict[str, Array], h: float) -> None:
    """The fast gradient on the subsets equals the book's loop to that loop's rounding (~1e-16 L/h)."""
    for name, index in subsets({k: v for k, v in fast.items()}).items():
        got = fast[name].reshape(-1)[index]
        scale = max(float(np.max(np.abs(reference[name]))), 1e-3)
        assert float(np.max(np.abs(got - reference[name]))) <= 1e-12 / h * scale, name


# --- SimpleConvNet -----------------------------------------------------------------------------

SMALL = {
    "input_dim": (1, 10, 10),
    "conv_param": {"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1},
    "hidden_size": 10,
    "output_size": 10,
    "weight_init_std": 0.01,
}


def conv_case(**changes: Any) -> tuple[SimpleConvNet, Array, Array]:
    options = {**SMALL, **changes}
    net = SimpleConvNet(**options, seed=3)
    rng = np.random.default_rng(4)
    x = rng.random((4, *options["input_dim"]))
    t = np.eye(10)[rng.integers(0, 10, size=4)]
    return net, x, t


def test_the_books_constructor_call_works_as_written() -> None:
    net = SimpleConvNet(
        input_dim=(1, 28, 28),
        conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
        hidden_size=100,
        output_size=10,
        weight_init_std=0.01,
        seed=0,
    )
    shapes = {name: value.shape for name, value in net.params.items()}
    assert shapes == {
        "W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,), "W3": (100, 10), "b3": (10,)
    }
    assert sum(v.size for v in net.params.values()) == 433_890
    assert [type(layer).__name__ for layer in net.layers] == [
        "Convolution", "ReLU", "Pooling", "Flatten", "Affine", "ReLU", "Affine", "Softmax"
    ]
    assert 0.0095 < np.std(net.params["W2"]) < 0.0105
    assert not np.any(net.params["b2"])


@pytest.mark.parametrize("conv", [{}, {"conv_param": {"filter_num": 4, "filter_size": 3, "pad": 1, "stride": 2}}])
def test_simple_conv_net_is_the_books(conv: dict[str, Any]) -> None:
    net, x, t = conv_case(**conv)
    stride, pad = net.conv_param["stride"], net.conv_param["pad"]
    params = copy(net.params)
    assert net.loss(x, t, CE) == float(book.convnet_loss(params, x, t, stride, pad))
    scores = book.convnet_forward(params, x, stride, pad)["scores"]
    np.testing.assert_array_equal(net.predict(x), book1.softmax(scores))
    exact = book.convnet_gradient(params, x, t, book_delta=False, stride=stride, pad=pad)
    for name, value in net.backprop(x, t, CE).items():
        np.testing.assert_allclose(value, exact[name], rtol=1e-12, atol=1e-15 * np.max(np.abs(exact[name])))


def test_images_and_rows_give_the_same_predictions() -> None:
    net, x, _ = conv_case()
    np.testing.assert_array_equal(net.predict(x.reshape(4, 100)), net.predict(x))
    with pytest.raises(minifw.MinifwError, match=r"x must have shape \(batch, 1, 10, 10\)"):
        net.predict(np.zeros((4, 99)))
    rows = MultiLayerNet(100, (5,), 3, seed=0)  # and a network of rows takes images
    np.testing.assert_array_equal(rows.predict(x), rows.predict(x.reshape(4, 100)))


@pytest.mark.parametrize("h", [1e-4, 1e-3])
@pytest.mark.parametrize("scheme", [CentralDiff, ForwardDiff], ids=lambda s: s.__name__)
def test_simple_conv_net_numerical_gradient_is_the_books_loop(scheme: type[Differentiator], h: float) -> None:
    net, x, t = conv_case()
    diff = scheme(h=h)
    fast = diff.gradients(net.objective(x, t, CE))
    params = copy(net.params)
    reference = book_partials(lambda: book.convnet_loss(params, x, t), params, diff)
    agree(fast, reference, h)


def test_simple_conv_net_keeps_the_truncation_error() -> None:
    net, x, t = conv_case(weight_init_std=0.3)
    diff = CentralDiff(h=1e-2)
    fast = diff.gradients(net.objective(x, t, CE))
    exact = net.backprop(x, t, CE)
    params = copy(net.params)
    reference = book_partials(lambda: book.convnet_loss(params, x, t), params, diff)
    gaps = [np.max(np.abs(fast[k].reshape(-1)[i] - exact[k].reshape(-1)[i])) for k, i in subsets(params).items()]
    assert max(gaps) > 1e-9  # O(h^2) is visible ...
    agree(fast, reference, 1e-2)  # ... and it is the book's loop's


def test_simple_conv_net_gradcheck_passes() -> None:
    net, x, t = conv_case(weight_init_std=0.3)
    report = gradcheck(net, x, t, CE, tolerance=1e-6)
    assert report.passed, str(report)
    assert [c.name for c in report.checks] == ["W1", "b1", "W2", "b2", "W3", "b3"]


# --- MultiLayerNetExtend and weight decay --------------------------------------------------------

OPTIONS: dict[str, dict[str, Any]] = {
    "batchnorm": {"use_batchnorm": True},
    "decay": {"weight_decay_lambda": 0.1},
    "both": {"use_batchnorm": True, "weight_decay_lambda": 0.1},
    "dropout": {"use_dropout": True, "dropout_ration": 0.3},
    "all": {"use_batchnorm": True, "use_dropout": True, "weight_decay_lambda": 0.05},
}


def extend_case(options: dict[str, Any]) -> tuple[MultiLayerNetExtend, Array, Array]:
    # Wide enough that no example has a whole hidden layer at 0, which would put the next
    # layer's pre-activations exactly on ReLU's kink (its bias starts at 0).
    net = MultiLayerNetExtend(8, [16, 12], 4, **options, seed=2)
    rng = np.random.default_rng(5)
    x = rng.random((5, 8))
    t = np.eye(4)[rng.integers(0, 4, size=5)]
    return net, x, t


def masks_of(objective: Any) -> list[Array] | None:
    found = [layer.mask for layer in objective.layers if isinstance(layer, DropoutMask)]
    return found or None


@pytest.mark.parametrize("kind", sorted(OPTIONS))
def test_multi_layer_net_extend_is_the_books(kind: str) -> None:
    options = OPTIONS[kind]
    net, x, t = extend_case(options)
    lam = options.get("weight_decay_lambda", 0.0)
    params = copy(net.params)
    objective = net.objective(x, t, CE)
    masks = masks_of(objective)
    assert objective.value() == float(book.extend_loss(params, x, t, activation="relu", lam=lam, masks=masks))
    exact = book.extend_gradient(params, x, t, activation="relu", lam=lam, book_delta=False, masks=masks)
    found = minifw.Backprop().gradients(objective)
    assert set(found) == set(exact)
    for name, value in found.items():
        np.testing.assert_allclose(value, exact[name], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("h", [1e-4, 1e-3])
@pytest.mark.parametrize("kind", sorted(OPTIONS))
def test_multi_layer_net_extend_numerical_gradient_is_the_books_loop(kind: str, h: float) -> None:
    options = OPTIONS[kind]
    net, x, t = extend_case(options)
    lam = options.get("weight_decay_lambda", 0.0)
    objective = net.objective(x, t, CE)
    masks = masks_of(objective)  # the one mask every evaluation of this gradient sees
    for scheme in (CentralDiff, BackwardDiff):
        diff = scheme(h=h)
        fast = diff.gradients(objective)
        params = copy(net.params)
        reference = book_partials(
            lambda p=params: book.extend_loss(p, x, t, activation="relu", lam=lam, masks=masks), params, diff
        )
        agree(fast, reference, h)


@pytest.mark.parametrize("kind", sorted(OPTIONS))
def test_multi_layer_net_extend_gradcheck_passes(kind: str) -> None:
    net, x, t = extend_case(OPTIONS[kind])
    report = gradcheck(net, x, t, CE)
    assert report.passed, str(report)
    assert gradcheck(net, x, t, CE, fast=True).passed


def test_the_books_extend_call_and_names() -> None:
    net = MultiLayerNetExtend(
        input_size=784, hidden_size_list=[100, 100], output_size=10, activation="relu",
        weight_init_std="relu", weight_decay_lambda=0.1, use_dropout=True, dropout_ration=0.2,
        use_batchnorm=True, seed=0,
    )
    assert sorted(net.params) == sorted(
        ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"]
    )
    assert sorted(net.statistics) == ["running_mean1", "running_mean2", "running_var1", "running_var2"]
    np.testing.assert_array_equal(net.params["gamma1"], np.ones(100))
    assert [type(layer).__name__ for layer in net.layers][:4] == ["Affine", "BatchNormalization", "ReLU", "Dropout"]


def test_multi_layer_net_weight_decay_is_the_books() -> None:
    net = MultiLayerNet(8, (6, 5), 4, weight_decay_lambda=0.2, seed=3)
    rng = np.random.default_rng(6)
    x, t = rng.random((5, 8)), np.eye(4)[rng.integers(0, 4, size=5)]
    params = copy(net.params)

    def loss() -> Any:
        return book.cross_entropy_error(book1.predict(params, x, "relu", "softmax"), t) + book.weight_decay(params, 0.2)

    assert net.loss(x, t, CE) == float(loss())
    grads = net.backprop(x, t, CE)
    plain = book1.backprop(params, x, t, "relu", "softmax")
    for name in grads:
        extra = 0.2 * params[name] if name.startswith("W") else 0.0
        np.testing.assert_allclose(grads[name], plain[name] + extra, rtol=1e-12, atol=1e-15)
    for h in (1e-4, 1e-3):
        diff = CentralDiff(h=h)
        agree(diff.gradients(net.objective(x, t, CE)), book_partials(loss, params, diff), h)


def test_weight_decay_change_is_exact() -> None:
    # lambda (w s + s^2 / 2), against exact rational arithmetic.
    from fractions import Fraction

    decay = minifw.nn.penalty.WeightDecay(0.3, ("W1",))
    w, s = 0.7, 1e-4
    change = decay.change("W1", np.array([w]), np.array([s]))[0, 0]
    exact = Fraction(0.3) * (Fraction(w) * Fraction(s) + Fraction(s) * Fraction(s) / 2)
    assert abs(Fraction(change) - exact) <= abs(exact) * Fraction(2, 2**52)


def test_the_books_weight_init_names_are_accepted() -> None:
    for book_name, ours in (("relu", "he"), ("sigmoid", "xavier")):
        a = MultiLayerNet(6, (5,), 3, weight_init=book_name, seed=0)  # type: ignore[arg-type]
        b = MultiLayerNet(6, (5,), 3, weight_init=ours, seed=0)  # type: ignore[arg-type]
        for name in a.params:
            np.testing.assert_array_equal(a.params[name], b.params[name])


# --- training and test mode, running statistics, masks -------------------------------------------


def test_predict_is_test_time_and_loss_is_training() -> None:
    net, x, t = extend_case({"use_batchnorm": True, "use_dropout": True, "dropout_ration": 0.3})
    params = copy(net.params)
    running = {name: np.array(value) for name, value in net.statistics.items()}
    test_scores = book.extend_test_scores(
        params, x, "relu", {k.replace("running_", ""): v for k, v in running.items()}, 0.3
    )
    np.testing.assert_array_equal(net.predict(x), book1.softmax(test_scores))
    assert net.predict_training(x).shape == (5, 4)
    net.loss(x, t, CE)
    net.accuracy(x, t)
    for name, value in net.statistics.items():  # none of these moved the running statistics
        np.testing.assert_array_equal(value, running[name])


def test_running_statistics_move_once_per_objective_and_never_by_evaluating_it() -> None:
    net, x, t = extend_case({"use_batchnorm": True})
    params = copy(net.params)
    oracle_running = book.fresh_running(params)
    objective = net.objective(x, t, CE)
    book.extend_forward(params, x, activation="relu", train=True, running=oracle_running)
    after_one = {name: np.array(value) for name, value in net.statistics.items()}
    for k in (1, 2):
        np.testing.assert_array_equal(after_one[f"running_mean{k}"], oracle_running[f"mean{k}"])
        np.testing.assert_array_equal(after_one[f"running_var{k}"], oracle_running[f"var{k}"])
    # Evaluating the objective in every way moves nothing.
    objective.value()
    CentralDiff().gradients(objective)
    minifw.Backprop().gradients(objective)
    assert isinstance(objective, LayeredObjective)
    objective.reevaluate()
    gradcheck(net, x, t, CE)  # builds its own objective, and puts the statistics back
    for name, value in net.statistics.items():
        np.testing.assert_array_equal(value, after_one[name])
    net.objective(x, t, CE)  # the next training step's objective moves them again
    book.extend_forward(params, x, activation="relu", train=True, running=oracle_running)
    np.testing.assert_array_equal(net.statistics["running_mean1"], oracle_running["mean1"])


def test_a_training_step_moves_running_statistics_once() -> None:
    net, x, t = extend_case({"use_batchnorm": True})
    before = np.array(net.statistics["running_var2"])
    objective = net.objective(x, t, CE)
    grads = minifw.Backprop().gradients(objective)
    moved = np.array(net.statistics["running_var2"])
    assert not np.array_equal(moved, before)
    minifw.SGD(learning_rate=0.1).update(net.params, grads)
    np.testing.assert_array_equal(net.statistics["running_var2"], moved)


def test_one_mask_per_objective_from_a_seeded_generator() -> None:
    options = {"use_dropout": True, "dropout_ration": 0.5}
    net, x, t = extend_case(options)
    first, second = masks_of(net.objective(x, t, CE)), masks_of(net.objective(x, t, CE))
    assert first is not None
    assert second is not None
    assert any(not np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    again, _, _ = extend_case(options)
    replay = masks_of(again.objective(x, t, CE))
    assert replay is not None
    for a, b in zip(first, replay, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_registry_configuration_and_command_line_know_the_new_models() -> None:
    from minifw.app.cli import main
    from minifw.app.config import TrainConfig
    from minifw.app.registry import REGISTRY

    assert REGISTRY["model"].by_cli("simple-conv").cls is SimpleConvNet
    assert REGISTRY["model"].by_cli("multi-layer-extend").cls is MultiLayerNetExtend
    config = TrainConfig.from_dict(
        {"model": {"type": "SimpleConvNet", "conv_param": {"filter_num": 4, "filter_size": 3}, "seed": 0}}
    )
    conv = config.build_model()
    assert isinstance(conv, SimpleConvNet)
    assert conv.params["W1"].shape == (4, 1, 3, 3)
    extend = TrainConfig.from_dict(
        {"model": {"type": "MultiLayerNetExtend", "hidden_size_list": [20, 10], "use_batchnorm": True}}
    ).build_model()
    assert "gamma2" in extend.params
    status = main(
        ["train", "--model", "multi-layer-extend", "--use-batchnorm", "true", "--weight-decay-lambda",
         "0.01", "--hidden-size-list", "8", "--steps", "2", "--scheme", "backprop", "--quiet"]
    )
    assert status == 0
