r"""Models: named parameter arrays and a prediction; networks built from layers.

A [`Model`][minifw.nn.models.Model] holds its parameters in `params` (a dict of float64 arrays, updated
in place by training) and maps inputs to predictions with [`predict`][minifw.nn.models.Model.predict].
Numerical gradients reach a model through [`objective`][minifw.nn.models.Model.objective], the loss on
a batch as an [`Objective`][minifw.numdiff.objective.Objective]. For any model that is a
[`Perturbation`][minifw.numdiff.perturbation.Perturbation] (one full [`predict`][minifw.nn.models.Model.predict]
per coordinate and step, the book's method); for a model built from layers
([`Sequential`][minifw.nn.models.Sequential], [`MultiLayerNet`][minifw.nn.models.MultiLayerNet],
[`TwoLayerNet`][minifw.nn.models.TwoLayerNet]) it is a
[`LayeredObjective`][minifw.nn.layered.LayeredObjective], which recomputes only what a coordinate
changes. Register a faster objective for a model class of your own with `@model_objective.register`.

Exact gradients are a capability: a model with a `backprop(x, t, loss)` method
([`HasBackprop`][minifw.nn.models.HasBackprop], as every layered model has) can be gradient-checked and
trained with [`Backprop`][minifw.nn.models.Backprop].

Examples:
    >>> import numpy as np
    >>> from minifw import CrossEntropy, TwoLayerNet
    >>> net = TwoLayerNet(input_size=4, hidden_size=3, output_size=2, seed=0)
    >>> sorted(net.params)
    ['W1', 'W2', 'b1', 'b2']
    >>> net.predict(np.ones((1, 4))).round(4)
    array([[0.4964, 0.5036]])

"""

from __future__ import annotations

import abc
import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, TypeAlias, final, runtime_checkable

import attrs
import numpy as np

from minifw._validation import (
    POSITIVE_INT,
    SEED,
    Check,
    is_positive_float,
    one_of,
    positive_float,
    to_float,
)
from minifw.errors import NotSupportedError, ValidationError
from minifw.nn.layered import LayeredObjective
from minifw.nn.layers import Affine, Layer, ReLU, Sigmoid, Softmax, Tanh
from minifw.nn.loss_changes import loss_gradient
from minifw.nn.losses import Loss
from minifw.numdiff.objective import Objective, check_params
from minifw.numdiff.perturbation import Perturbation
from minifw.typing import ArrayLike, FloatArray, SeedLike

__all__ = [
    "Backprop",
    "HasBackprop",
    "Layered",
    "Model",
    "MultiLayerNet",
    "Sequential",
    "TwoLayerNet",
    "analytic_gradient",
    "model_objective",
]

ActivationName: TypeAlias = Literal["relu", "sigmoid", "tanh"]
OutputName: TypeAlias = Literal["softmax", "identity"]

