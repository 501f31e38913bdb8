"""Minibatch sampling: which examples the next step learns from.

A [`BatchSampler`][minifw.train.sampling.BatchSampler] draws the indices of a minibatch from a data set of
`n` examples with [`sample`][minifw.train.sampling.BatchSampler.sample], and
[`minibatch`][minifw.train.sampling.BatchSampler.minibatch] applies them to arrays. Each sampler owns its
own `numpy.random.Generator`, so a seed reproduces the batches exactly and its state can be saved in
a checkpoint.

Examples:
    >>> import numpy as np
    >>> from minifw import RandomChoiceSampler
    >>> x, t = np.arange(20.0).reshape(10, 2), np.arange(10)
    >>> xb, tb = RandomChoiceSampler(batch_size=3, seed=0).minibatch(x, t)
    >>> tb
    array([8, 6, 5])
    >>> xb.shape
    (3, 2)

"""

from __future__ import annotations

import abc
import json
from typing import Any, TypeAlias, final

import attrs
import numpy as np

from minifw._validation import BOOL, POSITIVE_INT, SEED
from minifw.errors import ValidationError
from minifw.typing import AnyArray, ArrayLike, IntArray, SeedLike

__all__ = ["BatchSampler", "RandomChoiceSampler", "SamplerState", "ShuffleSampler"]

SamplerState: TypeAlias = dict[str, AnyArray]
"""A sampler's state as plain arrays (savable with `np.savez`, no pickle)."""



# Largest minibatch a built-in sampler draws (numpy's index arithmetic stays in int64 far below).
MAX_BATCH_SIZE = 2**31


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
        raise ValidationError(f"n must be a positive integer (the data set size), got n={n!r}")
    return int(n)


@attrs.define
class BatchSampler(abc.ABC):
    """Draws minibatch indices from `range(n)`.

    Subclasses implement [`sample`][minifw.train.sampling.BatchSampler.sample]. Samplers that keep state
    beyond their generator (a permutation, a position) extend
    [`state`][minifw.train.sampling.BatchSampler.state] and
    [`load_state`][minifw.train.sampling.BatchSampler.load_state] so checkpoints can resume the same
    sequence of batches.

    Examples:
        >>> import attrs, numpy as np
        >>> from typing import final
        >>> @final
        ... @attrs.define
        ... class FirstExamples(BatchSampler):
        ...     def sample(self, n):
        ...         return np.arange(min(self.batch_size, n))
        >>> FirstExamples(batch_size=2).sample(5)
        array([0, 1])

    """

    batch_size: int = attrs.field(validator=POSITIVE_INT.at_most(MAX_BATCH_SIZE, "2**31"))
    seed: SeedLike = attrs.field(default=None, kw_only=True, validator=SEED)
    rng: np.random.Generator = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        self.rng = (
            self.seed
            if isinstance(self.seed, np.random.Generator)
            else np.random.default_rng(self.seed)
        )

    @abc.abstractmethod
    def sample(self, n: int) -> IntArray:
        """Return the indices of the next minibatch, each in `range(n)`."""

    def minibatch(self, x: ArrayLike, t: ArrayLike) -> tuple[AnyArray, AnyArray]:
        """Return `(x[idx], t[idx])` for the indices of the next minibatch.

        `x` and `t` must have the same number of examples (their first dimension).

        Examples:
            >>> xb, tb = RandomChoiceSampler(2, seed=1).minibatch([[1], [2], [3]], [10, 20, 30])
            >>> xb.tolist(), tb.tolist()
            ([[2], [2]], [20, 20])

        """
        x_arr, t_arr = np.asarray(x), np.asarray(t)
        if x_arr.ndim == 0 or t_arr.ndim == 0 or x_arr.shape[0] != t_arr.shape[0]:
            raise ValidationError(
                "x and t must hold the same number of examples along their first axis, "
                f"got x of shape {x_arr.shape} and t of shape {t_arr.shape}"
            )
        idx = self.sample(x_arr.shape[0])
        return x_arr[idx], t_arr[idx]

    def state(self) -> SamplerState:
        """Return the sampler's state as arrays (the generator's state as a JSON string).

        Examples:
            >>> s = RandomChoiceSampler(4, seed=0)
            >>> saved = s.state()
            >>> first = s.sample(100)
            >>> s.load_state(saved)
            >>> bool(np.array_equal(s.sample(100), first))
            True

        """
        return {"rng": np.array(json.dumps(self.rng.bit_generator.state))}

    def load_state(self, state: SamplerState) -> None:
        """Restore a state returned by [`state`][minifw.train.sampling.BatchSampler.state]."""
        try:
            rng_state: dict[str, Any] = json.loads(str(state["rng"]))
            self.rng.bit_generator.state = rng_state
        except (KeyError, TypeError, ValueError) as err:
            raise ValidationError(
                f"state must be a sampler state from {type(self).__name__}.state(), "
                f"got keys {sorted(state)} ({err})"
            ) from err


