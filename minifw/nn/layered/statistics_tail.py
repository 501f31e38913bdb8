r"""The layers after the last batch normalization, as the statistics route sees them: linear up to the head.

Past the last [row-coupled][minifw.nn.layers.RowCoupled] layer every example is on its own. When
the layers there are [piecewise linear][minifw.nn.layers.PiecewiseLinear] elementwise layers (ReLU,
a dropout mask), then one [linear][minifw.nn.layers.Linear] layer, then the last layer (softmax),
example \(n\)'s loss change for a move \(\Delta z_n\) of the coupled layer's output is

\[
G_n(\Delta z_n) = H_n\Big(\sum_k \Delta z_{nk}\, M_{nk}\Big), \qquad M_{nk} = \sigma_{nk}\, W_k,
\]

as long as no move crosses a kink (`reach`): \(\sigma_{nk}\) is the product of the elementwise
slopes, \(W_k\) the linear layer's image of unit \(k\), and \(H_n\) the change of example
\(n\)'s loss across the last layer for a move of its input (the scores). A
[`Tail`][minifw.nn.layered.statistics_tail.Tail] holds \(\sigma\), the reach, \(W\) and the
derivatives of \(H_n\) the route needs, all from the layers' and the loss's own series rules:

- the series of \(H_n(r\,u)\) in \(r\) along given score directions \(u\)
  ([`series_along`][minifw.nn.layered.statistics_tail.Tail.series_along]);
- the series of its gradient, \(\nabla H_n(r\,u) = \sum_q r^q \gamma_q\)
  ([`gradient_series`][minifw.nn.layered.statistics_tail.Tail.gradient_series]), and its
  Hessian at 0 ([`hessian`][minifw.nn.layered.statistics_tail.Tail.hessian]). Both come from the
  same series along *complex* directions \(u + i\tau e_c\): the coefficient of \(r^{q+1}\) is
  \(\tfrac{1}{(q+1)!} D^{q+1}H[(u + i\tau e_c)^{q+1}]\), whose imaginary part over \(\tau\) is
  exactly \(\gamma_{q,c}\) (a complex step in the direction, exact for a polynomial in \(\tau\)).
"""

from __future__ import annotations

import math
from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.nn.capability import declares
from minifw.nn.layered.moves import Network
from minifw.nn.layered.series import converged
from minifw.nn.layers.layer import Linear, PerExample, PiecewiseLinear, RowCoupled, SeriesLayer
from minifw.typing import AnyArray, FloatArray

__all__ = ["TAU", "Tail"]

Mask = NDArray[np.bool_]

TAU = 2.0**-200
"""The imaginary part of the complex directions (any tiny number: the result is exact in it)."""


