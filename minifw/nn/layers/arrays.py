"""The checks of what a layer is built from: its arrays (float64, of the expected rank, finite), strides, shapes.

Every built-in layer with parameters applies them in its constructor, so an array that cannot be
a parameter (a list, float32, the wrong rank, nan or inf) is refused where it enters, naming the
layer and the argument, rather than turning every prediction into nan later.

Examples:
    >>> import numpy as np
    >>> check_layer_array("Affine", "W", np.array([[1.0, np.nan]]), ndim=2)
    Traceback (most recent call last):
    ...
    minifw.errors.ValidationError: Affine W must be finite, got nan at W[0, 1]

"""

from __future__ import annotations

import numpy as np

from minifw.errors import ValidationError
from minifw.typing import FloatArray

__all__ = ["check_layer_array", "check_stride_pad", "check_weights_and_bias", "example_shape"]


def check_layer_array(layer: str, name: str, arr: object, *, ndim: int) -> None:
    """Refuse `arr` unless it is a finite float64 `numpy.ndarray` with `ndim` axes."""
    if not isinstance(arr, np.ndarray) or arr.dtype != np.float64 or arr.ndim != ndim:
        got = (
            f"dtype {arr.dtype}, shape {arr.shape}"
            if isinstance(arr, np.ndarray)
            else type(arr).__name__
        )
        raise ValidationError(f"{layer} {name} must be a {ndim}-D float64 array, got {got}")
    if arr.size == 0:
        raise ValidationError(f"{layer} {name} must not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        where = ", ".join(str(int(i)) for i in np.argwhere(~np.isfinite(arr))[0])
        value = float(arr[tuple(np.argwhere(~np.isfinite(arr))[0])])
        raise ValidationError(f"{layer} {name} must be finite, got {value} at {name}[{where}]")


def check_stride_pad(layer: str, stride: object, pad: object) -> None:
    """Refuse a stride that is not a positive integer or a padding that is not a non-negative one."""
    for name, value, least in (("stride", stride, 1), ("pad", pad, 0)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            kind = "a positive" if least else "a non-negative"
            raise ValidationError(f"{layer} {name} must be {kind} integer, got {name}={value!r}")


def check_weights_and_bias(
    layer: str, weights: FloatArray, bias: FloatArray, *, ndim: int, axis: int, per: str
) -> None:
    """Check a layer's weights (`ndim` axes) and bias (one entry per `weights.shape[axis]`)."""
    check_layer_array(layer, "W", weights, ndim=ndim)
    check_layer_array(layer, "b", bias, ndim=1)
    if bias.shape[0] != weights.shape[axis]:
        raise ValidationError(
            f"{layer} b must have one entry per {per} ({weights.shape[axis]}), got shape {bias.shape}"
        )


def example_shape(value: object, name: str) -> tuple[int, ...]:
    """Return `value` as the shape of one example (positive integers), or refuse it naming `name`.

    Examples:
        >>> example_shape([1, 28, 28], "shape")
        (1, 28, 28)

    """
    shape = tuple(value) if isinstance(value, tuple | list) else ()
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ValidationError(
            f"{name} must be a tuple of positive integers (one example's shape), got {name}={value!r}"
        )
    return shape
