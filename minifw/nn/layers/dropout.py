r"""Dropout, the book's `Dropout`: a random mask in training, a scale at test time.

In training every unit of every example is kept with probability \(1 - r\) (`ratio` \(r\)) and
set to 0 otherwise; at test time every unit is scaled by \(1 - r\) instead, as the book does
(its outputs then match the expected training output). The mask is drawn as the book draws it,
`uniform(shape) > ratio`, from the layer's own seeded generator, **once per objective**: the
layer's [`training`][minifw.nn.layers.Dropout.training] form,
[`DropoutMask`][minifw.nn.layers.DropoutMask], holds it, so every evaluation of one numerical
gradient sees the same mask (the book's `numerical_gradient` draws a new one for every evaluation,
which makes its gradients of a dropout network noise).

Examples:
    >>> import numpy as np
    >>> layer = Dropout(ratio=0.5, seed=0)
    >>> layer.forward(np.ones((1, 4))).tolist()                  # test time: times 1 - ratio
    [[0.5, 0.5, 0.5, 0.5]]
    >>> mask = layer.training(np.ones((1, 4)))
    >>> mask.forward(np.ones((1, 4))).tolist()                   # training: one mask for the batch
    [[1.0, 0.0, 0.0, 0.0]]

"""

from __future__ import annotations

from typing import final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw._validation import SEED
from minifw.errors import ValidationError
from minifw.nn.layers.activations import Activation
from minifw.nn.layers.layer import Layer
from minifw.typing import AnyArray, FloatArray, IntArray, SeedLike

__all__ = ["Dropout", "DropoutMask"]


def _check_ratio(_instance: object, _attribute: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, float | int) or not 0 <= value < 1:
        raise ValidationError(f"Dropout ratio must be a number in [0, 1), got ratio={value!r}")


def _as_mask(value: object) -> NDArray[np.bool_]:
    return np.asarray(value, dtype=bool)


@final
@attrs.define(eq=False)
class DropoutMask(Layer):
    r"""A fixed mask: \(y = x \odot m\), the mask drawn for one batch (`(N, *features)`).

    What [`Dropout.training`][minifw.nn.layers.Dropout.training] returns. It is
    [elementwise][minifw.nn.layers.Elementwise] and linear in its input, but its rule differs from
    one example to the next ([`PerExample`][minifw.nn.layers.PerExample]): the engine asks it for
    the part of the mask its moves reach.

    Examples:
        >>> import numpy as np
        >>> mask = DropoutMask(np.array([[True, False]]))
        >>> mask.change(np.ones((1, 2)), np.ones((1, 2)), np.array([[1e-9, 1e-9]])).tolist()
        [[1e-09, 0.0]]

    """

    mask: NDArray[np.bool_] = attrs.field(converter=_as_mask)

    @property
    def params(self) -> dict[str, FloatArray]:
        """No parameters."""
        return {}

    def forward(self, x: AnyArray) -> AnyArray:
        """Return `x * mask` (as the book multiplies by its boolean mask)."""
        if x.shape != self.mask.shape:
            raise ValidationError(
                f"DropoutMask was drawn for inputs of shape {self.mask.shape}, got {x.shape}: "
                "a mask holds for the batch it was drawn for"
            )
        result: AnyArray = x * self.mask
        return result

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        r"""\(\partial L/\partial x = m \odot \partial L/\partial y\)."""
        result: AnyArray = dy * self.mask
        return result, {}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""\(m \odot \Delta x\) (exact)."""
        result: AnyArray = dx * self.mask
        return result

    def series_change(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        """Each coefficient masked (valid everywhere)."""
        result: AnyArray = dx * self.mask
        return result, np.ones(dx.shape[1], dtype=bool)

    def unit_change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        """Return the change of gathered units: the mask here holds the gathered entries."""
        return self.change(x, y, dx)

    def unit_series(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        """Return the series of gathered units (valid everywhere)."""
        result: AnyArray = dx * self.mask
        return result, np.ones(dx.shape[-1], dtype=bool)

    def taylor(self, x: AnyArray, y: AnyArray, order: int) -> tuple[AnyArray, FloatArray]:
        """Return the mask, then zeros (`x` holds the mask's entries, in any shape); reach `inf`."""
        coeffs = np.zeros((order, *np.shape(x)))
        coeffs[0] = self.mask.reshape(np.shape(x))
        return coeffs, np.full(np.shape(x), np.inf)

    def linear_reach(self, x: AnyArray, y: AnyArray) -> tuple[AnyArray, AnyArray]:
        """Return the mask as the slope; linear everywhere (reach `inf`)."""
        return self.mask.astype(np.float64), np.full(self.mask.shape, np.inf)

    def for_rows(self, rows: IntArray) -> DropoutMask:
        """Return the mask of the rows `rows`."""
        return DropoutMask(self.mask[rows])

    def for_units(self, rows: IntArray, units: IntArray) -> DropoutMask:
        """Return the mask's entries at `(rows[b], units[b])` (units flat), one per gathered value."""
        return DropoutMask(self.mask.reshape(self.mask.shape[0], -1)[rows, units])


@final
@attrs.define(eq=False)
class Dropout(Activation):
    r"""The book's `Dropout(dropout_ratio=0.5)`: at test time \(y = (1 - r)\,x\).

    `seed` seeds the generator the training masks are drawn from (one mask per
    [`training`][minifw.nn.layers.Dropout.training] call, that is, per objective).

    Examples:
        >>> import numpy as np
        >>> Dropout(ratio=0.25).slope(np.zeros((1, 2)), np.zeros((1, 2))).tolist()
        [[0.75, 0.75]]

    """

    ratio: float = attrs.field(default=0.5, validator=_check_ratio)
    seed: SeedLike = attrs.field(default=None, kw_only=True, validator=SEED, repr=False)
    _rng: np.random.Generator = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def forward(self, x: AnyArray) -> AnyArray:
        r"""Return \((1 - r)\,x\) (the book's test-time rule)."""
        result: AnyArray = x * (1.0 - self.ratio)
        return result

    def slope(self, x: AnyArray, y: AnyArray) -> AnyArray:
        r"""\(1 - r\) everywhere."""
        return np.full(np.shape(x), 1.0 - self.ratio)

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        r"""\((1 - r)\,\Delta x\) (exact)."""
        result: AnyArray = dx * (1.0 - self.ratio)
        return result

    def taylor(self, x: AnyArray, y: AnyArray, order: int) -> tuple[AnyArray, FloatArray]:
        """Return the slope, then zeros; the series reaches everywhere."""
        coeffs = np.zeros((order, *np.shape(x)))
        coeffs[0] = 1.0 - self.ratio
        return coeffs, np.full(np.shape(x), np.inf)

    def training(self, x: AnyArray) -> DropoutMask:
        """Draw a mask for the batch `x`, `uniform(x.shape) > ratio`, from the layer's generator."""
        return DropoutMask(self._rng.random(x.shape) > self.ratio)
