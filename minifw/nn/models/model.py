r"""The model base class, and the objective of any model: the book's method, and its backprop.

A [`Model`][minifw.nn.models.Model] holds its parameters in `params` (a dict of float64 arrays,
updated in place by training) and maps inputs to predictions with
[`predict`][minifw.nn.models.Model.predict]. Gradients reach a model through
[`objective`][minifw.nn.models.Model.objective], the loss on a batch as an
[`Objective`][minifw.numdiff.objective.Objective], chosen by the model's class
([`model_objective`][minifw.nn.models.model_objective]). For a model of your own it is a
[`ModelObjective`][minifw.nn.models.ModelObjective]: one full `predict` per coordinate and step
(the book's method) for numerical gradients, and the model's own `backprop(x, t, loss)`
([`HasBackprop`][minifw.nn.models.HasBackprop]) for [`Backprop`][minifw.nn.backprop.Backprop].

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
from collections.abc import Mapping, MutableMapping
from typing import Any, Protocol, final, runtime_checkable

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw._validation import check_params
from minifw.errors import NotSupportedError, ValidationError
from minifw.nn.labels import class_indices
from minifw.nn.losses.loss import Loss
from minifw.nn.penalty import Penalty
from minifw.numdiff.objective import Objective
from minifw.numdiff.perturbation import Perturbation
from minifw.typing import AnyArray, ArrayLike, FloatArray, IntArray

__all__ = ["HasBackprop", "Model", "ModelObjective", "analytic_gradient", "model_objective"]


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

    params: MutableMapping[str, FloatArray] = attrs.field(factory=dict, init=False, repr=False)

    @abc.abstractmethod
    def predict(self, x: ArrayLike) -> FloatArray:
        """Return the predictions for a batch of inputs `x` (at test time: the book's `train_flg=False`)."""

    def predict_training(self, x: ArrayLike) -> FloatArray:
        """Return the predictions as training sees them (the book's `train_flg=True`).

        The same as [`predict`][minifw.nn.models.Model.predict] unless the model acts differently
        in training (dropout, batch normalization: [`Layered`][minifw.nn.models.Layered] models
        built from such layers).
        """
        return self.predict(x)

    @property
    def penalty(self) -> Penalty | None:
        """A term of the parameters added to the loss (weight decay), or `None` (the default)."""
        return None

    @final
    def loss(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> float:
        r"""Return the scalar training loss: `loss(predict_training(x), t)`, plus the model's `penalty`.

        `loss` must reduce to a scalar. As the book's `loss(x, t)`: in training mode, with its
        weight decay \(\tfrac{1}{2}\lambda\sum W^2\) when the model has one.
        """
        loss.require_scalar()
        value = float(loss(self.predict_training(x), t))
        penalty = self.penalty
        return value if penalty is None else value + penalty.value(self.params)

    @final
    def objective(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> Objective:
        """Return the loss on `(x, t)` as an `Objective` of `params` (one forward pass).

        The parameters are checked first (writeable float64 arrays, not empty, finite);
        the objective is chosen by [`model_objective`][minifw.nn.models.model_objective] for the
        model's class.
        """
        check_params(self.params, name=f"{type(self).__name__} params", why="stepped by a small h in place and restored: convert it with .astype(np.float64)")
        return model_objective(self, x, t, loss)

    @final
    def accuracy(self, x: ArrayLike, t: ArrayLike) -> float:
        """Return the fraction of examples whose highest score is the answer (at test time).

        `t` holds class indices `(N,)` or one-hot rows `(N, K)` (a single 1 in each row, zeros
        elsewhere: an all-zero, nan or doubled row has no answer and is refused). Scores that are
        not finite are refused too: their largest entry means nothing.

        Examples:
            >>> import numpy as np
            >>> from minifw import TwoLayerNet
            >>> TwoLayerNet(input_size=2, hidden_size=2, output_size=3, seed=0).accuracy(
            ...     np.ones((2, 2)), [0, 5])
            Traceback (most recent call last):
            ...
            minifw.errors.ValidationError: t holds class indices and each must be in 0..2 for y with 3 classes, got t[1]=5
            >>> TwoLayerNet(input_size=2, hidden_size=2, output_size=2, seed=0).accuracy(
            ...     np.ones((2, 2)), [[0, 1], [0, 0]])
            Traceback (most recent call last):
            ...
            minifw.errors.ValidationError: t must hold one-hot rows (a single 1, zeros elsewhere) or class indices, got t[1]=[0, 0]

        """
        scores = np.asarray(self.predict(x))
        if scores.ndim != 2 or scores.shape[1] == 0:
            raise ValidationError(
                f"{type(self).__name__}.predict must return scores of shape (batch, classes) to "
                f"be scored, got shape {scores.shape}"
            )
        if scores.dtype.kind not in "fiu" or not np.all(np.isfinite(scores)):
            row = int(np.argwhere(~np.isfinite(scores))[0][0]) if scores.dtype.kind == "f" else 0
            raise ValidationError(
                f"{type(self).__name__}.predict gave scores that are not finite real numbers "
                f"(dtype {scores.dtype}, first bad row {row}): they cannot be ranked; check the "
                "parameters and the inputs"
            )
        n, k = scores.shape
        t_arr = np.asarray(t)
        labels: IntArray
        if t_arr.ndim == 2 and t_arr.shape == scores.shape and t_arr.dtype.kind in "fiub":
            labels = _one_hot_labels(t_arr)
        elif t_arr.ndim == 1 and t_arr.shape[0] == n:
            labels = class_indices(t_arr, k)
        else:
            raise ValidationError(
                f"t must hold one label per prediction ({n},) or one-hot rows {scores.shape}, "
                f"got shape {t_arr.shape}"
            )
        return float(np.mean(scores.argmax(axis=1) == labels))


def _one_hot_labels(t: AnyArray) -> IntArray:
    """Return the class of each one-hot row, or refuse a row that is not one."""
    ones, zeros = t == 1, t == 0
    good = (np.count_nonzero(ones, axis=1) == 1) & np.all(ones | zeros, axis=1)
    if not np.all(good):
        row = int(np.flatnonzero(~good)[0])
        shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in t[row].tolist()[:10])
        more = ", ..." if t.shape[1] > 10 else ""
        raise ValidationError(
            "t must hold one-hot rows (a single 1, zeros elsewhere) or class indices, "
            f"got t[{row}]=[{shown}{more}]"
        )
    labels: IntArray = np.argmax(ones, axis=1).astype(np.intp)
    return labels


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
@attrs.define(eq=False)
class ModelObjective:
    """The loss of any model on one batch, from the predictions of one forward pass.

    [`value`][minifw.nn.models.ModelObjective.value] comes from the predictions it holds;
    [`changes`][minifw.nn.models.ModelObjective.changes] perturb the parameters one coordinate
    at a time and run a full `predict` for every step, as the book does (a
    [`Perturbation`][minifw.Perturbation], made at the first change);
    [`exact_gradients`][minifw.nn.models.ModelObjective.exact_gradients] is the model's own
    `backprop`. `t` holds the prepared `(N, K)` targets, `labels` the targets as given.
    """

    model: Model
    x: AnyArray
    labels: ArrayLike
    loss: Loss
    predictions: FloatArray
    t: FloatArray
    _perturbation: Perturbation | None = attrs.field(default=None, init=False, repr=False)

    @property
    def params(self) -> Mapping[str, FloatArray]:
        """The model's parameter arrays."""
        return self.model.params

    def value(self) -> float:
        """Return the loss of the predictions held (no new forward pass)."""
        return float(self.loss.reduce(self.loss.evaluate(self.predictions, self.t)))

    def changes(self, name: str, index: IntArray, steps: NDArray[Any]) -> NDArray[Any]:
        """Return `L(params + s e_i) - L(params)`: a full `predict` per coordinate and step."""
        if self._perturbation is None:
            model, x, t, loss = self.model, self.x, self.t, self.loss
            self._perturbation = Perturbation(lambda: model.loss(x, t, loss), model.params)
        return self._perturbation.changes(name, index, steps)

    def exact_gradients(self) -> dict[str, FloatArray]:
        """Return the model's `backprop(x, t, loss)`, checked against its parameters."""
        return analytic_gradient(self.model, self.x, self.labels, self.loss)


@functools.singledispatch
def model_objective(model: Model, x: ArrayLike, t: ArrayLike, loss: Loss) -> Objective:
    """Return the objective of `loss` on `(x, t)` for `model`, chosen by its class.

    The default is a [`ModelObjective`][minifw.nn.models.ModelObjective] (the book's method, and
    the model's own backprop). Layered models register
    [`LayeredObjective`][minifw.nn.layered.LayeredObjective]; register your own with
    `@model_objective.register`. The parameters are not checked here
    ([`Model.objective`][minifw.nn.models.Model.objective] does).
    """
    x_arr = np.asarray(x)
    loss.require_scalar()
    y, t_batch = loss.prepare(model.predict(x_arr), t)  # labels checked and expanded once
    return ModelObjective(model, x_arr, t, loss, y, t_batch)
