r"""Models made of layers: parameters named after their layers, predictions, backprop, the fast objective.

A [`Layered`][minifw.nn.models.Layered] model is a stack of [layers][minifw.nn.layers] applied in
order. Its forward pass keeps every layer's output; its objective
([`LayeredObjective`][minifw.nn.layered.LayeredObjective], registered for every layered model by
[`layered_objective`][minifw.nn.models.layered.layered_objective]) holds them, which gives both the
fast numerical gradient and backpropagation without another pass.

Examples:
    >>> import numpy as np
    >>> from minifw import CrossEntropy, TwoLayerNet
    >>> net = TwoLayerNet(input_size=3, hidden_size=2, output_size=2, seed=0)
    >>> [a.shape for a in net.forward(np.ones((4, 3)))]
    [(4, 3), (4, 2), (4, 2), (4, 2), (4, 2)]

"""

from __future__ import annotations

import abc
from typing import final

import attrs
import numpy as np

from minifw.errors import ValidationError
from minifw.nn.layered.objective import LayeredObjective
from minifw.nn.layers.layer import Layer
from minifw.nn.losses.loss import Loss
from minifw.nn.models.model import Model, model_objective
from minifw.typing import ArrayLike, FloatArray

__all__ = ["Layered", "layered_objective"]


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

        One forward pass, then
        [`LayeredObjective.exact_gradients`][minifw.nn.layered.LayeredObjective.exact_gradients]
        from its activations.
        """
        return layered_objective(self, x, t, loss).exact_gradients()

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
        shape = self.layers[0].input_shape if self.layers else None
        if arr.ndim != 2 or (shape is not None and arr.shape[1:] != shape):
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


@model_objective.register
def layered_objective(model: Layered, x: ArrayLike, t: ArrayLike, loss: Loss) -> LayeredObjective:
    """Return the [`LayeredObjective`][minifw.nn.layered.LayeredObjective] of a layered model.

    One forward pass; the objective keeps every layer's output.
    """
    acts = model.forward(x)
    _, t_batch = loss.prepare(acts[-1], t)
    return LayeredObjective(
        layers=model.layers, names=model._names(), loss=loss, t=t_batch, acts=acts
    )
