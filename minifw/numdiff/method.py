"""Gradient methods: what turns an objective into the gradient of each of its parameter arrays.

A [`Differentiator`][minifw.numdiff.differentiator.Differentiator] does it with finite differences
of the objective's changes; the network wing's [`Backprop`][minifw.nn.models.Backprop] from the
activations an objective of a layered model already holds. A
[`Trainer`][minifw.train.trainer.Trainer] takes either, and calls it the same way.
"""

from __future__ import annotations

import abc

import attrs

from minifw.numdiff.objective import Objective
from minifw.numdiff.results import Estimate
from minifw.numdiff.workers import Workers
from minifw.typing import FloatArray

__all__ = ["GradientMethod"]


@attrs.frozen
class GradientMethod(abc.ABC):
    """The gradient of an objective, for every parameter array: the one call training makes."""

    @abc.abstractmethod
    def gradients(self, objective: Objective, *, workers: Workers = None) -> dict[str, FloatArray]:
        """Return the gradient of `objective` for each of its parameter arrays, by name.

        `workers` says where the work runs ([`minifw.numdiff.workers`][minifw.numdiff.workers]);
        the result is the same to the last bit whatever it is.
        """

    @abc.abstractmethod
    def estimates(
        self, objective: Objective, *, workers: Workers = None
    ) -> dict[str, Estimate[FloatArray]]:
        """Return the gradient of `objective` with error bounds and evaluations, by array name.

        The values are those of [`gradients`][minifw.numdiff.method.GradientMethod.gradients];
        the [`Estimate`][minifw.numdiff.results.Estimate]'s error is nan where the method does
        not bound it.
        """
