"""The validation vocabulary, and the parts' validators that use it (issue 12, item 7)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minifw import RandomChoiceSampler, ShuffleSampler, Stencil
from minifw._validation import (
    BOOL,
    COUNT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    SEED,
    SEED_NUMBER,
    Check,
    one_of,
)
from minifw.errors import ConfigError, ValidationError


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (
            POSITIVE_FLOAT,
            [1e-300, 2, np.float64(0.5), 10**300],
            [0, -1.0, True, "1", float("nan"), float("inf"), 10**400, None],
        ),
        (POSITIVE_INT, [1, np.int64(3), 2**70], [0, -1, True, 1.0, "1", None]),
        (COUNT, [0, 5, np.uint8(2)], [-1, False, 0.0, "0", None]),
        (BOOL, [True, False], [0, 1, "true", None]),
        (SEED, [None, 0, 2**128 - 1, np.random.default_rng(0)], [-1, 2**128, True, 1.5, "1"]),
        (SEED_NUMBER, [0, 2**128 - 1], [None, -1, 2**128, True, np.random.default_rng(0)]),
        (one_of("a", 1), ["a", 1], ["b", 1.0, True, np.array([1, 1])]),
    ],
    ids=["positive_float", "positive_int", "count", "bool", "seed", "seed_number", "one_of"],
)
def test_each_check_accepts_and_refuses(check: Check, good: list[Any], bad: list[Any]) -> None:
    assert all(check.accepts(v) for v in good)
    assert not any(check.accepts(v) for v in bad)


@given(st.one_of(st.integers(), st.floats(), st.text(), st.booleans(), st.none()))
def test_checks_never_raise_on_any_value(value: object) -> None:
    for check in (POSITIVE_FLOAT, POSITIVE_INT, COUNT, BOOL, SEED, POSITIVE_INT.at_most(9, "9")):
        assert isinstance(check.accepts(value), bool)


def test_a_limit_has_its_own_words() -> None:
    check = POSITIVE_INT.at_most(2**31, "2**31")
    assert check.message("n", 0) == "n must be a positive integer, got n=0"
    assert check.message("n", 2**31 + 1) == "n must be at most 2**31, got n=2147483649"
    assert check.accepts(2**31)
    with pytest.raises(ConfigError, match=r"^Trainer field n must be at most 2\*\*31"):
        check.raising(ConfigError, "Trainer field ").require("n", 2**40)


def test_or_none_keeps_the_limit() -> None:
    check = POSITIVE_INT.at_most(4, "4").or_none()
    assert check.optional
    assert not POSITIVE_INT.optional
    assert check.accepts(None)
    assert check.accepts(4)
    assert check.message("k", 5) == "k must be at most 4, got k=5"
    assert check.message("k", 0) == "k must be None or a positive integer, got k=0"


# --- the parts' validators ------------------------------------------------------------------------


@pytest.mark.parametrize("sampler_type", [RandomChoiceSampler, ShuffleSampler])
def test_a_huge_batch_size_is_refused_clearly(sampler_type: Any) -> None:
    with pytest.raises(
        ValidationError,
        match=r"^batch_size must be at most 2\*\*31, got batch_size=1180591620717411303424$",
    ):
        sampler_type(2**70)
    with pytest.raises(ValidationError, match=r"^seed must be None, an integer in 0..2\*\*128-1"):
        sampler_type(10, seed=2**200)


@pytest.mark.parametrize(
    ("offsets", "weights"),
    [("12", "10"), (["1"], [1.0]), ((1.0,), (True,)), (1.0, 1.0), ((None,), (1.0,))],
)
def test_stencil_takes_numbers_only(offsets: Any, weights: Any) -> None:
    with pytest.raises(ValidationError, match="stencil offsets and weights must be"):
        Stencil(offsets, weights)


def test_stencil_still_takes_numpy_numbers() -> None:
    assert Stencil(np.array([1.0, -1.0]), (np.float64(0.5), -0.5)).offsets == (1.0, -1.0)


def _used_shuffle_sampler() -> ShuffleSampler:
    sampler = ShuffleSampler(batch_size=3, seed=0)
    for _ in range(2):
        sampler.sample(7)
    return sampler


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"order": np.array([0, 1, 2, 3, 4, 5, 9])}, r"order must be a permutation of 0..6"),
        ({"order": np.array([0, 1, 1, 3, 4, 5, 6])}, r"order must be a permutation of 0..6"),
        ({"order": np.array([-1, 1, 2, 3, 4, 5, 6])}, r"order must be a permutation"),
        ({"order": np.arange(7.0)}, r"order must be a 1-D array of integers"),
        ({"order": np.arange(8).reshape(2, 4)}, r"order must be a 1-D array of integers"),
        ({"position": np.array(-1)}, r"position must be an integer in 0..7, got -1"),
        ({"position": np.array(8)}, r"position must be an integer in 0..7, got 8"),
        ({"position": np.array(1.5)}, r"position must be an integer in 0..7"),
        ({"epoch": np.array(-2)}, r"epoch must be a non-negative integer, got -2"),
        ({"rng": np.array("{}")}, r"state must be a sampler state from ShuffleSampler"),
    ],
)
def test_a_bad_shuffle_state_changes_nothing(change: dict[str, Any], fragment: str) -> None:
    sampler = _used_shuffle_sampler()
    before = sampler.state()
    with pytest.raises(ValidationError, match=fragment):
        sampler.load_state({**before, **change})
    after = sampler.state()
    assert sorted(after) == sorted(before)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])
    twin = _used_shuffle_sampler()
    assert sampler.sample(7).tolist() == twin.sample(7).tolist()


def test_a_missing_shuffle_state_key_is_named() -> None:
    sampler = ShuffleSampler(batch_size=3, seed=0)
    with pytest.raises(ValidationError, match=r"got keys \['rng'\]"):
        sampler.load_state({"rng": sampler.state()["rng"]})
