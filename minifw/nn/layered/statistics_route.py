r"""The statistics route: steps before two batch normalizations, expanded in the change of the last one's scale.

A step of a weight before the first batch normalization (\(W_1\) of the book's
`MultiLayerNetExtend`) moves one unit in every row; past the next fully connected layer that is a
rank-one move \(v \otimes w\) of the whole batch into the last batch normalization, which
([`RankOneCoupled`][minifw.nn.layers.RankOneCoupled]) moves its output by
\(\Delta z_{nk} = (1 + \varphi_k)\,\bar v_n a_k + \varphi_k c_{nk}\). Past it, each example's loss
change is \(G_n(\Delta z_n) = H_n(\sum_k \Delta z_{nk} M_{nk})\) up to the kinks
([`Tail`][minifw.nn.layered.statistics_tail.Tail]). Writing \(\tilde z_n = \bar v_n a\) (the move
with frozen statistics) and \(\zeta_{nk} = (\bar v_n a_k + c_{nk})\varphi_k\), the route sums

\[
\sum_n G_n(\tilde z_n + \zeta_n) \approx
\underbrace{\sum_n H_n(\bar v_n u_n)}_{\text{series in } \bar v_n}
+ \underbrace{\sum_n \nabla G_n(\tilde z_n)\cdot\zeta_n}_{\varphi\,\cdot\,\sum_r (\bar v^r)^\top Y_r}
+ \underbrace{\tfrac12\,\varphi^\top Q_0\,\varphi}_{\text{fixed } F\times F},
\]

with \(u_n = \sum_k a_k M_{nk}\), \(Y_r\) from the series of \(\nabla H_n(r\,u_n)\) and \(Q_0 =
\sum_n \operatorname{diag}(c_n) M_n \nabla^2 H_n(0) M_n^\top \operatorname{diag}(c_n)\): matrix
products of each lane's \(\bar v\) (one vector of the batch) and \(\varphi\) (one per feature)
with matrices computed once per unit, instead of a dense move of the whole batch per lane. The
neglected terms (third order in \(\varphi\), the truncated series, the quadratic term's
dependence on \(\bar v\)) are estimated per lane from bounds on the softmax-like head
(\(|D^3 H[u, \kappa, \kappa]| \le \operatorname{spread}(u)\, D^2 H[\kappa, \kappa]\)), with a
margin; a lane is trusted where they stay below a quarter of the last bit of the batch's summed
loss, under the rounding any evaluation of the loss carries (so under the per-coordinate loop's
own error). Rows where a move could reach a kink past the coupled layer are replaced by their
exact changes; untrusted lanes take the exact batch route.
"""

from __future__ import annotations

from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw.nn.capability import declares
from minifw.nn.layered import limits
from minifw.nn.layered.column_moves import ColumnMove
from minifw.nn.layered.moves import DenseMove, Network
from minifw.nn.layered.series import converged, order_for
from minifw.nn.layered.statistics_tail import Tail
from minifw.nn.layers.layer import (
    Elementwise,
    Featurewise,
    Linear,
    PerExample,
    RankOneCoupled,
    RowCoupled,
)
from minifw.typing import AnyArray, FloatArray, IntArray

__all__ = ["StatisticsRoute"]

Mask = NDArray[np.bool_]

# Orders of the series of the head's gradient kept (r^0, r^1, r^2), and of the head itself at most.
GRADIENT_ORDERS = 3
# A lane is trusted where its estimated neglected terms are below this fraction of the summed loss.
TOLERANCE = 2.0**-54
# Safety factor on every estimate of a neglected term.
MARGIN = 2.0
# The least reach counted (an input on a kink has reach 0; its inverse stays finite).
KINK_FLOOR = 2.0**-900