_ACTIVATIONS: dict[str, type[Layer]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
# Most units a built-in network's layer may have.
MAX_UNITS = 2**20


@attrs.define(eq=False)
class Model(abc.ABC):
    """Parameters by name and a prediction; subclass and implement `predict`.

    Subclasses fill `params` (float64 arrays, updated in place by training) and implement
    [`predict`][minifw.nn.models.Model.predict]. Numerical gradients then work through
    [`objective`][minifw.nn.models.Model.objective]; add a `backprop(x, t, loss)` method for exact
    gradients ([`HasBackprop`][minifw.nn.models.HasBackprop]).

    Examples:
        >>> import attrs, numpy as np
        >>> from typing import final
        >>> from minifw import CentralDiff, MeanSquared
        >>> @final
        ... @attrs.define(eq=False)
        ... class Linear(Model):
        ...     def __attrs_post_init__(self):
        ...         self.params = {"W": np.array([[1.0], [2.0]])}
        ...     def predict(self, x):
        ...         return np.asarray(x, dtype=np.float64) @ self.params["W"]
        >>> model = Linear()
        >>> model.loss([[1.0, 1.0]], [[0.0]], MeanSquared())  # 0.5 * (1 + 2)^2
        4.5
        >>> grads = CentralDiff().gradients(model.objective([[1.0, 1.0]], [[0.0]], MeanSquared()))
        >>> grads["W"].round(6).tolist()
        [[3.0], [3.0]]

    """

    params: dict[str, FloatArray] = attrs.field(factory=dict, init=False, repr=False)

    @abc.abstractmethod
    def predict(self, x: ArrayLike) -> FloatArray:
        """Return the predictions for a batch of inputs `x`."""

    @final
    def loss(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> float:
        """Return the scalar `loss(predict(x), t)`; `loss` must reduce to a scalar."""
        loss.require_scalar()
        return float(loss(self.predict(x), t))

    @final
    def objective(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> Objective:
        """Return the loss on `(x, t)` as an `Objective` of `params`.

        Chosen by [`model_objective`][minifw.nn.models.model_objective] for the model's class.
        """
        check_params(self.params, type(self).__name__)
        return model_objective(self, x, t, loss)

    @final
    def accuracy(self, x: ArrayLike, t: ArrayLike) -> float:
        """Return the fraction of examples whose highest score is the answer.

        `t` holds class indices `(N,)` or one-hot rows `(N, K)`.

        Examples:
            >>> import numpy as np
            >>> TwoLayerNet(input_size=2, hidden_size=2, output_size=3, seed=0).accuracy(
            ...     np.ones((2, 2)), [0, 5])
            Traceback (most recent call last):
            ...
            minifw.errors.ValidationError: t must hold class indices in 0..2 for 3 classes, got t[1]=5

        """
        scores = np.asarray(self.predict(x))
        if scores.ndim != 2 or scores.shape[1] == 0:
            raise ValidationError(
                f"{type(self).__name__}.predict must return scores of shape (batch, classes) to "
                f"be scored, got shape {scores.shape}"
            )
        n, k = scores.shape
        t_arr = np.asarray(t)
        if t_arr.ndim == 2 and t_arr.shape == scores.shape and t_arr.dtype.kind in "fiub":
            labels = t_arr.argmax(axis=1)
        elif t_arr.ndim == 1 and t_arr.shape[0] == n:
            if t_arr.dtype.kind not in "iu":
                raise ValidationError(
                    f"t must hold integer class indices or one-hot rows, got dtype {t_arr.dtype}"
                )
            labels = t_arr
            bad = (labels < 0) | (labels >= k)
            if np.any(bad):
                i = int(np.flatnonzero(bad)[0])
                raise ValidationError(
                    f"t must hold class indices in 0..{k - 1} for {k} classes, "
                    f"got t[{i}]={int(labels[i])}"
                )
        else:
            raise ValidationError(
                f"t must hold one label per prediction ({n},) or one-hot rows {scores.shape}, "
                f"got shape {t_arr.shape}"
            )
        return float(np.mean(scores.argmax(axis=1) == labels))


@functools.singledispatch
def model_objective(model: Model, x: ArrayLike, t: ArrayLike, loss: Loss) -> Objective:
    """Return the objective of `loss` on `(x, t)` for `model`, chosen by its class.

    The default perturbs the parameter arrays in place, one coordinate at a time, and runs a full
    [`predict`][minifw.nn.models.Model.predict] for every step (the book's method). Layered models
    register [`LayeredObjective`][minifw.nn.layered.LayeredObjective]; register your own with
    `@model_objective.register`.
    """
    x_arr = np.asarray(x)
    loss.require_scalar()
    t_batch = loss.prepare(model.predict(x_arr), t)[1]  # labels checked and expanded once
    return Perturbation(lambda: model.loss(x_arr, t_batch, loss), model.params)


@runtime_checkable
class HasBackprop(Protocol):
    """A model that computes the exact gradient of a loss (backpropagation)."""

    def backprop(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> dict[str, FloatArray]:
        """Return the exact gradient of `loss(predict(x), t)` for each parameter array."""
        ...


def analytic_gradient(model: Model, x: ArrayLike, t: ArrayLike, loss: Loss) -> dict[str, FloatArray]:
    """Return `model.backprop(x, t, loss)`, checked against the model's parameters.

    Raises [`NotSupportedError`][minifw.errors.NotSupportedError] for a model without `backprop`.
    """
    if not isinstance(model, HasBackprop):
        raise NotSupportedError(
            f"{type(model).__name__} has no analytic gradient: give it a backprop(x, t, loss) "
            "method, or build it from layers (Sequential)"
        )
    grads = model.backprop(x, t, loss)
    for name, arr in model.params.items():
        got = grads.get(name) if isinstance(grads, Mapping) else None
        if not isinstance(got, np.ndarray) or got.shape != arr.shape:
            shape = getattr(got, "shape", type(got).__name__)
            raise NotSupportedError(
                f"{type(model).__name__}.backprop must return an array of shape {arr.shape} "
                f"for {name!r}, got {shape}"
            )
    return dict(grads)


@final
@attrs.frozen
class Backprop:
    """Use the model's exact gradient (`HasBackprop.backprop`) where a scheme would go.

    `Trainer(..., differentiator=Backprop())` trains with backpropagation, as the book's
    chapter 5 does: a fair baseline for numerical training.

    Examples:
        >>> import numpy as np
        >>> from minifw import CrossEntropy, TwoLayerNet
        >>> net = TwoLayerNet(input_size=2, hidden_size=2, output_size=2, seed=0)
        >>> sorted(Backprop().gradients(net, np.ones((1, 2)), [1], CrossEntropy()))
        ['W1', 'W2', 'b1', 'b2']

    """

    def gradients(
        self, model: Model, x: ArrayLike, t: ArrayLike, loss: Loss
    ) -> dict[str, FloatArray]:
        """Return [`analytic_gradient`][minifw.nn.models.analytic_gradient] of `model`."""
        return analytic_gradient(model, x, t, loss)


@attrs.define(eq=False)
class Layered(Model):
    r"""A model that is a stack of [`Layer`][minifw.nn.layers.Layer]s, applied in order.

    Its parameters are the layers' own arrays, named after the layer's local name and the
    position of the layer among those with parameters: the first Affine layer's `W` and `b`
    are `W1` and `b1`, and so on (the book's names). Predictions, exact gradients
    (backprop) and the fast objective follow from the layers' rules.
    """

    @property
    @abc.abstractmethod
    def layers(self) -> tuple[Layer, ...]:
        """The layers, first to last."""

    @final
    def _name_params(self) -> None:
        """Fill `params` with the layers' arrays under their model-wide names."""
        self.params = {name: self.layers[k].params[local] for name, (k, local) in self._names().items()}

    @final
    def _names(self) -> dict[str, tuple[int, str]]:
        names: dict[str, tuple[int, str]] = {}
        position = 0
        for k, layer in enumerate(self.layers):
            if not layer.params:
                continue
            position += 1
            for local in layer.params:
                name = f"{local}{position}"
                if name in names:
                    raise ValidationError(f"two parameters of the model are both named {name!r}")
                names[name] = (k, local)
        return names

    @final
    def predict(self, x: ArrayLike) -> FloatArray:
        """Return the last layer's output for inputs `x` of shape `(batch, inputs)`."""
        out: FloatArray = self.forward(x)[-1]
        return out

    @final
    def forward(self, x: ArrayLike) -> tuple[FloatArray, ...]:
        """Return the input and every layer's output: `(x, y_1, ..., y_L)`."""
        acts = [self._inputs(x)]
        for layer in self.layers:
            acts.append(np.asarray(layer.forward(acts[-1]), dtype=np.float64))
        return tuple(acts)

    @final
    def backprop(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> dict[str, FloatArray]:
        r"""Return the exact gradient of `loss(predict(x), t)` by backpropagation.

        Starting from \(w\,\partial\ell/\partial y\) (`w` the reduction's weight), each
        layer's [`backward`][minifw.nn.layers.Layer.backward] gives the gradient of its input and its
        parameters, last layer first.
        """
        acts = self.forward(x)
        y, t_batch = loss.prepare(acts[-1], t)
        grad = loss.weight(y.shape[0]) * loss_gradient(loss, y, t_batch)
        by_layer: dict[int, dict[str, Any]] = {}
        for k in range(len(self.layers) - 1, -1, -1):
            grad, by_layer[k] = self.layers[k].backward(acts[k], acts[k + 1], grad)
        return {name: np.asarray(by_layer[k][local]) for name, (k, local) in self._names().items()}

    @final
    def _expected_inputs(self) -> int | None:
        """Return the number of inputs the first layer takes, if it says (an Affine layer does)."""
        first = self.layers[0] if self.layers else None
        return int(first.W.shape[0]) if isinstance(first, Affine) else None

    def _inputs(self, x: ArrayLike) -> FloatArray:
        arr = np.asarray(x)
        if arr.dtype == np.bool_ or arr.dtype.kind not in "fiu":
            raise ValidationError(
                f"x must hold real numbers, got dtype {arr.dtype} and shape {arr.shape}"
            )
        arr = arr.astype(np.float64, copy=False)
        size = self._expected_inputs()
        if arr.ndim != 2 or (size is not None and arr.shape[1] != size):
            expected = f"(batch, {size})" if size is not None else "(batch, inputs)"
            raise ValidationError(
                f"x must have shape {expected} for this {type(self).__name__}, got shape {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise ValidationError("x must hold at least one example, got shape (0, ...)")
        if not np.all(np.isfinite(arr)):
            raise ValidationError("x must be finite, got nan or inf in the batch")
        return arr


@model_objective.register
def _(model: Layered, x: ArrayLike, t: ArrayLike, loss: Loss) -> Objective:
    acts = model.forward(x)
    _, t_batch = loss.prepare(acts[-1], t)
    return LayeredObjective(
        layers=model.layers, names=model._names(), loss=loss, t=t_batch, acts=acts
    )


def _as_layers(value: Sequence[Layer]) -> tuple[Layer, ...]:
    layers = tuple(value)
    for k, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise ValidationError(
                f"layers must be Layer objects, got {type(layer).__name__} at position {k}"
            )
    if not layers:
        raise ValidationError("layers must hold at least one layer, got none")
    return layers


@final
@attrs.define(eq=False)
class Sequential(Layered):
    """A model from a sequence of layers.

    Examples:
        >>> import numpy as np
        >>> from minifw.nn.layers import Affine, ReLU, Softmax
        >>> rng = np.random.default_rng(0)
        >>> net = Sequential([Affine.init(2, 3, std=1.0, rng=rng), ReLU(), Affine.init(3, 2, std=1.0, rng=rng), Softmax()])
        >>> sorted(net.params)
        ['W1', 'W2', 'b1', 'b2']
        >>> net.predict(np.array([[1.0, -1.0]])).round(4)
        array([[0.5122, 0.4878]])

    """

    layers: tuple[Layer, ...] = attrs.field(converter=_as_layers)

    def __attrs_post_init__(self) -> None:
        self._name_params()


# The checks of the built-in networks' fields (the shared vocabulary: config and CLI use them).
SIZE = POSITIVE_INT.at_most(MAX_UNITS, "2**20 = 1048576")
ACTIVATION = one_of(*_ACTIVATIONS)
OUTPUT = one_of("softmax", "identity")
WEIGHT_INIT = Check(
    "'he', 'xavier' or a positive standard deviation",
    lambda v: v in ("he", "xavier") or is_positive_float(v),
)


def _as_sizes(value: object) -> tuple[int, ...]:
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, Sequence | np.ndarray) or isinstance(value, str):
        raise ValidationError(
            f"hidden_sizes must be a sequence of positive integers, got hidden_sizes={value!r}"
        )
    sizes = tuple(value)
    for size in sizes:
        if not SIZE.accepts(size):
            raise ValidationError(
                "hidden_sizes must be positive integers (at most 2**20 each), "
                f"got hidden_sizes={value!r}"
            )
    return tuple(int(s) for s in sizes)


# Largest number of parameters a built-in network accepts (1 GiB of float64).
MAX_PARAMETERS = 1 << 27


def _check_total(sizes: Sequence[int]) -> None:
    total = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
    if total > MAX_PARAMETERS:
        raise ValidationError(
            f"layer sizes {tuple(sizes)} need {total:,} parameters, more than the "
            f"{MAX_PARAMETERS:,} (1 GiB of float64) a built-in network accepts"
        )


@final
@attrs.define(eq=False)
class MultiLayerNet(Layered):
    r"""A fully connected network as the book's `MultiLayerNet`: affine and activation layers.

    `input_size -> hidden_sizes[0] -> ... -> output_size`, each hidden layer an
    [`Affine`][minifw.nn.layers.Affine] layer followed by `activation` (`"relu"`, `"sigmoid"`
    or `"tanh"`), then an Affine output layer and `output`: `"softmax"` (probabilities,
    for [`CrossEntropy`][minifw.nn.losses.CrossEntropy]) or `"identity"` (scores, for
    [`MeanSquared`][minifw.nn.losses.MeanSquared]). Weights start as standard normal draws from
    `numpy.random.default_rng(seed)` (layer by layer) times a scale: `"he"`
    \(\sqrt{2/n_\text{in}}\), `"xavier"` \(\sqrt{1/n_\text{in}}\), or a number; biases
    at zero. Parameters are named `W1, b1, W2, b2, ...`.

    Examples:
        >>> net = MultiLayerNet(input_size=4, hidden_sizes=(3, 3), output_size=2, seed=0)
        >>> sorted(net.params)
        ['W1', 'W2', 'W3', 'b1', 'b2', 'b3']
        >>> [type(layer).__name__ for layer in net.layers]
        ['Affine', 'ReLU', 'Affine', 'ReLU', 'Affine', 'Softmax']

    """

    input_size: int = attrs.field(default=784, validator=SIZE)
    hidden_sizes: tuple[int, ...] = attrs.field(default=(100, 100), converter=_as_sizes)
    output_size: int = attrs.field(default=10, validator=SIZE)
    activation: ActivationName = attrs.field(default="relu", validator=ACTIVATION)
    weight_init: Literal["he", "xavier"] | float = attrs.field(
        default="he", validator=WEIGHT_INIT
    )
    output: OutputName = attrs.field(default="softmax", validator=OUTPUT)
    seed: SeedLike = attrs.field(default=None, kw_only=True, validator=SEED)
    layers: tuple[Layer, ...] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        sizes = (self.input_size, *self.hidden_sizes, self.output_size)
        _check_total(sizes)
        layers: list[Layer] = []
        for k in range(1, len(sizes)):
            layers.append(Affine.init(sizes[k - 1], sizes[k], std=self._scale(sizes[k - 1]), rng=rng))
            if k < len(sizes) - 1:
                layers.append(_ACTIVATIONS[self.activation]())
        if self.output == "softmax":
            layers.append(Softmax())
        self.layers = tuple(layers)
        self._name_params()

    def _scale(self, n_in: int) -> float:
        if self.weight_init == "he":
            return math.sqrt(2.0 / n_in)
        if self.weight_init == "xavier":
            return math.sqrt(1.0 / n_in)
        return float(self.weight_init)


@final
@attrs.define(eq=False)
class TwoLayerNet(Layered):
    r"""The book's network of chapter 4: affine, sigmoid, affine, softmax.

    \[
    a_1 = x W_1 + b_1,\quad z = \sigma(a_1),\quad a_2 = z W_2 + b_2,\quad
    y = \operatorname{softmax}(a_2)
    \]

    Weights start as `weight_init_std` times standard normal draws from
    `numpy.random.default_rng(seed)` (`W1` first), biases at zero.

    Examples:
        >>> from minifw import CentralDiff, CrossEntropy
        >>> net = TwoLayerNet(input_size=3, hidden_size=4, output_size=2, seed=1)
        >>> x, t = np.array([[0.0, 0.5, 1.0]]), np.array([1])
        >>> num = CentralDiff().gradients(net.objective(x, t, CrossEntropy()))
        >>> ana = net.backprop(x, t, CrossEntropy())
        >>> all(np.allclose(num[k], ana[k], rtol=0, atol=1e-10) for k in net.params)
        True

    """

    input_size: int = attrs.field(default=784, validator=SIZE)
    hidden_size: int = attrs.field(default=50, validator=SIZE)
    output_size: int = attrs.field(default=10, validator=SIZE)
    weight_init_std: float = attrs.field(default=0.01, converter=to_float, validator=positive_float)
    seed: SeedLike = attrs.field(default=None, kw_only=True, validator=SEED)
    layers: tuple[Layer, ...] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_total((self.input_size, self.hidden_size, self.output_size))
        rng = np.random.default_rng(self.seed)
        std = float(self.weight_init_std)
        self.layers = (
            Affine.init(self.input_size, self.hidden_size, std=std, rng=rng),
            Sigmoid(),
            Affine.init(self.hidden_size, self.output_size, std=std, rng=rng),
            Softmax(),
        )
        self._name_params()
