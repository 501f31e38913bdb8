"""Data sets: a `Split` of inputs and labels, and the abstract `Dataset`.

[`LoadOptions`][minifw.data.dataset.LoadOptions] turns decoded uint8 images and integer labels into
a [`Split`][minifw.data.dataset.Split] the way the book's `load_mnist` does (`normalize`, `flatten`,
`one_hot`).

Examples:
    >>> import numpy as np
    >>> split = Split(x=np.zeros((3, 4), dtype=np.float32), t=np.array([0, 2, 1]))
    >>> split
    Split(x=<array shape=(3, 4) dtype=float32>, t=<array shape=(3,) dtype=int64>)
    >>> len(split)
    3

"""

from __future__ import annotations

import abc
import math
from typing import final

import attrs
import numpy as np

from minifw._validation import BOOL
from minifw.errors import ValidationError
from minifw.typing import AnyArray, ArrayLike

__all__ = ["Dataset", "LoadOptions", "Split"]


def _as_numbers(value: ArrayLike, name: str) -> AnyArray:
    """Return `value` as an array of finite numbers (bool, integer or float), or refuse it."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as err:
        raise ValidationError(
            f"{name} must be a rectangular array of numbers, got a {type(value).__name__} that "
            f"numpy cannot turn into one ({err})"
        ) from None
    if array.dtype.kind not in "biuf":
        raise ValidationError(
            f"{name} must hold numbers (bool, integer or float), got dtype {array.dtype}"
        )
    # min and max propagate nan and show inf, without a temporary array as large as the data.
    if (
        array.dtype.kind == "f"
        and array.size
        and not (math.isfinite(array.min()) and math.isfinite(array.max()))
    ):
        bad = np.flatnonzero(~np.isfinite(array))
        raise ValidationError(
            f"{name} must be finite, got {bad.size} nan or inf values "
            f"(the first, {array.flat[bad[0]]}, at flat index {bad[0]})"
        )
    return array


def _as_inputs(value: ArrayLike) -> AnyArray:
    return _as_numbers(value, "x")


def _as_labels(value: ArrayLike) -> AnyArray:
    return _as_numbers(value, "t")


def _summary(array: AnyArray) -> str:
    return f"<array shape={array.shape} dtype={array.dtype}>"


@final
@attrs.frozen(eq=False)
class Split:
    """One split of a data set: inputs `x` and labels `t` with the same first dimension.

    `x` is `(n, ...)` (`(n, 784)` or `(n, 1, 28, 28)` for MNIST); `t` is `(n,)` of
    integer class indices or `(n, num_classes)` one-hot rows. Both must hold finite numbers
    (bool, integer or float): strings, objects, nan and inf are refused here, where they enter.

    Examples:
        >>> import numpy as np
        >>> Split(x=np.zeros((2, 784)), t=np.array([1, 2, 3]))
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: x and t must have the same number of examples, got x.shape=(2, 784) and t.shape=(3,)
        >>> Split(x=[[0.5, np.nan]], t=[1])
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: x must be finite, got 1 nan or inf values (the first, nan, at flat index 1)

    """

    x: AnyArray = attrs.field(converter=_as_inputs, repr=_summary)
    t: AnyArray = attrs.field(converter=_as_labels, repr=_summary)

    def __attrs_post_init__(self) -> None:
        if self.x.ndim == 0 or self.t.ndim == 0 or len(self.x) != len(self.t):
            raise ValidationError(
                "x and t must have the same number of examples, "
                f"got x.shape={self.x.shape} and t.shape={self.t.shape}"
            )
        if self.t.ndim > 2:
            raise ValidationError(
                "t must be (n,) class indices or (n, num_classes) one-hot rows, "
                f"got t.shape={self.t.shape}"
            )

    def __len__(self) -> int:
        return len(self.x)


class Dataset(abc.ABC):
    """A labelled data set with a training and a test [`Split`][minifw.data.dataset.Split].

    A split that is not available raises
    [`DatasetNotFoundError`][minifw.errors.DatasetNotFoundError] saying which split it is and where
    it was looked for.

    Examples:
        >>> from minifw.data import MNIST
        >>> ds = MNIST.sample()
        >>> isinstance(ds, Dataset), len(ds.train), len(ds.test), ds.num_classes
        (True, 4000, 1000, 10)

    """

    @property
    @abc.abstractmethod
    def train(self) -> Split:
        """The training split."""

    @property
    @abc.abstractmethod
    def test(self) -> Split:
        """The test split."""

    @property
    @abc.abstractmethod
    def num_classes(self) -> int:
        """The number of classes; labels lie in `0 .. num_classes - 1`."""


@final
@attrs.frozen
class LoadOptions:
    """How decoded images and labels are presented, as in the book's `load_mnist`.

    Attributes:
        normalize: `x` as float32 in `[0, 1]` (pixel / 255); otherwise the raw uint8 pixels.
        flatten: `x` as `(n, 784)`; otherwise `(n, 1, 28, 28)` (one channel).
        one_hot: `t` as float32 `(n, num_classes)` one-hot rows; otherwise `(n,)` integer
            (`numpy.intp`) class indices.

    Examples:
        >>> import numpy as np
        >>> images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
        >>> split = LoadOptions(one_hot=True).apply(images, np.array([2]), num_classes=3)
        >>> split.x, split.t
        (array([[0. , 1. , 0.2, 0.4]], dtype=float32), array([[0., 0., 1.]], dtype=float32))

    """

    normalize: bool = attrs.field(default=True, validator=BOOL)
    flatten: bool = attrs.field(default=True, validator=BOOL)
    one_hot: bool = attrs.field(default=False, validator=BOOL)

    def apply(self, images: AnyArray, labels: AnyArray, *, num_classes: int) -> Split:
        """Turn decoded `(n, h, w)` uint8 images and `(n,)` labels into a `Split`."""
        n = len(images)
        x: AnyArray = (
            images.reshape(n, int(np.prod(images.shape[1:])))
            if self.flatten
            else images.reshape(n, 1, *images.shape[1:])
        )
        if self.normalize:
            x = x.astype(np.float32) / np.float32(255.0)
        t: AnyArray = labels.astype(np.intp)
        if self.one_hot:
            t = np.eye(num_classes, dtype=np.float32)[t]
        return Split(x=x, t=t)
