"""Loss functions: how far a prediction is from the answer, and every rule of each loss.

[`Loss`][minifw.nn.losses.Loss] (`loss.py`) is the base class: a new loss implements one method,
[`per_example`][minifw.nn.losses.Loss.per_example]; its change, series and gradient rules sit on
the same class with correct defaults. The built-in losses, one a file:
[`MeanSquared`][minifw.nn.losses.MeanSquared] (`mean_squared.py`) and
[`CrossEntropy`][minifw.nn.losses.CrossEntropy] (`cross_entropy.py`).

Examples:
    >>> from minifw import CrossEntropy, MeanSquared
    >>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    >>> t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    >>> round(MeanSquared()(y, t), 12)
    0.0975
    >>> CrossEntropy()(y, 2)
    0.510825457099338

"""

from minifw.nn.losses.cross_entropy import CrossEntropy
from minifw.nn.losses.loss import ChecksInputs, HasLossGradient, Loss, Reduction, TargetClassLoss
from minifw.nn.losses.mean_squared import MeanSquared

__all__ = [
    "ChecksInputs",
    "CrossEntropy",
    "HasLossGradient",
    "Loss",
    "MeanSquared",
    "Reduction",
    "TargetClassLoss",
]
