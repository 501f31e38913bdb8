"""Samplers: ranges, reproducibility, epochs and state."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minifw import RandomChoiceSampler, ShuffleSampler
from minifw.errors import ValidationError


@given(batch_size=st.integers(1, 50), n=st.integers(1, 1000), seed=st.integers(0, 2**32))
def test_random_choice_indices_are_in_range_and_reproducible(
    batch_size: int, n: int, seed: int
) -> None:
    first = RandomChoiceSampler(batch_size, seed=seed).sample(n)
    second = RandomChoiceSampler(batch_size, seed=seed).sample(n)
    assert first.shape == (batch_size,)
    assert first.dtype == np.intp
    assert np.all((first >= 0) & (first < n))
    np.testing.assert_array_equal(first, second)


def test_random_choice_draws_with_replacement_like_the_seed() -> None:
    # 10 of 60000 as in the seed; with replacement a batch larger than n is possible.
    batch = RandomChoiceSampler(10, seed=3).sample(60000)
    assert batch.shape == (10,)
    big = RandomChoiceSampler(50, seed=3).sample(5)
    assert big.shape == (50,)
    assert len(np.unique(big)) <= 5


def test_random_choice_without_replacement() -> None:
    batch = RandomChoiceSampler(100, replace=False, seed=0).sample(100)
    np.testing.assert_array_equal(np.sort(batch), np.arange(100))
    with pytest.raises(ValidationError, match="batch_size=101 exceeds n=100"):
        RandomChoiceSampler(101, replace=False, seed=0).sample(100)


def test_an_injected_generator_is_used() -> None:
    a = RandomChoiceSampler(5, seed=np.random.default_rng(7)).sample(1000)
    b = np.random.default_rng(7).choice(1000, size=5, replace=True)
    np.testing.assert_array_equal(a, b)


@given(
    batch_size=st.integers(1, 20),
    n=st.integers(1, 60),
    seed=st.integers(0, 1000),
    drop_last=st.booleans(),
)
def test_shuffle_visits_every_example_once_per_epoch(
    batch_size: int, n: int, seed: int, drop_last: bool
) -> None:
    if drop_last and batch_size > n:
        return
    sampler = ShuffleSampler(batch_size, seed=seed, drop_last=drop_last)
    per_epoch = n // batch_size if drop_last else -(-n // batch_size)
    seen = np.concatenate([sampler.sample(n) for _ in range(per_epoch)])
    if drop_last:
        assert seen.size == per_epoch * batch_size
        assert len(np.unique(seen)) == seen.size
    else:
        np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    assert sampler.epoch == 0
    sampler.sample(n)
    assert sampler.epoch == 1


def test_shuffle_short_last_batch_and_drop_last() -> None:
    sampler = ShuffleSampler(4, seed=0)
    sizes = [sampler.sample(10).size for _ in range(4)]
    assert sizes == [4, 4, 2, 4]
    sampler = ShuffleSampler(4, seed=0, drop_last=True)
    sizes = [sampler.sample(10).size for _ in range(4)]
    assert sizes == [4, 4, 4, 4]
    assert sampler.epoch == 1
    with pytest.raises(ValidationError, match="drop_last=True"):
        ShuffleSampler(11, drop_last=True).sample(10)


@pytest.mark.parametrize(
    "make",
    [lambda: RandomChoiceSampler(3, seed=1), lambda: ShuffleSampler(3, seed=1)],
    ids=["choice", "shuffle"],
)
def test_state_round_trip_resumes_the_same_batches(make: Any) -> None:
    sampler = make()
    for _ in range(5):
        sampler.sample(10)
    state = {k: v.copy() for k, v in sampler.state().items()}
    expected = [sampler.sample(10).tolist() for _ in range(6)]
    fresh = make()
    fresh.load_state(state)
    assert [fresh.sample(10).tolist() for _ in range(6)] == expected


def test_bad_state_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="sampler state"):
        RandomChoiceSampler(3).load_state({"nope": np.array(1)})


@pytest.mark.parametrize("batch_size", [0, -1, True, 2.5, "10", None])
@pytest.mark.parametrize("sampler_type", [RandomChoiceSampler, ShuffleSampler])
def test_batch_size_must_be_a_positive_int(sampler_type: Any, batch_size: Any) -> None:
    with pytest.raises(
        ValidationError,
        match=f"batch_size must be a positive integer, got batch_size={batch_size!r}",
    ):
        sampler_type(batch_size)


@pytest.mark.parametrize("seed", [-1, 1.5, "x", True])
def test_bad_seed(seed: Any) -> None:
    with pytest.raises(ValidationError, match="seed must be"):
        RandomChoiceSampler(3, seed=seed)


@pytest.mark.parametrize("n", [0, -5, True, 3.0])
def test_bad_data_set_size(n: Any) -> None:
    with pytest.raises(ValidationError, match="n must be a positive integer"):
        RandomChoiceSampler(3).sample(n)


def test_minibatch_checks_lengths() -> None:
    with pytest.raises(ValidationError, match=r"x of shape \(3, 2\) and t of shape \(4,\)"):
        RandomChoiceSampler(2).minibatch(np.zeros((3, 2)), np.zeros(4))
