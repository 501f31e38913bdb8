"""Targets as a loss reads them, prepared once per batch rather than once per evaluation.

A numerical gradient evaluates the loss of one batch thousands of times with the same labels (the
book's loop calls `loss(x, t)` twice per coordinate). Turning class indices into one-hot rows and
checking them each time costs more than the loss itself, so
[`batch_targets`][minifw.nn.losses.targets.batch_targets] keeps the last labels it expanded, with
a copy of their values: labels that are the same object *and* still hold the same values are not
expanded and checked again. Any other targets go through
[`targets_as_batch`][minifw.nn.labels.targets_as_batch] as before.

Examples:
    >>> import numpy as np
    >>> labels = np.array([2, 0])
    >>> batch_targets(labels, (2, 3), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    >>> labels[0] = 1                       # changed in place: expanded again, not reused
    >>> batch_targets(labels, (2, 3), 3)[0].tolist()
    [0.0, 1.0, 0.0]

"""

from __future__ import annotations

import threading
from typing import final

import attrs
import numpy as np

from minifw.nn.labels import targets_as_batch
from minifw.typing import AnyArray, ArrayLike, FloatArray

__all__ = ["batch_targets"]


@final
@attrs.frozen(eq=False)
class _Expanded:
    """Labels as given (the object), a copy of their values, and the one-hot rows made of them."""

    given: AnyArray
    values: AnyArray
    shape: tuple[int, ...]
    one_hot: FloatArray


_lock = threading.Lock()
_last: _Expanded | None = None


def batch_targets(t: ArrayLike, y_shape: tuple[int, ...], k: int) -> FloatArray:
    """Return `targets_as_batch(t, y_shape, k)`, reusing the last expansion of the same labels.

    Only integer class indices (the labels of a minibatch) are kept; the caller gets a copy of the
    one-hot rows, so a loss that writes into its targets cannot change the kept ones.
    """
    last = _last
    if (
        last is not None
        and last.given is t
        and last.shape == y_shape
        and isinstance(t, np.ndarray)
        and t.shape == last.values.shape
        and bool((t == last.values).all())
    ):
        return last.one_hot.copy()
    prepared = targets_as_batch(t, y_shape, k)
    if isinstance(t, np.ndarray) and t.dtype.kind in "iu" and t.shape == y_shape[:-1]:
        _remember(_Expanded(t, t.copy(), y_shape, prepared.copy()))
    return prepared


def _remember(expanded: _Expanded) -> None:
    global _last
    with _lock:
        _last = expanded
