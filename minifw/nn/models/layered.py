r"""Models made of layers: parameters named after their layers, predictions, backprop, the fast objective.

A [`Layered`][minifw.nn.models.Layered] model is a stack of [layers][minifw.nn.layers] applied in
order. Its forward pass keeps every layer's output; its objective
([`LayeredObjective`][minifw.nn.layered.LayeredObjective], registered for every layered model by
[`layered_objective`][minifw.nn.models.layered.layered_objective]) holds them, which gives both the
fast numerical gradient and backpropagation without another pass.

**Training and test.** [`predict`][minifw.nn.models.Layered.predict] and
[`accuracy`][minifw.nn.models.Model.accuracy] are test time (the book's `train_flg=False`); the
loss, the objective and the gradients are training (`train_flg=True`): a layer that acts
differently in training ([`HasTrainingMode`][minifw.nn.layers.HasTrainingMode]) is asked for its
training form on the batch. **Running statistics** (batch normalization's) move once per
objective, in [`layered_objective`][minifw.nn.models.layered.layered_objective], after its
forward pass has been checked: the one training forward pass of a training step, as the book's
`gradient` moves them in its forward pass. Evaluating that objective (its value, the changes of a
numerical gradient, backprop) never moves them, and neither do `loss`, `predict` or `accuracy`.

**Assembly.** When a model is built, every layer's `params` must be its own arrays, no two
parameters may share memory ([`check_own_arrays`][minifw.nn.models.params.check_own_arrays]), the
arrays must be finite float64, and, when the input shape is known, one row of ones is run through
the layers (test time): a layer that fails, returns the wrong number of rows, moves the wrong shape
or gives non-finite values (weights too large) is named with the shapes it saw.

Examples:
    >>> import numpy as np
    >>> from minifw import CrossEntropy, TwoLayerNet
    >>> net = TwoLayerNet(input_size=3, hidden_size=2, output_size=2, seed=0)
    >>> [a.shape for a in net.forward(np.ones((4, 3)))]
    [(4, 3), (4, 2), (4, 2), (4, 2), (4, 2)]

"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import final

import attrs
import numpy as np

from minifw._validation import check_params
from minifw.errors import MinifwError, ValidationError
from minifw.nn.capability import declares
from minifw.nn.layered import contract
from minifw.nn.layered.objective import LayeredObjective
from minifw.nn.layers.layer import HasRunningStatistics, HasTrainingMode, Layer
from minifw.nn.layers.softmax_layer import Softmax
from minifw.nn.losses.loss import Loss
from minifw.nn.models.model import Model, model_objective
from minifw.nn.models.params import LiveParams, check_own_arrays
from minifw.typing import ArrayLike, FloatArray

__all__ = ["Layered", "layered_objective"]


@attrs.define(eq=False)
class Layered(Model):
    r"""A model that is a stack of [`Layer`][minifw.nn.layers.Layer]s, applied in order.

    Its parameters are the layers' own arrays ([`LiveParams`][minifw.nn.models.params.LiveParams]:
    assigning one replaces the layer's array), named after the layer's local name and the
    position of the layer among those with parameters: the first Affine layer's `W` and `b`
    are `W1` and `b1`, and so on (the book's names). Predictions, exact gradients
    (backprop) and the fast objective follow from the layers' rules.
    """

    @property
    @abc.abstractmethod
    def layers(self) -> tuple[Layer, ...]:
        """The layers, first to last."""

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """The shape of one example (after the batch axis), if known: the first layer's by default.

        A batch whose examples have as many values in another shape is reshaped to it (rows of
        784 pixels for a model of `(1, 28, 28)` images, and the other way round).
        """
        return self.layers[0].input_shape if self.layers else None

    @final
    def _name_params(self, scale: str = "") -> None:
        """Check the layers (see the module text), then give `params` their model-wide names.

        `scale` names the argument the weights were drawn with (`"weight_init=1e200"`), for the
        message when they are too large to compute with.
        """
        names = self._names()
        check_own_arrays(self.layers, names)
        params = LiveParams(self.layers, names)
        check_params(params, name=f"{type(self).__name__} params", why="trained in place")
        self._dry_run(scale)
        self.params = params

    @final
    def _names(self) -> dict[str, tuple[int, str]]:
        names: dict[str, tuple[int, str]] = {}
        for k, number in enumerate(self._layer_numbers()):
            for local in self.layers[k].params if number is not None else ():
                name = f"{local}{number}"
                if name in names:
                    raise ValidationError(f"two parameters of the model are both named {name!r}")
                names[name] = (k, local)
        return names

    def _layer_numbers(self) -> list[int | None]:
        """Return the number in each layer's parameter names (`None` for a layer without any).

        The position among the layers with parameters: `W1`, `b1`, then `W2`, ... A model may
        number otherwise (the book's `MultiLayerNetExtend` numbers its batch normalization
        layers as their hidden layer: `gamma1` beside `W1`).
        """
        numbers: list[int | None] = []
        position = 0
        for layer in self.layers:
            position += 1 if layer.params else 0
            numbers.append(position if layer.params else None)
        return numbers

    @property
    @final
    def statistics(self) -> dict[str, FloatArray]:
        """The running statistics of the layers that keep them, by name (`running_mean1`, ...).

        The live arrays, numbered as the parameters of their layer are (the first batch
        normalization layer with `gamma2` has `running_mean2`); not parameters: no gradient
        moves them.
        """
        found: dict[str, FloatArray] = {}
        for k, (layer, number) in enumerate(zip(self.layers, self._layer_numbers(), strict=True)):
            if declares(layer, HasRunningStatistics):
                suffix = str(number) if number is not None else f"@{k}"
                found.update({f"{local}{suffix}": arr for local, arr in layer.statistics().items()})
        return found

    @final
    def predict(self, x: ArrayLike) -> FloatArray:
        """Return the last layer's output at test time for a batch `x` (the book's `train_flg=False`)."""
        self._check_finite_params()
        out: FloatArray = self.forward(x)[-1]
        return out

    @final
    def predict_training(self, x: ArrayLike) -> FloatArray:
        """Return the last layer's output as in training (a new dropout mask for each call)."""
        self._check_finite_params()
        out: FloatArray = self.forward(x, training=True)[-1]
        return out

    @final
    def forward(self, x: ArrayLike, *, training: bool = False) -> tuple[FloatArray, ...]:
        """Return the input and every layer's output: `(x, y_1, ..., y_L)`.

        `training=True` runs each layer's training form ([`HasTrainingMode`][minifw.nn.layers.HasTrainingMode]).
        """
        return self.training_pass(x)[1] if training else _run(self.layers, self._inputs(x))[1]

    @final
    def training_pass(self, x: ArrayLike) -> tuple[tuple[Layer, ...], tuple[FloatArray, ...]]:
        """Return the layers as they act in training on the batch `x`, and their activations.

        Each layer with a training mode is asked for its training form on its input (a dropout
        mask drawn for the batch); the others act as they are. Nothing else changes.
        """
        return _run(self.layers, self._inputs(x), training=True)

    @final
    def backprop(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> dict[str, FloatArray]:
        r"""Return the exact gradient of the training loss by backpropagation (the book's `gradient`).

        One forward pass in training (which moves running statistics once, as the book's does),
        then [`LayeredObjective.exact_gradients`][minifw.nn.layered.LayeredObjective.exact_gradients]
        from its activations.
        """
        return layered_objective(self, x, t, loss).exact_gradients()

    def _check_finite_params(self) -> None:
        for name, arr in self.params.items():
            if not np.all(np.isfinite(arr)):
                raise ValidationError(
                    f"{type(self).__name__} params[{name!r}] is not finite (nan or inf written "
                    "into it?): predictions would be nan"
                )

    def _inputs(self, x: ArrayLike) -> FloatArray:
        """Return `x` as a float64 batch, checked: real numbers, the first layer's shape, finite.

        Finiteness is checked before the conversion (a float32 batch, as the book's MNIST loader
        gives, costs half as much to scan).
        """
        arr = np.asarray(x)
        if arr.dtype == np.bool_ or arr.dtype.kind not in "fiu":
            raise ValidationError(
                f"x must hold real numbers, got dtype {arr.dtype} and shape {arr.shape}"
            )
        shape = self.input_shape
        if (
            arr.ndim >= 2
            and shape is not None
            and arr.shape[1:] != shape
            and math.prod(arr.shape[1:]) == math.prod(shape)
        ):
            arr = arr.reshape(arr.shape[0], *shape)  # rows of pixels as images, or the reverse
        if arr.ndim < 2 or (shape is not None and arr.shape[1:] != shape):
            inputs = ", ".join(map(str, shape)) if shape is not None else "inputs"
            raise ValidationError(
                f"x must have shape (batch, {inputs}) for this {type(self).__name__}, "
                f"got shape {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise ValidationError("x must hold at least one example, got shape (0, ...)")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValidationError("x must be finite, got nan or inf in the batch")
        converted: FloatArray = arr.astype(np.float64, copy=False)
        return converted

    def _dry_run(self, scale: str) -> None:
        """Run one row of ones through the layers at test time, if the input shape is known."""
        shape = self.input_shape
        if shape is None:
            return
        x = np.ones((1, *shape))
        with np.errstate(all="ignore"):
            _, acts = _run(self.layers, x, check_changes=True)
        name = type(self).__name__
        for k, out in enumerate(acts[1:]):
            if not np.all(np.isfinite(out)):
                raise ValidationError(
                    f"{name}: layer {k} ({type(self.layers[k]).__name__}) gives non-finite values "
                    f"for a row of ones of shape {shape}: the weights are too large to compute "
                    f"with{f' ({scale})' if scale else ''}"
                )
        last = acts[-1]
        if isinstance(self.layers[-1], Softmax) and math.prod(last.shape[1:]) == 1:
            raise ValidationError(
                f"{name} ends with a softmax over one class: its output is 1 for every input and "
                "nothing can be learnt; use two or more classes, or an identity output with "
                "MeanSquared"
            )


def _run(
    layers: tuple[Layer, ...], x: FloatArray, *, training: bool = False, check_changes: bool = False
) -> tuple[tuple[Layer, ...], tuple[FloatArray, ...]]:
    """Run `x` through the layers (their training forms with `training`), checking each output.

    A layer that fails or returns other than a real array of one row per example is named, with
    the shape it got. `check_changes` also asks each layer's `change` for a move of its input and
    checks the shape of the result (the assembly's dry run).
    """
    acts = [x]
    used: list[Layer] = []
    for k, layer in enumerate(layers):
        if training and declares(layer, HasTrainingMode):
            layer = layer.training(acts[-1])
        inputs = contract.read_only(acts[-1])
        wanted = layer.input_shape
        if wanted is not None and inputs.shape[1:] != wanted:
            before = f"layer {k - 1} ({type(layers[k - 1]).__name__}) gives" if k else "the input is"
            raise ValidationError(
                f"layer {k} ({type(layer).__name__}) takes examples of shape {wanted}, but "
                f"{before} examples of shape {inputs.shape[1:]}"
            )
        out = _checked(k, layer, "forward", inputs, layer.forward, inputs)
        if check_changes:
            move = np.full(inputs.shape, 1e-3)
            found = _checked(k, layer, "change", inputs, layer.change, inputs, out, move)
            if found.shape != out.shape:
                raise ValidationError(
                    f"layer {k} ({type(layer).__name__}).change must return the shape of its "
                    f"output {out.shape}, got {found.shape} for inputs of shape {inputs.shape}"
                )
        used.append(layer)
        acts.append(out)
    return tuple(used), tuple(acts)


def _checked(
    k: int, layer: Layer, rule: str, x: FloatArray, call: Callable[..., object], *args: object
) -> FloatArray:
    """Call a layer's rule; name the layer and the input shape if it fails or gives a bad array."""
    name = type(layer).__name__
    try:
        raw = call(*args)
    except MinifwError:
        raise
    except (ValueError, TypeError, IndexError, ArithmeticError) as err:
        contract.refuse_write(k, layer, rule, err)
        raise ValidationError(
            f"layer {k} ({name}).{rule} failed on inputs of shape {x.shape}: {err}"
        ) from err
    if not isinstance(raw, np.ndarray) or raw.dtype.kind not in "fiu" or raw.ndim < 1:
        got = f"dtype {raw.dtype}, shape {raw.shape}" if isinstance(raw, np.ndarray) else type(raw).__name__
        raise ValidationError(
            f"layer {k} ({name}).{rule} must return a real array of one row per example, got {got}"
        )
    if raw.shape[0] != x.shape[0]:
        raise ValidationError(
            f"layer {k} ({name}).{rule} must return one row per example ({x.shape[0]}), got shape "
            f"{raw.shape} for inputs of shape {x.shape}"
        )
    out: FloatArray = raw.astype(np.float64, copy=False)
    return out


@model_objective.register
def layered_objective(model: Layered, x: ArrayLike, t: ArrayLike, loss: Loss) -> LayeredObjective:
    """Return the [`LayeredObjective`][minifw.nn.layered.LayeredObjective] of a layered model.

    One forward pass in training (the training forms of the layers that have one); the objective
    keeps every layer's output, read-only. A layer whose class is not minifw's is first tried on a
    few rows ([`check_layers`][minifw.nn.layered.contract.check_layers], once per layer and input
    shape). When the predictions and targets have been checked, the layers' running statistics
    move once by this batch's (see the module text).
    """
    layers, acts = model.training_pass(x)
    acts = tuple(contract.read_only(a) for a in acts)
    contract.check_layers(model.layers, layers, acts)
    _, t_batch = loss.prepare(acts[-1], t)
    objective = LayeredObjective(
        layers=layers,
        names=model._names(),
        loss=loss,
        t=t_batch,
        acts=acts,
        penalty=model.penalty,
    )
    for k, layer in enumerate(model.layers):
        if declares(layer, HasRunningStatistics):
            layer.observe(acts[k])
    return objective
