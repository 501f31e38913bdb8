"""Written as a user would: extend minifw by subclassing, use only the public API.

This file is also type-checked by ``mypy --strict`` (it is under ``tests/``), so it shows that
subclasses written this way type-check.
"""

from __future__ import annotations

from typing import final

import attrs
import numpy as np
import pytest

import minifw
from minifw import BatchSampler, CentralDiff, Loss, RandomChoiceSampler
from minifw.typing import FloatArray, IntArray


@final
@attrs.frozen
class MeanAbsolute(Loss):
    """Sum of absolute differences per example."""

    def per_example(self, y: FloatArray, t: FloatArray) -> FloatArray:
        values: FloatArray = np.abs(y - t).sum(axis=1)
        return values


@final
@attrs.define
class RoundRobin(BatchSampler):
    """Consecutive windows of the data, wrapping around."""

    start: int = 0

    def sample(self, n: int) -> IntArray:
        idx = (self.start + np.arange(self.batch_size)) % n
        self.start = int((self.start + self.batch_size) % n)
        return idx.astype(np.intp)


def test_a_new_loss_in_a_few_lines() -> None:
    loss = MeanAbsolute()
    # |0.1| + |0.05| + |0.6 - 1| + |0.05| + |0.1| + |0.1| = 0.8
    y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    assert loss(y, 2) == pytest.approx(0.8)
    assert MeanAbsolute(reduction="sum")([y, y], [2, 2]) == pytest.approx(1.6)
    with pytest.raises(minifw.MinifwError, match="t must have the shape"):
        loss(y, [1, 2])


def test_the_new_loss_has_a_numerical_gradient() -> None:
    y = np.array([[0.2, 0.3, 0.5]])
    grad = CentralDiff().gradient(lambda v: float(MeanAbsolute()(v, [1])), y)
    np.testing.assert_allclose(grad, [[1.0, -1.0, 1.0]], atol=1e-8)


def test_a_custom_sampler() -> None:
    sampler = RoundRobin(batch_size=3)
    x, t = np.arange(10.0).reshape(5, 2), np.arange(5)
    batches = [sampler.minibatch(x, t)[1].tolist() for _ in range(3)]
    assert batches == [[0, 1, 2], [3, 4, 0], [1, 2, 3]]
    with pytest.raises(minifw.MinifwError, match="batch_size must be a positive integer"):
        RoundRobin(batch_size=0)


def test_builtin_and_custom_parts_share_one_type() -> None:
    samplers: list[BatchSampler] = [RoundRobin(2), RandomChoiceSampler(2, seed=0)]
    assert all(s.sample(4).size == 2 for s in samplers)
