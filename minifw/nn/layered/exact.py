r"""The exact routes: moves pushed through the layers' change rules, or parameters perturbed.

- **unit moves** ([`ExactRoute.unit_changes`][minifw.nn.layered.exact.ExactRoute.unit_changes]):
  for the examples and units the series route leaves out (or all of them, for large steps), each
  distinct move \((n, j, u)\) is pushed through the layers after \(k\) with their
  [`change`][minifw.nn.layers.Layer.change] rules (no cancellation) and closed with the loss's
  [`change`][minifw.nn.losses.Loss.change]. Moves that are equal are computed once (in an
  example, pixels of equal value move a hidden unit identically).
- **perturbation** ([`ExactRoute.perturbed_changes`][minifw.nn.layered.exact.ExactRoute.perturbed_changes]):
  a parameter of a layer that does not say how its steps move its output is stepped in place,
  the layer recomputed, and the difference of its output pushed on as a dense move (of the whole
  batch, so coupled rows are moved together).

Unit and channel steps whose moves reach every example at once (behind a row-coupled layer, or a
convolution's channel) take the [batch route][minifw.nn.layered.batch_route].

Work is split into parts of bounded size, so scratch memory stays bounded whatever the model.
"""

from __future__ import annotations

import math
from typing import final

import attrs
import numpy as np

from minifw.errors import DifferentiationError
from minifw.nn.layered import limits
from minifw.nn.layered.moves import DenseMove, LaneUnitMove, Network
from minifw.nn.layered.steps import UnitSteps
from minifw.typing import AnyArray, IntArray

__all__ = ["ExactRoute", "sum_by"]


@final
@attrs.define(eq=False)
class ExactRoute:
    """The exact routes of one layered objective, along its network."""

    net: Network

    def unit_changes(
        self, k: int, move: UnitSteps, exact: np.ndarray, steps: AnyArray
    ) -> AnyArray:
        """Sum, per coordinate and step, the exact loss changes of the moves in `exact`.

        Coordinate `c` moves unit `move.units[c]` of example `n` by `s` times its amount; only
        examples with `exact[n, unit]` and a non-zero amount are computed
        ([`lanes`][minifw.nn.layered.steps.UnitSteps.lanes]).
        """
        dtype = np.result_type(steps, np.float64)
        out = np.zeros((move.units.size, steps.size), dtype=dtype)
        coord, example, values = move.lanes(exact)
        if coord.size == 0:
            return out
        # Equal moves are computed once: key (example, unit, amount). In an example, pixels of
        # equal value move a hidden unit identically.
        _, value_code = np.unique(values, return_inverse=True)
        width = math.prod(self.net.acts[k + 1].shape[1:])
        codes = int(value_code.max(initial=0)) + 1
        unit = move.units[coord]
        key = (example * width + unit) * codes + value_code
        _, first, group = np.unique(key, return_index=True, return_inverse=True)
        g_example, g_unit, g_value = example[first], unit[first], values[first]
        for m, step in enumerate(steps.tolist()):
            change = self._unit_moves(k, g_example, g_unit, step * g_value)
            out[:, m] = sum_by(coord, change[group], move.units.size)
        return out

    def perturbed_changes(
        self, k: int, local: str, index: IntArray, steps: AnyArray
    ) -> AnyArray:
        """Step parameter `local` of layer `k` in place, recompute from that layer on."""
        if np.iscomplexobj(steps):
            raise DifferentiationError(
                f"{type(self.net.layers[k]).__name__} parameters are perturbed in place, which a "
                "complex step cannot do; use a real scheme such as CentralDiff"
            )
        layer = self.net.layers[k]
        flat = layer.params[local].reshape(-1)
        x_k, y_k = self.net.acts[k], self.net.acts[k + 1]
        rows = np.arange(x_k.shape[0])
        out = np.zeros((index.size, steps.size))
        for c, i in enumerate(index.tolist()):
            original = float(flat[i])
            try:
                for m, step in enumerate(steps.tolist()):
                    flat[i] = original + step
                    moved = layer.forward(x_k) - y_k
                    flat[i] = original
                    out[c, m] = np.sum(self.net.propagate(k + 1, DenseMove(rows, moved)))
            finally:
                flat[i] = original
        return out

    def _unit_moves(self, k: int, rows: IntArray, units: IntArray, amounts: AnyArray) -> AnyArray:
        """Return each example's exact loss change when unit `units` of layer k moves."""
        per_part = max(1, limits.ELEMENT_BUDGET // self.net.widest(k + 1))
        out = np.zeros(rows.size, dtype=np.result_type(amounts, np.float64))
        for start in range(0, rows.size, per_part):
            part = slice(start, start + per_part)
            move = LaneUnitMove(rows[part], units[part], amounts[part])
            out[part] = self.net.propagate(k + 1, move)
        return out


def sum_by(group: IntArray, values: AnyArray, size: int) -> AnyArray:
    """Sum `values` per `group` (in order, so the result does not depend on chunking).

    Examples:
        >>> sum_by(np.array([0, 1, 0]), np.array([1.0, 2.0, 3.0]), 2).tolist()
        [4.0, 2.0]

    """
    if np.iscomplexobj(values):
        real = np.bincount(group, weights=values.real, minlength=size)
        imag = np.bincount(group, weights=values.imag, minlength=size)
        complex_sum: AnyArray = real + 1j * imag
        return complex_sum
    result: AnyArray = np.bincount(group, weights=values, minlength=size)
    return result
