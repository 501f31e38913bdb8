r"""Batch normalization, the book's `BatchNormalization`: at test time and in training.

Each feature \(j\) (the features of one example, flattened) is normalized and then scaled and
shifted by the parameters \(\gamma_j\), \(\beta_j\):

\[
y_{nj} = \gamma_j\, \frac{x_{nj} - \mu_j}{\sqrt{\sigma_j^2 + \epsilon}} + \beta_j,
\qquad \epsilon = 10^{-6}\ (\text{the book's } 10e\text{-}7).
\]

In training (the book's `train_flg=True`) \(\mu\) and \(\sigma^2\) are the mean and variance of
the batch itself: every row's output depends on every row's input, so the layer is
[row-coupled][minifw.nn.layers.RowCoupled] and its training form
([`TrainingBatchNorm`][minifw.nn.layers.TrainingBatchNorm]) moves the whole batch at once. At test
time ([`BatchNormalization`][minifw.nn.layers.BatchNormalization] itself) they are the running mean
and variance, which each training objective moves once by its batch's statistics with the book's
momentum \(m = 0.9\): \(\bar\mu \leftarrow m\,\bar\mu + (1 - m)\,\mu\), likewise \(\bar\sigma^2\).

Examples:
    >>> import numpy as np
    >>> layer = BatchNormalization(gamma=np.ones(2), beta=np.zeros(2))
    >>> x = np.array([[1.0, 0.0], [3.0, 0.0]])
    >>> layer.training(x).forward(x).round(7).tolist()     # the batch's mean 2, variance 1
    [[-0.9999995, 0.0], [0.9999995, 0.0]]
    >>> layer.observe(x)
    >>> layer.running_mean.tolist(), layer.running_var.round(12).tolist()
    ([0.2, 0.0], [0.1, 0.0])

"""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.errors import ValidationError
from minifw.nn.layered.steps import ScaledUnitSteps, StepMove, UniformUnitSteps
from minifw.nn.layers.arrays import check_layer_array
from minifw.nn.layers.layer import Layer
from minifw.typing import AnyArray, FloatArray, IntArray

__all__ = ["EPSILON", "BatchNormalization", "TrainingBatchNorm"]

EPSILON = 10e-7
"""The offset added to every variance, as the book writes it (\\(10^{-6}\\))."""


def _flat(x: AnyArray) -> AnyArray:
    """Return the features of each example in one axis: `(N, D)` (the book reshapes 4-D inputs so)."""
    return x.reshape(x.shape[0], -1)


def _check_features(layer: str, x: AnyArray, size: int) -> None:
    features = int(np.prod(x.shape[1:])) if x.ndim >= 2 else -1
    if features != size:
        raise ValidationError(
            f"{layer} has {size} features (gamma and beta), got inputs of shape {x.shape}"
        )


@final
@attrs.frozen(eq=False)
class _Statistics:
    """One batch's statistics and its normalized rows, computed as the book computes them."""

    xc: AnyArray
    var: AnyArray
    std: AnyArray
    xn: AnyArray
    mu: AnyArray

    @classmethod
    def of(cls, flat: AnyArray) -> _Statistics:
        mu = flat.mean(axis=0)
        xc = flat - mu
        var = np.mean(xc**2, axis=0)
        std = np.sqrt(var + EPSILON)
        return cls(xc=xc, var=var, std=std, xn=xc / std, mu=mu)


