r"""Parameter penalties: terms of a model's objective that depend on its parameters alone.

A [`Penalty`][minifw.nn.penalty.Penalty] belongs to the model (as the book's `MultiLayerNet` adds
its weight decay in `loss`), not to the loss: it needs no predictions. It says its value, its
gradient, and, for numerical gradients, how a step of one coordinate changes it, exactly. The
book's [`WeightDecay`][minifw.nn.penalty.WeightDecay] is
\(\tfrac{1}{2}\lambda \sum_k \lVert W_k \rVert^2\) over the weight matrices; a step \(s\) of
\(w\) changes it by \(\lambda (w s + s^2 / 2)\), with no difference of two large sums.

Examples:
    >>> import numpy as np
    >>> decay = WeightDecay(strength=0.1, names=("W1",))
    >>> params = {"W1": np.array([[1.0, 2.0]]), "b1": np.zeros(2)}
    >>> decay.value(params)                                  # 0.5 * 0.1 * (1 + 4)
    0.25
    >>> decay.change("W1", np.array([2.0]), np.array([1e-4])).round(15).tolist()  # 0.1 (2e-4 + 5e-9)
    [[2.00005e-05]]

"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, final

import attrs
import numpy as np
from numpy.typing import NDArray

from minifw._validation import is_real
from minifw.errors import ValidationError
from minifw.typing import FloatArray

__all__ = ["Penalty", "WeightDecay"]


class Penalty(abc.ABC):
    """A term added to a model's loss that depends on some of its parameters only."""

    @property
    @abc.abstractmethod
    def names(self) -> tuple[str, ...]:
        """The parameters it depends on (model-wide names)."""

    @abc.abstractmethod
    def value(self, params: Mapping[str, FloatArray]) -> float:
        """Return the penalty at the parameters."""

    @abc.abstractmethod
    def gradients(self, params: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
        """Return its gradient for each parameter in `names`."""

    @abc.abstractmethod
    def change(self, name: str, values: FloatArray, steps: NDArray[Any]) -> NDArray[Any]:
        r"""Return its change when one coordinate of `params[name]` moves, `(K, M)`.

        `values` are the `K` coordinates' current values, `steps` the `M` steps (real, or
        complex for a complex step).
        """


def _check_strength(_instance: object, _attribute: object, value: float) -> None:
    if not is_real(value) or not np.isfinite(value) or value < 0:
        raise ValidationError(
            f"weight_decay_lambda must be a non-negative finite number, got {value!r}"
        )


def _as_names(value: object) -> tuple[str, ...]:
    return tuple(str(name) for name in value)  # type: ignore[attr-defined]


@final
@attrs.frozen
class WeightDecay(Penalty):
    r"""The book's weight decay \(\tfrac{1}{2}\lambda \sum_k \sum_{ij} W_{k,ij}^2\) (L2), `strength` \(\lambda\).

    Its gradient is \(\lambda W_k\), added to each weight's gradient as the book's `gradient`
    adds `weight_decay_lambda * W`.

    Examples:
        >>> import numpy as np
        >>> WeightDecay(0.5, ("W1",)).gradients({"W1": np.array([2.0])})
        {'W1': array([1.])}

    """

    strength: float = attrs.field(validator=_check_strength)
    names: tuple[str, ...] = attrs.field(converter=_as_names)

    def value(self, params: Mapping[str, FloatArray]) -> float:
        r"""Return \(\sum_k \tfrac{1}{2}\lambda \sum W_k^2\), summed layer by layer as the book does."""
        decay = 0.0
        for name in self.names:
            decay += 0.5 * self.strength * float(np.sum(params[name] ** 2))
        return decay

    def gradients(self, params: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
        r"""\(\lambda W_k\) for each weight."""
        return {name: self.strength * params[name] for name in self.names}

    def change(self, name: str, values: FloatArray, steps: NDArray[Any]) -> NDArray[Any]:
        r"""\(\lambda (w s + s^2/2)\): exact, without subtracting two sums of squares."""
        w, s = values[:, None], steps[None, :]
        result: NDArray[Any] = self.strength * (w * s + 0.5 * s * s)
        return result