@final
@attrs.define(eq=False)
class Tail:
    r"""The layers from `start` on, linear per example up to the head (see the module text).

    `slope` and `reach` are `(N, F)` over the features of the coupled layer's output, `images`
    `(F, K)` the linear layer's image of each of them (\(K\) scores).
    """

    net: Network
    start: int
    slope: FloatArray
    reach: FloatArray
    images: FloatArray
    _hessian: AnyArray | None = attrs.field(default=None, init=False, repr=False)

    @classmethod
    def of(cls, net: Network, start: int) -> Tail | None:
        """Return the tail of the layers from `start` on, or `None` where they are not of that form."""
        layers = net.layers[start:]
        if (
            len(layers) < 2
            or not declares(layers[-2], Linear)
            or not declares(layers[-1], SeriesLayer)
        ):
            return None
        if any(declares(layer, RowCoupled) for layer in layers):
            return None
        elementwise = layers[:-2]
        if not all(declares(layer, PiecewiseLinear) for layer in elementwise):
            return None
        probe = np.zeros((1, 1, net.t.shape[1]))
        if net.loss.series(net.acts[-1][:1], net.t[:1], probe, np.zeros(1)) is None:
            return None
        x = net.acts[start]
        examples, features = x.shape[0], math.prod(x.shape[1:])
        slope, reach = np.ones((examples, features)), np.full((examples, features), np.inf)
        for m, layer in enumerate(elementwise, start=start):
            assert declares(layer, PiecewiseLinear)
            here, far = layer.linear_reach(net.acts[m], net.acts[m + 1])
            # The layer sees the move scaled by the slopes before it.
            with np.errstate(divide="ignore"):
                reach = np.minimum(reach, np.reshape(far, reach.shape) / np.abs(slope))
            slope = slope * np.reshape(here, slope.shape)
        linear = layers[-2]
        assert declares(linear, Linear)
        images = np.asarray(linear.unit_images(np.arange(features)), dtype=np.float64)
        return cls(net, start, slope, reach, images.reshape(features, -1))

    @property
    def head(self) -> int:
        """The index of the last layer."""
        return len(self.net.layers) - 1

    def scores(self, a: AnyArray) -> AnyArray:
        r"""Return \(u_{gn} = \sum_k a_{gk} M_{nk}\): the score move of every example per unit move `a[g]`: `(G, N, K)`."""
        moved: AnyArray = (a[:, None, :] * self.slope[None]) @ self.images
        return moved

    def series_along(self, u: AnyArray, order: int, reach: AnyArray) -> tuple[AnyArray, Mask]:
        r"""Return the series of \(H_n(r\,u_{gn})\) in \(r\), `(order, G, N)`, and where it is trusted for \(|r| \le\) `reach` `(G, N)`."""
        groups, examples, _ = u.shape
        series, ok = self._head(u.reshape(groups * examples, -1), order, reach.reshape(-1))
        return series.reshape(order, groups, examples), ok.reshape(groups, examples)

    def gradient_series(self, u: AnyArray, order: int) -> AnyArray:
        r"""Return \(\gamma_q\), `q = 0..order-1`, of \(\nabla H_n(r\,u_{gn}) = \sum_q r^q \gamma_q\): `(order, G, N, K)`."""
        groups, examples, classes = u.shape
        directions = (
            np.repeat(u[:, None], classes, axis=1) + 1j * TAU * np.eye(classes)[None, :, None, :]
        )
        # The coefficient of r^(q + 1) along u + i tau e_c holds gamma_q[c] in its imaginary part.
        series, _ = self._head(
            directions.reshape(-1, classes), order, np.zeros(groups * classes * examples)
        )
        gamma = series.imag.reshape(order, groups, classes, examples) / TAU
        result: AnyArray = gamma.transpose(0, 1, 3, 2)
        return result

    def hessian(self) -> AnyArray:
        r"""Return \(\nabla^2 H_n(0)\) of every example: `(N, K, K)` (from complex directions \(e_c + i\tau e_d\))."""
        if self._hessian is None:
            examples = self.net.acts[0].shape[0]
            classes = self.images.shape[1]
            eye = np.eye(classes)
            directions = eye[:, None, None, :] + 1j * TAU * eye[None, :, None, :]  # (c, d, 1, K)
            directions = np.broadcast_to(directions, (classes, classes, examples, classes))
            series, _ = self._head(
                directions.reshape(-1, classes), 2, np.zeros(directions.size // classes)
            )
            found = series[1].imag.reshape(classes, classes, examples) / TAU
            self._hessian = found.transpose(2, 0, 1)
        return self._hessian

    def _head(self, directions: AnyArray, order: int, reach: AnyArray) -> tuple[AnyArray, Mask]:
        """Return the loss series across the last layer for score moves `r * directions` (lane `b`: example `b % N`)."""
        net = self.net
        head = self.head
        examples = net.acts[0].shape[0]
        lanes = directions.shape[0]
        rows = np.tile(np.arange(examples), lanes // examples)
        data = np.zeros((order, lanes, directions.shape[1]), dtype=directions.dtype)
        data[0] = directions
        layer = net.layers[head]
        here = layer.for_rows(rows) if declares(layer, PerExample) else layer
        assert declares(here, SeriesLayer)
        moved, ok = here.series_change(net.acts[head][rows], net.acts[head + 1][rows], data, reach)
        found = net.loss.series(net.acts[-1][rows], net.t[rows], moved, reach)
        assert found is not None  # checked by `of`
        series, ok_loss = found
        trusted: Mask = ok & ok_loss & converged(series, reach)
        return series, trusted