@final
@attrs.define(eq=False)
class TrainingBatchNorm(Layer):
    r"""Batch normalization as it acts in training: by the batch's own mean and variance.

    What [`BatchNormalization.training`][minifw.nn.layers.BatchNormalization.training] returns; it
    shares `gamma` and `beta` with that layer. [Row-coupled][minifw.nn.layers.RowCoupled]: a move of
    the whole batch changes the output by
    \(\gamma\,(\Delta x_c / s' - x_c\,\Delta s / (s\,s'))\) with
    \(\Delta x_c = \Delta x - \overline{\Delta x}\),
    \(\Delta\sigma^2 = \overline{2 x_c \Delta x_c + \Delta x_c^2}\), \(s' = \sqrt{\sigma^2 +
    \Delta\sigma^2 + \epsilon}\) and \(\Delta s = \Delta\sigma^2 / (s + s')\): no difference
    of two outputs. A step of \(\gamma_j\) moves feature \(j\) of every example by \(s\) times its
    normalized value, a step of \(\beta_j\) by \(s\) ([step moves][minifw.nn.layers.HasStepMoves]).

    Examples:
        >>> import numpy as np
        >>> layer = TrainingBatchNorm(gamma=np.ones(1), beta=np.zeros(1))
        >>> x = np.array([[0.0], [2.0]])
        >>> layer.change(x, layer.forward(x), np.array([[1e-9], [0.0]]))[:, 0]  # both rows move
        array([ 4.99999e-16, -4.99999e-16])

    """

    gamma: FloatArray
    beta: FloatArray

    @property
    def params(self) -> dict[str, FloatArray]:
        """`{"gamma": gamma, "beta": beta}` (the arrays of the layer it was made from)."""
        return {"gamma": self.gamma, "beta": self.beta}

    def forward(self, x: AnyArray) -> AnyArray:
        r"""Return \(\gamma\,(x - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta\) with the batch's \(\mu\), \(\sigma^2\)."""
        _check_features("BatchNormalization", x, self.gamma.size)
        stats = _Statistics.of(_flat(x))
        out: AnyArray = self.gamma * stats.xn + self.beta
        return out.reshape(x.shape)

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        r"""Return the book's backward pass through the batch mean and variance.

        With \(g = \gamma\,\delta\): \(\partial L/\partial x_c = g/s + \frac{2}{N} x_c
        \frac{\partial L}{\partial \sigma^2}\), \(\frac{\partial L}{\partial\sigma^2} =
        -\frac{1}{2 s^3}\sum_n g\,x_c\), then the mean's share subtracted;
        \(\nabla\gamma = \sum_n \hat x\,\delta\), \(\nabla\beta = \sum_n \delta\).
        """
        flat_dy = _flat(dy)
        stats = _Statistics.of(_flat(x))
        batch = x.shape[0]
        grad_beta = flat_dy.sum(axis=0)
        grad_gamma = np.sum(stats.xn * flat_dy, axis=0)
        dxn = self.gamma * flat_dy
        dxc = dxn / stats.std
        dstd = -np.sum((dxn * stats.xc) / (stats.std * stats.std), axis=0)
        dvar = 0.5 * dstd / stats.std
        dxc += (2.0 / batch) * stats.xc * dvar
        dmu = np.sum(dxc, axis=0)
        dx = dxc - dmu / batch
        return dx.reshape(x.shape), {"gamma": grad_gamma, "beta": grad_beta}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        """Return the change for one move of the whole batch (`x`, `y`, `dx` of every row)."""
        result: AnyArray = self.batch_change(x, y, dx[None])[0]
        return result

    def batch_change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        """Return the change for `L` moves of the whole batch, `dx` of shape `(L, N, *features)`."""
        stats = _Statistics.of(_flat(x))
        moves = dx.reshape(dx.shape[0], dx.shape[1], -1)
        out = _normalized_change(stats.xc, stats.var, stats.std, self.gamma, moves, axis=1)
        return out.reshape(dx.shape)

    def feature_change(self, x: AnyArray, y: AnyArray, units: IntArray, dx: AnyArray) -> AnyArray:
        r"""Return the change of feature `units[g]` of every row for the column moves `dx` `(G, N)`.

        A column is normalized by its own mean and variance, so a move of one feature moves that
        feature alone ([`Featurewise`][minifw.nn.layers.Featurewise]); the formula of
        [`batch_change`][minifw.nn.layers.TrainingBatchNorm.batch_change], one column at a time.

        Examples:
            >>> import numpy as np
            >>> layer = TrainingBatchNorm(gamma=np.ones(2), beta=np.zeros(2))
            >>> x = np.array([[0.0, 5.0], [2.0, 1.0]])
            >>> layer.feature_change(x, layer.forward(x), np.array([0]), np.array([[1e-9, 0.0]]))
            array([[ 4.99999e-16, -4.99999e-16]])

        """
        stats = _Statistics.of(_flat(x))
        pick = (slice(None), units)
        out: AnyArray = _normalized_change(
            stats.xc[pick].T, stats.var[units, None], stats.std[units, None], self.gamma[units, None], dx, axis=1
        )
        return out

    def rank_one_change(
        self, x: AnyArray, y: AnyArray, v: AnyArray, w: AnyArray
    ) -> tuple[AnyArray, AnyArray, AnyArray, AnyArray]:
        r"""Return \((\bar v, a, \varphi, c)\) of rank-one moves \(v_g \otimes w_g\) ([`RankOneCoupled`][minifw.nn.layers.RankOneCoupled]).

        With \(\Delta\sigma^2_k = (2 w_k\,x_{c,k}\cdot\bar v + w_k^2 \lVert\bar v\rVert^2)/N\) and
        \(s' = \sqrt{s^2 + \Delta\sigma^2}\): \(\varphi = s/s' - 1 = -\Delta\sigma^2 / (s'(s + s'))\),
        \(a = \gamma w / s\), \(c = \gamma x_c / s\).

        Examples:
            >>> import numpy as np
            >>> layer = TrainingBatchNorm(gamma=np.ones(2), beta=np.zeros(2))
            >>> x = np.array([[0.0, 5.0], [2.0, 1.0]])
            >>> v, w = np.array([[1e-6, 0.0]]), np.array([[1.0, 2.0]])
            >>> bar, a, phi, c = layer.rank_one_change(x, layer.forward(x), v, w)
            >>> moved = (1 + phi)[:, None, :] * bar[:, :, None] * a[:, None, :] + phi[:, None, :] * c
            >>> bool(np.allclose(moved[0], layer.batch_change(x, layer.forward(x), (v[:, :, None] * w[:, None, :]))[0], rtol=1e-9, atol=0))
            True

        """
        stats = _Statistics.of(_flat(x))
        batch = x.shape[0]
        bar = v - v.mean(axis=1, keepdims=True)
        along = bar @ stats.xc  # (G, F): the centred input's columns against each move
        dvar = (2.0 * w * along + w * w * np.sum(bar * bar, axis=1, keepdims=True)) / batch
        moved_std = np.sqrt(stats.var + dvar + EPSILON)
        phi: AnyArray = -dvar / (moved_std * (stats.std + moved_std))
        frozen: AnyArray = self.gamma * w / stats.std
        base: AnyArray = self.gamma * stats.xn
        return bar, frozen, phi, base

    def step_moves(self, x: AnyArray) -> Mapping[str, StepMove]:
        r"""\(\gamma_j\): feature \(j\) of example \(n\) by \(s\,\hat x_{nj}\); \(\beta_j\): by \(s\)."""
        features = np.arange(self.gamma.size)
        normalized = np.ascontiguousarray(_Statistics.of(_flat(x)).xn)
        return {
            "gamma": ScaledUnitSteps(units=features, factor=normalized, inputs=features),
            "beta": UniformUnitSteps(units=features, examples=x.shape[0]),
        }


