"""The network side of the reliability catalogue (issue 22, classes 1 to 3), one case a row.

Each case: the error type, a message naming the input, and nothing changed in memory (the
parameters and the arrays handed in are as they were). Class 1: non-finite weights and scores;
class 2: shapes, checked where a model is assembled; class 3: parameters that are not what they
seem (replaced, aliased, copies).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, final

import attrs
import numpy as np
import pytest

import minifw
from minifw import (
    SGD,
    CrossEntropy,
    Model,
    MultiLayerNet,
    Sequential,
    TwoLayerNet,
)
from minifw.errors import MinifwError, ValidationError
from minifw.nn.layers import Affine, Layer, ReLU, Softmax
from minifw.typing import AnyArray, ArrayLike, FloatArray


def snapshot(model: Model) -> dict[str, bytes]:
    return {name: np.asarray(arr).tobytes() for name, arr in model.params.items()}


def small() -> MultiLayerNet:
    return MultiLayerNet(4, (4,), 4, seed=0)


X = np.random.default_rng(0).random((3, 4))
T = np.array([0, 1, 3])


@final
@attrs.define(eq=False)
class NanScores(Model):
    """A user's model whose predictions are nan in one row."""

    def __attrs_post_init__(self) -> None:
        self.params = {"w": np.zeros(2)}

    def predict(self, x: ArrayLike) -> FloatArray:
        scores = np.zeros((len(np.asarray(x)), 2))
        scores[1, 0] = np.nan
        return scores


@final
@attrs.define(eq=False)
class WrongRows(Layer):
    """A user layer whose forward drops a row."""

    @property
    def params(self) -> dict[str, FloatArray]:
        return {}

    def forward(self, x: AnyArray) -> AnyArray:
        out: AnyArray = x[1:]
        return out

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        return dy, {}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        return dx


@final
@attrs.define(eq=False)
class WrongChange(Layer):
    """A user layer whose change returns the wrong shape."""

    @property
    def params(self) -> dict[str, FloatArray]:
        return {}

    def forward(self, x: AnyArray) -> AnyArray:
        return x

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        return dy, {}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        out: AnyArray = dx[:, :1]
        return out


@final
@attrs.define(eq=False)
class Copies(Layer):
    """A user layer whose params returns copies of its array."""

    w: FloatArray = attrs.field(factory=lambda: np.ones(4))

    @property
    def params(self) -> dict[str, FloatArray]:
        return {"w": self.w.copy()}

    def forward(self, x: AnyArray) -> AnyArray:
        out: AnyArray = x * self.w
        return out

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        return dy * self.w, {"w": np.sum(dy * x, axis=0)}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        out: AnyArray = dx * self.w
        return out


def affine(n_in: int, n_out: int) -> Affine:
    return Affine(W=np.full((n_in, n_out), 0.1), b=np.zeros(n_out))


# --- class 1: non-finite weights and scores --------------------------------------------------

CLASS_1: list[tuple[str, Callable[[], object], str]] = [
    ("weight_init=1e200", lambda: MultiLayerNet(weight_init=1e200, seed=0), r"too large to compute with \(weight_init=1e\+200\)"),
    ("weight_init_std=1e308", lambda: TwoLayerNet(weight_init_std=1e308, seed=0), r"weight_init_std=1e\+308 is too large"),
    ("Affine(W=nan)", lambda: Affine(W=np.full((2, 2), np.nan), b=np.zeros(2)), r"Affine W must be finite, got nan at W\[0, 0\]"),
    ("Affine(b=inf)", lambda: Affine(W=np.zeros((2, 2)), b=np.array([0.0, np.inf])), r"Affine b must be finite, got inf at b\[1\]"),
    ("softmax over one class", lambda: MultiLayerNet(4, (3,), 1, seed=0), "softmax over one class"),
    ("accuracy of nan scores", lambda: NanScores().accuracy(np.zeros((3, 1)), [0, 1, 1]), r"not finite .*first bad row 1"),
    ("accuracy, an all-zero row", lambda: small().accuracy(X, np.eye(4)[T] * [[1], [0], [1]]), r"one-hot rows .* got t\[1\]=\[0, 0, 0, 0\]"),
    ("accuracy, a nan row", lambda: small().accuracy(X, np.where([[0], [0], [1]], np.nan, np.eye(4)[T])), r"got t\[2\]=\[nan, nan, nan, nan\]"),
    ("accuracy, a row summing to 2", lambda: small().accuracy(X, np.eye(4)[T] + np.eye(4)[[1, 1, 0]]), r"got t\[0\]=\[1, 1, 0, 0\]"),
    ("accuracy, a uint64 label", lambda: small().accuracy(X, np.array([0, 2**64 - 1, 1], dtype=np.uint64)), r"got t\[1\]=18446744073709551615"),
]


