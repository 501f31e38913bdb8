r"""Models: named parameter arrays and a prediction.

A :class:`Model` holds its parameters in ``params`` (a dict of float64 arrays, updated in place by
training) and maps inputs to predictions with :meth:`~Model.predict`. Numerical gradients reach a
model through :meth:`~Model.objective`: the default perturbs parameters one coordinate at a time,
and a model that knows its structure returns a faster :class:`~minifw.Objective` of its own, as
:class:`TwoLayerNet` does.

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
from collections.abc import Callable, Mapping
from typing import final

import attrs
import numpy as np

from minifw._validation import positive_float, positive_int, to_float
from minifw.differentiation import Objective, Perturbation
from minifw.errors import NotSupportedError, ValidationError
from minifw.losses import Loss
from minifw.typing import ArrayLike, FloatArray, IntArray

__all__ = ["Backprop", "Model", "TwoLayerNet", "TwoLayerNetObjective", "sigmoid", "softmax"]

#: Largest number of float64 elements in one scratch array of the fast objective (8 MiB each).
ELEMENT_BUDGET = 1 << 20
#: Elements per piece of the innermost loop: small enough that its arrays stay in the CPU cache.
PIECE = 1 << 18


def sigmoid(a: ArrayLike) -> FloatArray:
    r"""Return :math:`\sigma(a) = 1 / (1 + e^{-a})`, elementwise, without overflow.

    >>> sigmoid([-1000.0, 0.0, 1000.0])
    array([0. , 0.5, 1. ])
    """
    arr = np.asarray(a, dtype=np.float64)
    e = np.exp(-np.abs(arr))  # never overflows: the exponent is <= 0
    result: FloatArray = np.where(arr >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return result


def softmax(a: ArrayLike) -> FloatArray:
    r"""Return :math:`y_k = e^{a_k} / \sum_m e^{a_m}` along the last axis, without overflow.

    The largest score is subtracted first, which changes nothing mathematically.

    >>> softmax([1010.0, 1000.0, 990.0]).round(6).tolist()
    [0.999955, 4.5e-05, 0.0]
    """
    arr = np.asarray(a, dtype=np.float64)
    e = np.exp(arr - arr.max(axis=-1, keepdims=True))
    result: FloatArray = e / e.sum(axis=-1, keepdims=True)
    return result


@attrs.define(eq=False)
class Model(abc.ABC):
    """Parameters by name and a prediction; subclass to define a network.

    Subclasses fill ``params`` (float64 arrays, updated in place by training) and implement
    :meth:`predict`. They may also provide :meth:`backprop` (the analytic gradient, for checking)
    and a faster :meth:`objective`.

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
        """Return the predictions for a batch of inputs ``x``."""

    def loss(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> float:
        """Return the scalar ``loss(predict(x), t)``; ``loss`` must reduce to a scalar."""
        loss.weight(1)  # raises for reduction="none"
        return float(loss(self.predict(x), t))

    def objective(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> Objective:
        """Return the loss on ``(x, t)`` as an :class:`~minifw.Objective` of ``params``.

        The default perturbs the parameter arrays in place, one coordinate at a time, and runs a
        full :meth:`predict` for every step (the book's method). Override to answer faster.
        """
        x_arr = np.asarray(x)
        loss.weight(1)  # a scalar loss is needed: raises for reduction="none"
        t_batch = loss.prepare(self.predict(x_arr), t)[1]  # labels checked and expanded once
        return Perturbation(lambda: self.loss(x_arr, t_batch, loss), self.params)

    def backprop(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> dict[str, FloatArray]:
        """Return the analytic gradient of ``loss(predict(x), t)`` for each parameter (optional).

        The default raises :class:`~minifw.errors.NotSupportedError`.
        """
        raise NotSupportedError(f"{type(self).__name__} has no analytic gradient (backprop)")

    def accuracy(self, x: ArrayLike, t: ArrayLike) -> float:
        """Return the fraction of examples whose highest score is the answer.

        ``t`` holds class indices ``(N,)`` or one-hot rows ``(N, K)``.
        """
        scores = self.predict(x)
        t_arr = np.asarray(t)
        labels = t_arr.argmax(axis=1) if t_arr.ndim == 2 else t_arr
        if labels.shape != scores.shape[:1]:
            raise ValidationError(
                f"t must hold one label per prediction ({scores.shape[0]}), got shape {t_arr.shape}"
            )
        return float(np.mean(scores.argmax(axis=1) == labels))


@final
@attrs.frozen
class Backprop:
    """Analytic gradients from the model's :meth:`~Model.backprop`, where a Differentiator goes.

    A :class:`~minifw.Trainer` asks its ``differentiator`` for ``model_gradients``; passing
    ``Backprop()`` instead of a finite-difference scheme trains with the exact gradient, which is
    how the book's chapter 5 trains, and a fair baseline for numerical training.

    >>> import numpy as np
    >>> from minifw import CrossEntropy, TwoLayerNet
    >>> net = TwoLayerNet(input_size=2, hidden_size=2, output_size=2, seed=0)
    >>> grads = Backprop().model_gradients(net, np.ones((1, 2)), [1], CrossEntropy())
    >>> sorted(grads)
    ['W1', 'W2', 'b1', 'b2']
    """

    def model_gradients(
        self, model: Model, x: ArrayLike, t: ArrayLike, loss: Loss
    ) -> dict[str, FloatArray]:
        """Return ``model.backprop(x, t, loss)``."""
        return model.backprop(x, t, loss)


@final
@attrs.define(eq=False)
class TwoLayerNet(Model):
    r"""The book's network: affine, sigmoid, affine, softmax.

    .. math::

        a_1 = x W_1 + b_1,\quad z = \sigma(a_1),\quad a_2 = z W_2 + b_2,\quad
        y = \operatorname{softmax}(a_2)

    Weights start as ``weight_init_std`` times standard normal draws from
    ``numpy.random.default_rng(seed)``, biases at zero. :meth:`backprop` gives the exact gradient
    of the loss as computed; :meth:`objective` gives numerical gradients that touch only what a
    coordinate changes (see :class:`TwoLayerNetObjective`).

    >>> from minifw import CentralDiff, CrossEntropy
    >>> net = TwoLayerNet(input_size=3, hidden_size=4, output_size=2, seed=1)
    >>> x, t = np.array([[0.0, 0.5, 1.0]]), np.array([1])
    >>> num = CentralDiff().gradients(net.objective(x, t, CrossEntropy()))
    >>> ana = net.backprop(x, t, CrossEntropy())
    >>> all(np.allclose(num[k], ana[k], rtol=0, atol=1e-10) for k in net.params)
    True
    """

    input_size: int = attrs.field(default=784, validator=positive_int)
    hidden_size: int = attrs.field(default=50, validator=positive_int)
    output_size: int = attrs.field(default=10, validator=positive_int)
    weight_init_std: float = attrs.field(default=0.01, converter=to_float, validator=positive_float)
    seed: int | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        std = float(self.weight_init_std)
        self.params = {
            "W1": std * rng.standard_normal((self.input_size, self.hidden_size)),
            "b1": np.zeros(self.hidden_size),
            "W2": std * rng.standard_normal((self.hidden_size, self.output_size)),
            "b2": np.zeros(self.output_size),
        }

    def predict(self, x: ArrayLike) -> FloatArray:
        """Return softmax probabilities ``(N, output_size)`` for inputs ``(N, input_size)``."""
        return self.forward(x)[-1]

    def forward(self, x: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Return every intermediate of a forward pass: ``(a1, z, a2, y)``."""
        x_arr = self._inputs(x)
        p = self.params
        a1 = x_arr @ p["W1"] + p["b1"]
        z = sigmoid(a1)
        a2 = z @ p["W2"] + p["b2"]
        return a1, z, a2, softmax(a2)

    def backprop(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> dict[str, FloatArray]:
        r"""Return the exact gradient of ``loss(predict(x), t)`` by backpropagation.

        With :math:`G = w\,\partial\ell/\partial y` (``w`` the reduction's weight),
        :math:`\delta_2 = y \odot (G - \langle G, y\rangle)` (softmax),
        :math:`\nabla W_2 = z^\top \delta_2`, :math:`\delta_1 = (\delta_2 W_2^\top) \odot
        z(1 - z)`, :math:`\nabla W_1 = x^\top \delta_1`; biases take column sums.
        """
        x_arr = self._inputs(x)
        _, z, _, y = self.forward(x_arr)
        y_batch, t_batch = loss.prepare(y, t)
        g = loss.weight(y_batch.shape[0]) * loss.per_example_grad(y_batch, t_batch)
        d2 = y * (g - np.sum(g * y, axis=1, keepdims=True))
        d1 = (d2 @ self.params["W2"].T) * z * (1.0 - z)
        return {"W1": x_arr.T @ d1, "b1": d1.sum(axis=0), "W2": z.T @ d2, "b2": d2.sum(axis=0)}

    def objective(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> TwoLayerNetObjective:
        """Return the fast :class:`TwoLayerNetObjective` of the loss on ``(x, t)``."""
        x_arr = self._inputs(x)
        a1, z, _, y = self.forward(x_arr)
        y_batch, t_batch = loss.prepare(y, t)
        return TwoLayerNetObjective(net=self, loss=loss, x=x_arr, t=t_batch, a1=a1, z=z, y=y_batch)

    def _inputs(self, x: ArrayLike) -> FloatArray:
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.input_size:
            raise ValidationError(
                f"x must have shape (batch, {self.input_size}) for this TwoLayerNet, "
                f"got shape {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise ValidationError("x must hold at least one example, got shape (0, ...)")
        return arr


def _sigmoid_change(a: FloatArray, z: FloatArray, d: FloatArray) -> FloatArray:
    r"""Return :math:`\sigma(a + d) - \sigma(a)` without cancellation.

    :math:`\sigma(a+d) - \sigma(a) = \sigma(a+d)\,(1 - \sigma(a))\,(1 - e^{-d})`, with
    ``z = sigmoid(a)`` given.
    """
    result: FloatArray = sigmoid(a + d) * (1.0 - z) * -np.expm1(-d)
    return result


#: Score shifts up to this size take the precise expm1 route; larger ones the overflow-safe one.
_SMALL_SHIFT = 30.0


def _softmax_loss_change(
    loss: Loss, y: FloatArray, t: FloatArray, shift: FloatArray, bound: float
) -> FloatArray:
    r"""Return each example's loss change when its softmax scores shift.

    ``y`` and ``t`` are ``(R, K)``; ``shift`` holds ``M`` score shifts per row laid out as
    ``(R, K, M)`` (so that the innermost loops run over ``M``) and is overwritten; ``bound`` is
    at least ``max(abs(shift))``. Returns ``(R, M)``. Small shifts go through
    :meth:`~minifw.Loss.per_example_softmax_change` with :math:`e = \operatorname{expm1}(\delta)`,
    which keeps the relative precision of tiny changes; large ones through
    :meth:`~minifw.Loss.per_example_change` with probabilities from a shifted exponential.
    """
    if bound <= _SMALL_SHIFT:
        e = np.expm1(shift, out=shift)
        s = np.matmul(y[:, None, :], e)[:, 0, :]
        return loss.per_example_softmax_change(y, e.transpose(0, 2, 1), s, t)
    moved = shift.transpose(0, 2, 1)
    w = y[:, None, :] * np.exp(moved - moved.max(axis=2, keepdims=True))
    dy = w / w.sum(axis=2, keepdims=True) - y[:, None, :]
    return loss.per_example_change(y, dy, t)


@final
@attrs.define(eq=False)
class TwoLayerNetObjective:
    r"""The loss of a :class:`TwoLayerNet` on one batch, answering loss changes in bulk.

    Moving one parameter changes little of the forward pass, and only that part is recomputed:

    - ``b2[k]`` or ``W2[j, k]`` shifts the score :math:`a_{2,nk}` by :math:`s` or
      :math:`s\,z_{nj}`;
    - ``b1[j]`` or ``W1[i, j]`` shifts :math:`a_{1,nj}` by :math:`s` or :math:`s\,x_{ni}`, hence
      :math:`z_{nj}` by :math:`\Delta z` and the scores by :math:`\Delta z\,W_{2,j\cdot}`. Only
      examples with :math:`x_{ni} \ne 0` move at all (most MNIST pixels are zero), and examples
      whose pixel ``i`` has the same value move the same way for a given ``j``, so the work is
      done once per distinct (example, pixel value).

    Each affected example's new probabilities are formed from the score shift
    (see ``_softmax_loss_change``), and the loss's own
    :meth:`~minifw.Loss.per_example_change` turns them into the change of its loss. The changes
    are summed per coordinate and weighted by the reduction. Work is split into pieces of at
    most ``ELEMENT_BUDGET`` elements, so scratch memory stays bounded whatever the model size.
    """

    net: TwoLayerNet
    loss: Loss
    x: FloatArray
    t: FloatArray
    a1: FloatArray
    z: FloatArray
    y: FloatArray
    weight: float = attrs.field(init=False)
    _csc: tuple[IntArray, IntArray] | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self.weight = self.loss.weight(self.x.shape[0])

    @property
    def params(self) -> Mapping[str, FloatArray]:
        """The network's parameter arrays."""
        return self.net.params

    def value(self) -> float:
        """Return the loss at the unperturbed parameters."""
        return float(self.weight * np.sum(self.loss.per_example(self.y, self.t)))

    def loss_changes(self, name: str, index: IntArray, steps: FloatArray) -> FloatArray:
        """Return ``L(params + s e_i) - L(params)`` for flat indices of ``params[name]``."""
        handlers: dict[str, Callable[[IntArray, float], FloatArray]] = {
            "b2": self._b2,
            "W2": self._w2,
            "b1": self._b1,
            "W1": self._w1,
        }
        if name not in handlers:
            raise ValidationError(f"name must be one of {sorted(handlers)}, got name={name!r}")
        out = np.empty((index.size, steps.size))
        for m, step in enumerate(steps):
            out[:, m] = self.weight * handlers[name](index, float(step))
        return out

    # Each handler returns the summed per-example loss change of every coordinate in `index`.
    # Score shifts are laid out (examples, classes, coordinates).

    def _b2(self, index: IntArray, step: float) -> FloatArray:
        def shift(coords: IntArray) -> FloatArray:
            out = np.zeros((self.y.shape[0], self.y.shape[1], coords.size))
            out[:, coords, np.arange(coords.size)] = step
            return out

        return self._every_example(index, shift)

    def _w2(self, index: IntArray, step: float) -> FloatArray:
        def shift(coords: IntArray) -> FloatArray:
            hidden, col = np.divmod(coords, self.y.shape[1])
            out = np.zeros((self.y.shape[0], self.y.shape[1], coords.size))
            out[:, col, np.arange(coords.size)] = step * self.z[:, hidden]
            return out

        return self._every_example(index, shift)

    def _b1(self, index: IntArray, step: float) -> FloatArray:
        w2 = self.net.params["W2"]

        def shift(coords: IntArray) -> FloatArray:
            dz = _sigmoid_change(self.a1[:, coords], self.z[:, coords], np.asarray(step))
            result: FloatArray = dz[:, None, :] * w2[coords].T[None, :, :]
            return result

        return self._every_example(index, shift)

    def _every_example(
        self, index: IntArray, shift: Callable[[IntArray], FloatArray]
    ) -> FloatArray:
        """Sum the changes of all examples for coordinates whose shift reaches every example.

        ``shift(coords)`` returns the score shifts, shape ``(examples, classes, coords)``.
        """
        n, k = self.y.shape
        per_block = max(1, PIECE // (n * k))
        total = np.empty(index.size)
        for start in range(0, index.size, per_block):
            coords = index[start : start + per_block]
            moves = shift(coords)
            bound = float(np.max(np.abs(moves), initial=0.0))
            changes = _softmax_loss_change(self.loss, self.y, self.t, moves, bound)
            total[start : start + coords.size] = changes.sum(axis=0)
        return total

    def _w1(self, index: IntArray, step: float) -> FloatArray:
        hidden_size = self.net.hidden_size
        pixel, hidden = np.divmod(index, hidden_size)
        pixels = np.unique(pixel)
        ptr, examples = self._nonzero_by_pixel()
        counts = ptr[pixels + 1] - ptr[pixels]
        per_pixel = np.zeros((pixels.size, hidden_size))
        # Blocks of pixels with a bounded number of (pixel, example) pairs between them.
        budget = max(1, ELEMENT_BUDGET // hidden_size)
        start = 0
        while start < pixels.size:
            stop = start + max(1, int(np.searchsorted(np.cumsum(counts[start:]), budget, "right")))
            per_pixel[start:stop] = self._w1_block(pixels[start:stop], step, ptr, examples)
            start = stop
        return per_pixel[np.searchsorted(pixels, pixel), hidden]

    def _w1_block(
        self, pixels: IntArray, step: float, ptr: IntArray, examples: IntArray
    ) -> FloatArray:
        """Return the summed loss changes of ``W1[i, :]`` for each pixel in ``pixels``: (P, H)."""
        hidden_size = self.net.hidden_size
        counts = ptr[pixels + 1] - ptr[pixels]
        out = np.zeros((pixels.size, hidden_size))
        if counts.sum() == 0:
            return out  # pixels that are zero in every example: the loss cannot move
        pix_pos = np.repeat(np.arange(pixels.size), counts)
        offsets = np.arange(pix_pos.size) - np.repeat(np.cumsum(counts) - counts, counts)
        example = examples[np.repeat(ptr[pixels], counts) + offsets]
        values = self.x[example, pixels[pix_pos]]
        # Within one example, pixels of equal value move the hidden layer identically: work once
        # per distinct (example, value) group.
        _, value_code = np.unique(values, return_inverse=True)
        key = example * (int(value_code.max()) + 1) + value_code
        _, first, group_of = np.unique(key, return_index=True, return_inverse=True)
        g_example, g_value = example[first], values[first]
        table = np.empty((first.size, hidden_size))
        w2_t = np.ascontiguousarray(self.net.params["W2"].T)
        w2_max = float(np.max(np.abs(w2_t), initial=0.0))
        per_piece = max(1, PIECE // w2_t.size)
        buffer = np.empty((min(per_piece, first.size), *w2_t.shape))
        for lo in range(0, first.size, per_piece):
            ex = g_example[lo : lo + per_piece]
            moved = (step * g_value[lo : lo + per_piece])[:, None]
            dz = _sigmoid_change(self.a1[ex], self.z[ex], moved)
            shift = np.multiply(dz[:, None, :], w2_t[None, :, :], out=buffer[: ex.size])
            bound = float(np.max(np.abs(dz), initial=0.0)) * w2_max
            table[lo : lo + ex.size] = _softmax_loss_change(
                self.loss, self.y[ex], self.t[ex], shift, bound
            )
        # Pairs are sorted by pixel: sum each pixel's run of rows.
        nonempty = counts > 0
        run_starts = (np.cumsum(counts) - counts)[nonempty]
        out[nonempty] = np.add.reduceat(table[group_of], run_starts, axis=0)
        return out

    def _nonzero_by_pixel(self) -> tuple[IntArray, IntArray]:
        """Return ``(ptr, examples)``: pixel ``i`` is nonzero in ``examples[ptr[i]:ptr[i + 1]]``.

        Computed once per objective.
        """
        if self._csc is None:
            pixel, example = np.nonzero(self.x.T)
            ptr = np.searchsorted(pixel, np.arange(self.x.shape[1] + 1)).astype(np.intp)
            self._csc = (ptr, example.astype(np.intp))
        return self._csc
