"""Predictions and labels as losses and accuracy read them: checked once, in one place.

A loss takes targets as one-hot rows or probabilities (the shape of the predictions) or as
integer class indices (one per example); [`Model.accuracy`][minifw.nn.models.Model.accuracy]
takes the same labels. [`class_indices`][minifw.nn.labels.class_indices] is the one check of
class indices both use, so a bad label gets the same message wherever it arrives.

Examples:
    >>> import numpy as np
    >>> targets_as_batch([2, 0], (2, 3), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    >>> class_indices(np.array([3]), 3)
    Traceback (most recent call last):
    ...
    minifw.errors.ValidationError: t holds class indices and each must be in 0..2 for y with 3 classes, got t[0]=3

"""

from __future__ import annotations

import numpy as np

from minifw.errors import ValidationError
from minifw.typing import AnyArray, ArrayLike, FloatArray, IntArray

__all__ = ["as_real_array", "check_finite", "class_indices", "targets_as_batch"]


def as_real_array(value: ArrayLike, name: str) -> FloatArray:
    """Convert `value` to a float64 array, naming `name` when that is impossible.

    Examples:
        >>> as_real_array(["a"], "y")
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: y must hold real numbers, got an array of dtype <U1 and shape (1,)

    """
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise ValidationError(
            f"{name} must hold real numbers, got an array of dtype {arr.dtype} "
            f"and shape {arr.shape}"
        )
    return arr.astype(np.float64, copy=False)


def check_finite(arr: FloatArray, name: str) -> None:
    """Refuse nan and inf in `arr`, naming the first one and counting them all.

    Examples:
        >>> check_finite(np.array([0.5, np.nan]), "y")
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: y must be finite, got y[1]=np.float64(nan) (1 non-finite values in all)

    """
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        where = ", ".join(map(str, bad))
        raise ValidationError(
            f"{name} must be finite, got {name}[{where}]={arr[bad]!r}"
            f" ({int(np.count_nonzero(~np.isfinite(arr)))} non-finite values in all)"
        )


def targets_as_batch(t: ArrayLike, y_shape: tuple[int, ...], k: int) -> FloatArray:
    """Return targets as float64 `(N, K)`: one-hot rows or probabilities kept, indices expanded.

    `y_shape` is the shape of the predictions as given (`(K,)` or `(N, K)`), `k` the number
    of classes.
    """
    t_arr = np.asarray(t)
    if t_arr.shape == y_shape:
        t_float = as_real_array(t_arr, "t")
        check_finite(t_float, "t")
        return t_float.reshape(1, -1) if t_float.ndim == 1 else t_float
    if t_arr.shape == y_shape[:-1]:
        labels = class_indices(t_arr, k)
        one_hot = np.zeros((labels.size, k))
        one_hot[np.arange(labels.size), labels] = 1.0
        return one_hot
    raise ValidationError(
        f"t must have the shape of y {y_shape} (one-hot rows or probabilities) or "
        f"{y_shape[:-1]} (integer class indices), got shape {t_arr.shape}"
    )


def class_indices(t_arr: AnyArray, k: int) -> IntArray:
    """Return integer class labels in `0..k-1` as a flat `intp` array, or say what is wrong."""
    if t_arr.dtype == np.bool_ or not np.issubdtype(t_arr.dtype, np.integer):
        sample = t_arr.reshape(-1)[:3].tolist()
        raise ValidationError(
            "t holds class indices and must be integers, "
            f"got dtype {t_arr.dtype} (first values {sample})"
        )
    flat = t_arr.reshape(-1)
    # Compared in the labels' own dtype: a cast to int64 first would turn a uint64 beyond 2**63
    # into a negative number, and the message would report that.
    bad = (flat < 0) | (flat >= k)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"t holds class indices and each must be in 0..{k - 1} for y with {k} classes, "
            f"got t[{i}]={int(flat[i])}"
        )
    labels: IntArray = flat.astype(np.intp)
    return labels