@pytest.mark.parametrize(("case", "make", "words"), CLASS_1, ids=[c[0] for c in CLASS_1])
def test_class_1_non_finite_weights_and_scores_are_refused(case: str, make: Callable[[], object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        make()


@pytest.mark.parametrize("where", ["predict", "objective", "loss", "accuracy"])
def test_class_1_a_nan_written_into_a_parameter_is_named(where: str) -> None:
    net = small()
    net.params["W1"][0, 0] = np.nan
    before = snapshot(net)
    calls: dict[str, Callable[[], object]] = {
        "predict": lambda: net.predict(X),
        "objective": lambda: net.objective(X, T, CrossEntropy()),
        "loss": lambda: net.loss(X, T, CrossEntropy()),
        "accuracy": lambda: net.accuracy(X, T),
    }
    with pytest.raises(ValidationError, match=r"params\['W1'\]"):
        calls[where]()
    assert snapshot(net) == before


# --- class 2: shapes, at assembly --------------------------------------------------------------

CLASS_2: list[tuple[str, Callable[[], object], str]] = [
    ("Sequential(None)", lambda: Sequential(None), "layers must be a sequence of Layer objects, got NoneType"),  # type: ignore[arg-type]
    ("Sequential(one layer)", lambda: Sequential(affine(2, 2)), r"got one Affine layer: wrap it in a list"),  # type: ignore[arg-type]
    ("Sequential([])", lambda: Sequential([]), "at least one layer"),
    ("a string", lambda: Sequential("abc"), "got str"),  # type: ignore[arg-type]
    ("not a layer", lambda: Sequential([affine(2, 2), np.eye(2)]), r"got ndarray at position 1"),  # type: ignore[list-item]
    (
        "mismatched widths",
        lambda: Sequential([affine(4, 3), ReLU(), affine(2, 2), Softmax()]),
        r"layer 2 \(Affine\) takes examples of shape \(2,\), but layer 1 \(ReLU\) gives examples of shape \(3,\)",
    ),
    (
        "forward drops a row",
        lambda: Sequential([affine(4, 3), WrongRows()]),
        r"layer 1 \(WrongRows\).forward must return one row per example \(1\), got shape \(0, 3\)",
    ),
    (
        "change of the wrong shape",
        lambda: Sequential([affine(4, 3), WrongChange()]),
        r"layer 1 \(WrongChange\).change must return the shape of its output \(1, 3\), got \(1, 1\)",
    ),
    (
        "a convolution on rows",
        lambda: Sequential([minifw.Convolution(W=np.ones((2, 1, 3, 3)), b=np.zeros(2))], input_shape=(9,)),
        r"Convolution with filters \(2, 1, 3, 3\) takes images \(batch, 1, height, width\), got shape \(1, 9\)",
    ),
    ("an input_shape that is not one", lambda: Sequential([ReLU()], input_shape=(0, 3)), "input_shape must be a tuple of positive integers"),
]


@pytest.mark.parametrize(("case", "make", "words"), CLASS_2, ids=[c[0] for c in CLASS_2])
def test_class_2_shapes_are_checked_where_a_model_is_assembled(case: str, make: Callable[[], object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        make()


def test_class_2_a_batch_of_the_wrong_shape_is_named() -> None:
    net = small()
    with pytest.raises(ValidationError, match=r"x must have shape \(batch, 4\) for this MultiLayerNet, got shape \(3, 5\)"):
        net.predict(np.zeros((3, 5)))


# --- class 3: parameters that are not what they seem ---------------------------------------------


def test_class_3_an_assigned_parameter_takes_effect_everywhere() -> None:
    net = small()
    new = np.full((4, 4), 0.3)
    net.params["W1"] = new
    assert net.layers[0].params["W"] is new  # the layer uses it: predictions and gradients
    expected = Sequential([Affine(W=new.copy(), b=np.zeros(4)), ReLU(), *net.layers[2:]])
    np.testing.assert_array_equal(net.predict(X), expected.predict(X))
    grads = minifw.CentralDiff().gradients(net.objective(X, T, CrossEntropy()))
    SGD(learning_rate=0.5).update(net.params, grads)
    assert not np.array_equal(new, np.full((4, 4), 0.3))  # the optimizer updated the live array


LIST: Any = [0.0] * 4
CLASS_3: list[tuple[str, Callable[[MultiLayerNet], object], str]] = [
    ("a new shape", lambda n: n.params.__setitem__("W1", np.zeros((3, 3))), r"must keep its shape \(4, 4\).*params\['W1'\]\[\.\.\.\] = values"),
    ("a list", lambda n: n.params.__setitem__("b1", LIST), r"must be assigned a numeric numpy array, got list"),
    ("nan", lambda n: n.params.__setitem__("b1", np.full(4, np.nan)), r"params\['b1'\] holds nan at b1\[0\]"),
    ("a new name", lambda n: n.params.__setitem__("W9", np.zeros((4, 4))), r"has no parameter 'W9'"),
    ("a removed name", lambda n: n.params.__delitem__("W1"), r"params\['W1'\] cannot be removed"),
    ("another's array", lambda n: n.params.__setitem__("W2", n.params["W1"]), r"would share memory with params\['W1'\]"),
    ("a view of another's", lambda n: n.params.__setitem__("b2", n.params["W1"][0]), r"would share memory with params\['W1'\]"),
]


@pytest.mark.parametrize(("case", "act", "words"), CLASS_3, ids=[c[0] for c in CLASS_3])
def test_class_3_an_assignment_that_cannot_take_effect_is_refused(
    case: str, act: Callable[[MultiLayerNet], object], words: str
) -> None:
    net = small()
    before, arrays = snapshot(net), dict(net.params)
    with pytest.raises(ValidationError, match=words):
        act(net)
    assert snapshot(net) == before
    assert all(net.params[k] is v for k, v in arrays.items())


def test_class_3_one_layer_twice_is_refused() -> None:
    shared = affine(3, 3)
    with pytest.raises(ValidationError, match="parameters W1 and W2 share memory"):
        Sequential([shared, ReLU(), shared, Softmax()])


def test_class_3_a_layer_whose_params_are_copies_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"layer 1 \(Copies\).params must return the layer's own arrays"):
        Sequential([affine(4, 4), Copies(), Softmax()])


def test_class_3_an_optimizer_refuses_one_array_under_two_names() -> None:
    w = np.array([1.0, 2.0])
    with pytest.raises(ValidationError, match=r"params\['a'\] and params\['b'\] share memory"):
        SGD().update({"a": w, "b": w}, {"a": np.ones(2), "b": np.ones(2)})
    with pytest.raises(ValidationError, match="share memory"):
        SGD().update({"a": w, "b": w[1:]}, {"a": np.ones(2), "b": np.ones(1)})
    np.testing.assert_array_equal(w, [1.0, 2.0])


def test_errors_are_minifw_errors() -> None:
    for _, make, _ in CLASS_1 + CLASS_2:
        with pytest.raises(MinifwError):
            make()