def _zeros_like_gamma(instance: BatchNormalization) -> FloatArray:
    return np.zeros(np.shape(instance.gamma))


@final
@attrs.define(eq=False)
class BatchNormalization(Layer):
    r"""The book's `BatchNormalization(gamma, beta, momentum=0.9, running_mean=None, running_var=None)`.

    This layer is the test-time rule (running statistics); its
    [`training`][minifw.nn.layers.BatchNormalization.training] form normalizes by the batch.
    `gamma` and `beta` have one entry per feature of an example (features flattened, as the book
    does for 4-D inputs); the running mean and variance start at zero, as the book's.

    Examples:
        >>> import numpy as np
        >>> layer = BatchNormalization(gamma=np.array([2.0]), beta=np.array([1.0]))
        >>> layer.forward(np.array([[0.001]])).round(6).tolist()   # running stats 0, 1e-6: 2 * 1 + 1
        [[3.0]]

    """

    gamma: FloatArray = attrs.field()
    beta: FloatArray = attrs.field()
    momentum: float = attrs.field(default=0.9)
    running_mean: FloatArray = attrs.field(
        default=attrs.Factory(_zeros_like_gamma, takes_self=True)
    )
    running_var: FloatArray = attrs.field(
        default=attrs.Factory(_zeros_like_gamma, takes_self=True)
    )

    def __attrs_post_init__(self) -> None:
        for name in ("gamma", "beta", "running_mean", "running_var"):
            check_layer_array("BatchNormalization", name, getattr(self, name), ndim=1)
            if getattr(self, name).shape != self.gamma.shape:
                raise ValidationError(
                    f"BatchNormalization {name} must have the shape of gamma {self.gamma.shape}, "
                    f"got {getattr(self, name).shape}"
                )
        if np.any(self.running_var < 0):
            raise ValidationError("BatchNormalization running_var must not be negative")
        momentum = self.momentum
        if isinstance(momentum, bool) or not isinstance(momentum, float | int) or not 0 <= momentum <= 1:
            raise ValidationError(
                f"BatchNormalization momentum must be a number in [0, 1], got momentum={momentum!r}"
            )

    @property
    def params(self) -> dict[str, FloatArray]:
        """`{"gamma": gamma, "beta": beta}`."""
        return {"gamma": self.gamma, "beta": self.beta}

    def statistics(self) -> dict[str, FloatArray]:
        """Return `{"running_mean": ..., "running_var": ...}`, the live arrays."""
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def training(self, x: AnyArray) -> TrainingBatchNorm:
        """Return the training form, sharing `gamma` and `beta` (it needs nothing of `x`)."""
        return TrainingBatchNorm(gamma=self.gamma, beta=self.beta)

    def observe(self, x: AnyArray) -> None:
        r"""Move the running statistics by the batch's (in place): \(m\,\bar\mu + (1 - m)\,\mu\)."""
        _check_features("BatchNormalization", x, self.gamma.size)
        stats = _Statistics.of(_flat(x))
        self.running_mean[...] = self.momentum * self.running_mean + (1 - self.momentum) * stats.mu
        self.running_var[...] = self.momentum * self.running_var + (1 - self.momentum) * stats.var

    def forward(self, x: AnyArray) -> AnyArray:
        r"""Return \(\gamma\,(x - \bar\mu)/\sqrt{\bar\sigma^2 + \epsilon} + \beta\) (running statistics)."""
        _check_features("BatchNormalization", x, self.gamma.size)
        xn = (_flat(x) - self.running_mean) / (np.sqrt(self.running_var + EPSILON))
        out: AnyArray = self.gamma * xn + self.beta
        return out.reshape(x.shape)

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        r"""\(\partial L/\partial x = \gamma\,\delta/\sqrt{\bar\sigma^2 + \epsilon}\), \(\nabla\gamma = \sum_n \hat x\,\delta\), \(\nabla\beta = \sum_n \delta\)."""
        flat_dy = _flat(dy)
        std = np.sqrt(self.running_var + EPSILON)
        xn = (_flat(x) - self.running_mean) / std
        dx = (self.gamma * flat_dy / std).reshape(x.shape)
        return dx, {"gamma": np.sum(xn * flat_dy, axis=0), "beta": flat_dy.sum(axis=0)}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""\(\gamma\,\Delta x / \sqrt{\bar\sigma^2 + \epsilon}\) (exact: at test time the layer is affine)."""
        return self._scaled(dx, x.ndim - 1)

    def series_change(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        """Each coefficient scaled (valid everywhere)."""
        return self._scaled(dx, x.ndim - 1), np.ones(dx.shape[1], dtype=bool)

    def _scaled(self, dx: AnyArray, feature_axes: int) -> AnyArray:
        """`dx` (leading axes, then `feature_axes` of one example) times gamma over the running std."""
        lead = dx.shape[: dx.ndim - feature_axes]
        scale = self.gamma / np.sqrt(self.running_var + EPSILON)
        result: AnyArray = (dx.reshape(*lead, -1) * scale).reshape(dx.shape)
        return result


def _normalized_change(
    xc: AnyArray, var: AnyArray, std: AnyArray, gamma: AnyArray, moves: AnyArray, *, axis: int
) -> AnyArray:
    r"""Return \(\gamma\,(\Delta x_c / s' - x_c\,\Delta s / (s\,s'))\) for moves along the batch's `axis`.

    `xc` is the centred input, `var` and `std` its variance and \(s = \sqrt{\sigma^2 + \epsilon}\),
    broadcast against `moves`; the mean and variance of the moved batch are taken along `axis`.
    """
    dxc = moves - moves.mean(axis=axis, keepdims=True)
    dvar = np.mean(2.0 * xc * dxc + dxc * dxc, axis=axis, keepdims=True)
    moved_std = np.sqrt(var + dvar + EPSILON)
    dstd = dvar / (std + moved_std)
    out: AnyArray = gamma * (dxc / moved_std - xc * dstd / (std * moved_std))
    return out
