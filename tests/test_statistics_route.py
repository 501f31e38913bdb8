"""The statistics route: steps before the last of two batch normalizations, by matrix products.

Its trusted lanes must equal the exact batch route (the dense move of the whole batch) to a
quarter of the last bit of the summed loss, which is well under the per-coordinate loop's
rounding; the other lanes are the exact route's own values. The exact route itself is checked
against the book's loop in `test_column_route.py`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_column_route import LABELS, Extend, X, fast_and_masks

from minifw import CentralDiff, CrossEntropy, ForwardDiff
from minifw.nn.layered.statistics_route import StatisticsRoute
from minifw.typing import AnyArray


def exact_route(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send every lane to the exact batch route (the statistics route declines everywhere)."""
    monkeypatch.setattr(StatisticsRoute, "linear_layer", lambda self, k: None)


def trusted_lanes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Record, per call, how many lanes the statistics route trusts and how many moving ones not."""
    counts: list[tuple[int, int]] = []
    changes = StatisticsRoute.changes

    def counted(self: StatisticsRoute, linear: int, move: Any) -> tuple[AnyArray, AnyArray]:
        values, trusted = changes(self, linear, move)
        moving = np.any(move.data != 0.0, axis=1)
        counts.append((int(np.sum(trusted)), int(np.sum(~trusted & moving))))
        return values, trusted

    monkeypatch.setattr(StatisticsRoute, "changes", counted)
    return counts


@pytest.mark.parametrize("h", [1e-4, 1e-3, 1e-6])
@pytest.mark.parametrize("case", [{}, {"decay": 0.1}], ids=["relu", "decay"])
def test_statistics_route_is_the_exact_route(
    monkeypatch: pytest.MonkeyPatch, case: dict[str, Any], h: float
) -> None:
    net = Extend(**case)
    with monkeypatch.context() as patch:
        counts = trusted_lanes(patch)
        fast, _ = fast_and_masks(net, CentralDiff(h=h))
    assert sum(trusted for trusted, _ in counts) > 0  # the route took lanes
    with monkeypatch.context() as patch:
        exact_route(patch)
        reference, _ = fast_and_masks(net, CentralDiff(h=h))
    loss = float(net.objective(X, LABELS, CrossEntropy()).value())
    # A quarter of the last bit of the loss per change, two changes per coordinate, over 2h.
    bound = 2.0**-53 * loss / h
    for name, value in reference.items():
        assert float(np.max(np.abs(fast[name] - value))) <= bound, name
    # ... while a wrong term of the expansion (first order in the scale's change) would show:
    assert float(np.max(np.abs(reference["W1"]))) > 1e3 * bound


def test_large_steps_leave_the_statistics_route(monkeypatch: pytest.MonkeyPatch) -> None:
    # At h = 0.05 the batch statistics move by far more than the expansion allows: the lanes
    # that move anything are not trusted, and the gradient is the exact route's.
    net = Extend()
    with monkeypatch.context() as patch:
        counts = trusted_lanes(patch)
        fast, _ = fast_and_masks(net, ForwardDiff(h=0.05))
    assert sum(untrusted for _, untrusted in counts) > 0
    exact_route(monkeypatch)
    reference, _ = fast_and_masks(net, ForwardDiff(h=0.05))
    loss = float(net.objective(X, LABELS, CrossEntropy()).value())
    for name, value in reference.items():
        assert float(np.max(np.abs(fast[name] - value))) <= 2.0**-53 * loss / 0.05, name


@pytest.mark.parametrize("rows", [1, 2])
def test_tiny_batches_are_the_exact_route(monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    # A batch of one has zero variance (scale 1/sqrt(eps), every ReLU behind it on its kink):
    # the route trusts nothing it cannot bound, warns of nothing, and gives the exact route's values.
    net = Extend()
    diff = CentralDiff(h=1e-4)
    fast = diff.gradients(net.objective(X[:rows], LABELS[:rows], CrossEntropy()))
    exact_route(monkeypatch)
    reference = diff.gradients(net.objective(X[:rows], LABELS[:rows], CrossEntropy()))
    loss = float(net.objective(X[:rows], LABELS[:rows], CrossEntropy()).value())
    for name, value in reference.items():
        assert float(np.max(np.abs(fast[name] - value))) <= 2.0**-53 * loss / 1e-4, name