@final
@attrs.define
class RandomChoiceSampler(BatchSampler):
    """Independent random draws, like the book's `np.random.choice(train_size, batch_size)`.

    With `replace=True` (the default, as in the book) an index may appear twice in one batch;
    with `replace=False` the indices of one batch are distinct (but batches may overlap).

    Examples:
        >>> RandomChoiceSampler(batch_size=10, seed=42).sample(60000)
        array([ 5355, 46437, 39274, 26332, 25980, 51515,  5156, 41842, 12088,
                5650])
        >>> RandomChoiceSampler(batch_size=4, replace=False, seed=0).sample(3)
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: batch_size=4 exceeds n=3: cannot draw without replacement

    """

    replace: bool = attrs.field(default=True, kw_only=True, validator=BOOL)

    def sample(self, n: int) -> IntArray:
        """Return `batch_size` indices drawn uniformly from `range(n)`."""
        n = _check_n(n)
        if not self.replace and self.batch_size > n:
            raise ValidationError(
                f"batch_size={self.batch_size} exceeds n={n}: cannot draw without replacement"
            )
        return self.rng.choice(n, size=self.batch_size, replace=self.replace).astype(np.intp)


@final
@attrs.define
class ShuffleSampler(BatchSampler):
    """Every example once per epoch, in a fresh random order each epoch.

    Consecutive batches walk through a permutation of `range(n)`. At the end of an epoch a
    shorter last batch is returned, or skipped with `drop_last=True`; then `epoch` counts
    up and a new permutation is drawn.

    Examples:
        >>> s = ShuffleSampler(batch_size=2, seed=0)
        >>> [s.sample(5).tolist() for _ in range(4)]
        [[2, 4], [3, 0], [1], [4, 1]]
        >>> s.epoch
        1

    """

    drop_last: bool = attrs.field(default=False, kw_only=True, validator=BOOL)
    epoch: int = attrs.field(default=0, init=False)
    _order: IntArray = attrs.field(
        factory=lambda: np.empty(0, np.intp), init=False, repr=False, eq=False
    )
    _position: int = attrs.field(default=0, init=False, repr=False)

    def sample(self, n: int) -> IntArray:
        """Return the next `batch_size` indices of the current permutation of `range(n)`."""
        n = _check_n(n)
        if self.drop_last and self.batch_size > n:
            raise ValidationError(
                f"batch_size={self.batch_size} exceeds n={n}: with drop_last=True no batch is full"
            )
        if self._order.size != n:  # first call, or the data set changed: start over
            self._order = self.rng.permutation(n).astype(np.intp)
            self._position = 0
        remaining = n - self._position
        if remaining == 0 or (self.drop_last and remaining < self.batch_size):
            self.epoch += 1
            self._order = self.rng.permutation(n).astype(np.intp)
            self._position = 0
        batch = self._order[self._position : self._position + self.batch_size]
        self._position += batch.size
        return batch.copy()

    def state(self) -> SamplerState:
        """Return the generator state, the permutation, the position and the epoch."""
        return {
            **super().state(),
            "order": self._order.copy(),
            "position": np.array(self._position),
            "epoch": np.array(self.epoch),
        }

    def load_state(self, state: SamplerState) -> None:
        """Restore a state returned by `state`; a malformed one changes nothing.

        The order must be a permutation of `range(n)` (empty before the first batch), the
        position in `0..n` and the epoch a non-negative integer.

        Examples:
            >>> s = ShuffleSampler(batch_size=2, seed=0)
            >>> s.load_state({**s.state(), "order": np.array([0, 2, 2])})
            Traceback (most recent call last):
            ...
            minifw.errors.ValidationError: ShuffleSampler state: order must be a permutation of 0..2, got [0, 2, 2]

        """
        order, position, epoch = _shuffle_state(state)
        super().load_state(state)
        self._order, self._position, self.epoch = order, position, epoch


def _shuffle_state(state: SamplerState) -> tuple[IntArray, int, int]:
    """Read and check the order, position and epoch of a ShuffleSampler state."""
    try:
        order, position, epoch = (np.asarray(state[k]) for k in ("order", "position", "epoch"))
    except (KeyError, TypeError) as err:
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValidationError(
            f"state must be a sampler state from ShuffleSampler.state(), got keys {keys}"
        ) from err
    if order.ndim != 1 or (order.size and order.dtype.kind not in "iu"):
        raise ValidationError(
            "ShuffleSampler state: order must be a 1-D array of integers, got dtype "
            f"{order.dtype} and shape {order.shape}"
        )
    n = order.size
    if n and not np.array_equal(np.sort(order), np.arange(n)):
        shown = order.tolist() if n <= 10 else f"values from {order.min()} to {order.max()}"
        raise ValidationError(
            f"ShuffleSampler state: order must be a permutation of 0..{n - 1}, got {shown}"
        )
    for name, value, limit in (("position", position, n), ("epoch", epoch, None)):
        if (
            value.ndim != 0
            or value.dtype.kind not in "iu"
            or int(value) < 0
            or (limit is not None and int(value) > limit)
        ):
            expected = (
                f"an integer in 0..{limit}" if limit is not None else "a non-negative integer"
            )
            raise ValidationError(
                f"ShuffleSampler state: {name} must be {expected}, got {value.tolist()!r}"
            )
    return order.astype(np.intp), int(position), int(epoch)