@final
@attrs.frozen(eq=False)
class _Fixed:
    """What the route needs of one coupled layer and its tail, for every unit of the linear layer's input."""

    tail: Tail
    a: FloatArray  # (J, F): the frozen move per unit
    c: FloatArray  # (N, F)
    u: FloatArray  # (J, N, K)
    spread: FloatArray  # (J,)
    head: FloatArray  # (P, J, N): the series of H_n(r u_jn)
    head_reach: FloatArray  # (J, N): where that series is trusted
    y: FloatArray  # (GRADIENT_ORDERS, J, N, F)
    q0: FloatArray  # (F, F)
    lambda_d: float
    e_max: float
    d_max: FloatArray  # (J,)
    alpha: FloatArray  # (J, N)
    beta: FloatArray  # (N,)
    tolerance: float


@final
@attrs.define(eq=False)
class StatisticsRoute:
    """The statistics route of one layered objective, along its network."""

    net: Network
    _linear: dict[int, int | None] = attrs.field(factory=dict, init=False)
    _fixed: dict[int, _Fixed] = attrs.field(factory=dict, init=False)

    def linear_layer(self, k: int) -> int | None:
        """Return the linear layer where column moves of layer `k`'s output turn rank one, if the route applies.

        It applies when, after `k`, the move stays a column through featurewise and elementwise
        layers up to a linear layer, right after which comes the last row-coupled layer, rank-one
        coupled, followed by a [tail][minifw.nn.layered.statistics_tail.Tail].
        """
        if k not in self._linear:
            self._linear[k] = self._find(k)
        return self._linear[k]

    def changes(self, linear: int, move: ColumnMove) -> tuple[AnyArray, Mask]:
        """Return each group's summed loss change for the column move `move` of the linear layer's input.

        The second result marks the groups whose value is trusted; the others must take the
        exact route (their values are not meaningful).
        """
        fixed = self._prepared(linear)
        net = self.net
        coupled, layer = net.layers[linear + 1], net.layers[linear]
        assert declares(coupled, RankOneCoupled)
        assert declares(layer, Linear)
        units = move.units
        w = np.asarray(layer.unit_images(units)).reshape(units.size, -1)
        bar, _, phi, _ = coupled.rank_one_change(
            net.acts[linear + 1], net.acts[linear + 2], move.data, w
        )
        groups = units.size
        value = np.zeros(groups)
        bmax = np.max(np.abs(bar), axis=1)
        rho = bmax * fixed.spread[units]
        order = order_for(float(np.max(rho, initial=0.0)))
        if order is None or order > fixed.head.shape[0]:
            return value, np.zeros(groups, dtype=bool)
        # The head along the frozen move: the series of H_n(bar_n u_n).
        powers = np.empty((max(order, GRADIENT_ORDERS - 1), *bar.shape))
        powers[0] = bar
        for p in range(1, powers.shape[0]):
            powers[p] = powers[p - 1] * bar
        head = fixed.head[:order, units]
        value += np.einsum("pgn,pgn->g", head, powers[:order])
        head_ok = converged(head, np.abs(bar)) & (np.abs(bar) <= fixed.head_reach[units])
        # The first order in phi: phi . sum_r (bar^r)^T Y_r, by unit.
        terms = np.zeros((GRADIENT_ORDERS, groups))
        for j in np.unique(units).tolist():
            lanes = np.flatnonzero(units == j)
            terms[0, lanes] = phi[lanes] @ fixed.y[0, j].sum(axis=0)
            for r in range(1, GRADIENT_ORDERS):
                terms[r, lanes] = np.sum(
                    (powers[r - 1, lanes] @ fixed.y[r, j]) * phi[lanes], axis=1
                )
        value += terms.sum(axis=0)
        quad = 0.5 * np.sum((phi @ fixed.q0) * phi, axis=1)
        value += quad
        trusted = self._estimate(fixed, units, bmax, rho, phi, terms, quad) <= fixed.tolerance
        flagged = self._flagged(fixed, units, bar, phi) | ~head_ok
        rows = flagged & trusted[:, None]
        if np.any(rows):
            value += self._row_corrections(fixed, units, bar, phi, powers[:order], rows)
        return value, trusted

    def _estimate(
        self,
        fixed: _Fixed,
        units: IntArray,
        bmax: FloatArray,
        rho: FloatArray,
        phi: FloatArray,
        terms: FloatArray,
        quad: FloatArray,
    ) -> FloatArray:
        """Return each lane's estimate of the neglected terms (see the module text)."""
        size = np.abs(quad)
        norm = np.sqrt(np.sum(phi * phi, axis=1))
        largest = np.max(np.abs(phi), axis=1)
        frozen = bmax * np.max(np.abs(fixed.a[units]), axis=1) * norm
        series = rho * (np.abs(terms[2]) + rho * np.abs(terms[1]) + rho**2 * np.abs(terms[0]))
        shift = rho * size
        cross = frozen * np.sqrt(fixed.lambda_d * 2.0 * size) + frozen**2 * fixed.lambda_d
        cubic = (4.0 / 3.0) * largest * (fixed.e_max + bmax * fixed.d_max[units]) * (size + cross)
        estimate: FloatArray = MARGIN * (series + shift + cross + cubic)
        return estimate

    def _flagged(self, fixed: _Fixed, units: IntArray, bar: AnyArray, phi: AnyArray) -> Mask:
        """Return the rows where a lane's move could reach a kink of the tail: `(G, N)`."""
        largest = np.max(np.abs(phi), axis=1)[:, None]
        reached: Mask = (
            np.abs(bar) * (1.0 + largest) * fixed.alpha[units] + largest * fixed.beta >= 1.0
        )
        return reached

    def _row_corrections(
        self,
        fixed: _Fixed,
        units: IntArray,
        bar: AnyArray,
        phi: AnyArray,
        powers: AnyArray,
        rows: Mask,
    ) -> AnyArray:
        """Return, per lane, the exact changes of the rows `rows` minus what the expansion gave them."""
        lane, example = np.nonzero(rows)
        unit = units[lane]
        b = bar[lane, example]
        moved = (1.0 + phi[lane]) * b[:, None] * fixed.a[unit] + phi[lane] * fixed.c[example]
        exact = self._tail_changes(fixed.tail, example, moved)
        order = powers.shape[0]  # the head's orders summed
        expanded = np.einsum(
            "pr,pr->r", fixed.head[:order, unit, example], powers[:, lane, example]
        )
        for r in range(GRADIENT_ORDERS):
            expanded += b**r * np.sum(fixed.y[r, unit, example] * phi[lane], axis=1)
        tail = fixed.tail
        kappa = ((fixed.c[example] * tail.slope[example]) * phi[lane]) @ tail.images
        hessian = tail.hessian()[example]
        expanded += 0.5 * np.einsum("rk,rkl,rl->r", kappa, hessian, kappa)
        correction: AnyArray = np.bincount(lane, weights=exact - expanded, minlength=units.size)
        return correction

    def _tail_changes(self, tail: Tail, example: IntArray, moved: AnyArray) -> AnyArray:
        """Return the exact loss change of each example `example[r]` for its move `moved[r]` of the tail's input."""
        net = self.net
        out = np.zeros(example.size)
        per_part = max(1, limits.ELEMENT_BUDGET // net.widest(tail.start))
        for start in range(0, example.size, per_part):
            part = slice(start, start + per_part)
            move = DenseMove(example[part], moved[part].reshape(-1, *net.acts[tail.start].shape[1:]))
            out[part] = net.propagate(tail.start, move)
        return out

    def _find(self, k: int) -> int | None:
        """Return the linear layer of the route for layer `k`'s moves, or `None` (see `linear_layer`)."""
        layers = self.net.layers
        coupled = [m for m in range(k + 1, len(layers)) if declares(layers[m], RowCoupled)]
        if not coupled:
            return None
        last = coupled[-1]
        linear = last - 1
        if (
            linear <= k
            or not declares(layers[linear], Linear)
            or not declares(layers[last], RankOneCoupled)
        ):
            return None
        for layer in layers[k + 1 : linear]:
            column = declares(layer, Featurewise) or (
                declares(layer, Elementwise) and not declares(layer, PerExample)
            )
            if not column:
                return None
        if Tail.of(self.net, last + 1) is None:
            return None
        return linear

    def _prepared(self, linear: int) -> _Fixed:
        """Return (computing once) what the route needs of the layers after `linear`."""
        if linear not in self._fixed:
            self._fixed[linear] = self._prepare(linear)
        return self._fixed[linear]

    def _prepare(self, linear: int) -> _Fixed:
        net = self.net
        tail = Tail.of(net, linear + 2)
        assert tail is not None
        coupled = net.layers[linear + 1]
        layer = net.layers[linear]
        assert declares(coupled, RankOneCoupled)
        assert declares(layer, Linear)
        x, y = net.acts[linear + 1], net.acts[linear + 2]
        examples = x.shape[0]
        inputs = int(np.prod(net.acts[linear].shape[1:]))
        w = np.asarray(layer.unit_images(np.arange(inputs))).reshape(inputs, -1)
        _, a, _, c = coupled.rank_one_change(x, y, np.zeros((inputs, examples)), w)
        u = tail.scores(a)
        spread = np.max(np.max(u, axis=2) - np.min(u, axis=2), axis=1)
        # The head's series is trusted for |r| up to head_reach: there softmax-like heads move
        # by at most a few per cent, well inside their radius.
        head_reach = 0.05 / np.maximum(np.max(u, axis=2) - np.min(u, axis=2), 1e-300)
        # Scores moved far (a batch of one: zero variance, a scale of 1/sqrt(eps)) can overflow
        # the series' bounds; such examples are not trusted (their lanes go exact).
        with np.errstate(over="ignore", invalid="ignore"):
            head, ok = tail.series_along(u, limits.MAX_ORDER, head_reach)
        ok &= np.all(np.isfinite(head), axis=0)
        head = np.where(ok[None], head, 0.0)
        head_reach = np.where(ok, head_reach, 0.0)
        gamma = tail.gradient_series(u, GRADIENT_ORDERS)  # (R, J, N, K)
        grad = tail.slope[None, None] * (gamma @ tail.images.T)  # (R, J, N, F)
        ys = np.empty_like(grad)
        for r in range(GRADIENT_ORDERS):
            ys[r] = grad[r] * c[None]
            if r:
                ys[r] += grad[r - 1] * a[:, None, :]
        hessian = tail.hessian()
        base = (c * tail.slope)[:, :, None] * tail.images[None]  # (N, F, K)
        q0 = _summed_form(base, hessian)
        full = tail.slope[:, :, None] * tail.images[None]
        lambda_d = float(np.max(np.linalg.eigvalsh(_summed_form(full, hessian)), initial=0.0))
        e_max = float(np.max(np.abs(c * tail.slope) @ np.abs(tail.images), initial=0.0))
        d_max = np.max(np.abs(a[:, None, :] * tail.slope[None]) @ np.abs(tail.images), axis=(1, 2))
        # 1 / reach, finite: an input on a kink (reach 0) flags every row a lane moves at all.
        inverse = np.where(np.isinf(tail.reach), 0.0, 1.0 / np.maximum(tail.reach, KINK_FLOOR))
        alpha = np.max(np.abs(a)[:, None, :] * inverse[None], axis=2)
        beta = np.max(np.abs(c) * inverse, axis=1)
        losses = np.asarray(net.loss.evaluate(net.acts[-1], net.t))
        tolerance = TOLERANCE * float(np.sum(np.abs(losses)))
        return _Fixed(
            tail=tail,
            a=a,
            c=c,
            u=u,
            spread=spread,
            head=head,
            head_reach=head_reach,
            y=ys,
            q0=q0,
            lambda_d=lambda_d,
            e_max=e_max,
            d_max=d_max,
            alpha=alpha,
            beta=beta,
            tolerance=tolerance,
        )


def _summed_form(b: AnyArray, h: AnyArray) -> AnyArray:
    r"""Return \(\sum_n B_n H_n B_n^\top\) for `b` `(N, F, K)` and `h` `(N, K, K)`: `(F, F)`."""
    found: AnyArray = np.tensordot(b @ h, b, axes=([0, 2], [0, 2]))
    return found
