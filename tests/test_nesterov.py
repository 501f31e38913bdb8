"""Nesterov's accelerated gradient: the book's corrected form is Nesterov's method, the printed one is not."""

from __future__ import annotations

import numpy as np
import pytest
from oracles.book_optimizers import BookNesterov

from minifw import Nesterov

A = np.array([[3.0, 0.5], [0.5, 1.0]])


def gradient(theta: np.ndarray) -> np.ndarray:
    """Of the quadratic 0.5 theta' A theta."""
    out: np.ndarray = A @ theta
    return out


@pytest.mark.parametrize(("lr", "mu"), [(0.01, 0.9), (0.1, 0.5)])
def test_it_is_nesterovs_method_at_the_look_ahead_point(lr: float, mu: float) -> None:
    # Nesterov: v <- mu v - lr grad(theta + mu v), theta <- theta + v. The optimizer holds the
    # look-ahead point Theta = theta + mu v and takes the gradient there.
    theta, v = np.array([1.0, -2.0]), np.zeros(2)
    params = {"w": theta + mu * v}
    optimizer = Nesterov(learning_rate=lr, momentum=mu)
    for _ in range(20):
        optimizer.update(params, {"w": gradient(params["w"])})
        v = mu * v - lr * gradient(theta + mu * v)
        theta = theta + v
        np.testing.assert_allclose(params["w"], theta + mu * v, rtol=1e-12, atol=1e-15)


def test_the_printed_form_is_a_different_step() -> None:
    # The first printing updates v first: theta moves by mu^3 v - (1 + mu + mu^2) lr g instead.
    mu, lr, g = 0.9, 0.01, np.array([1.0])
    params, printed = {"w": np.array([0.0])}, np.array([0.0])
    optimizer, v = Nesterov(), np.zeros(1)
    for _ in range(3):
        optimizer.update(params, {"w": g})
        v = mu * v - lr * g
        printed = printed + mu * mu * v - (1 + mu) * lr * g
    assert abs(params["w"][0] - printed[0]) > 1e-3


def test_it_is_the_books_corrected_rule_to_the_last_bit() -> None:
    rng = np.random.default_rng(0)
    ours, theirs = {"w": rng.normal(size=(3, 2))}, {}
    theirs["w"] = ours["w"].copy()
    optimizer, book = Nesterov(learning_rate=0.05, momentum=0.8), BookNesterov(lr=0.05, momentum=0.8)
    for _ in range(5):
        g = {"w": rng.normal(size=(3, 2))}
        optimizer.update(ours, g)
        book.update(theirs, g)
    assert ours["w"].tobytes() == theirs["w"].tobytes()
    assert book.v is not None
    assert optimizer.state()["v.w"].tobytes() == book.v["w"].tobytes()  # the same state: v
