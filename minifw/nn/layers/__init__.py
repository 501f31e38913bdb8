r"""Layers: forward pass, backward pass, and how a move of the input or of a parameter moves the output.

The contract and its capabilities are in `layer.py` ([`Layer`][minifw.nn.layers.Layer]); the
built-in layers one concept a file: the activations ([`Sigmoid`][minifw.nn.layers.Sigmoid],
[`Tanh`][minifw.nn.layers.Tanh], [`ReLU`][minifw.nn.layers.ReLU], in `activations.py`),
[`Affine`][minifw.nn.layers.Affine] (`affine.py`) and [`Softmax`][minifw.nn.layers.Softmax]
(`softmax.py`).

Numerical gradients of a model built from layers ([`Sequential`][minifw.nn.models.Sequential]) use
the change rules to push the effect of one parameter through only the layers after it, and only
through the rows (examples) it reaches; layers whose change is a smooth function of the move also
give its Taylor series, which lets tiny steps be evaluated with a few multiply-adds.

Examples:
    >>> import numpy as np
    >>> from minifw.nn.layers import Sigmoid
    >>> x = np.array([[0.0, 2.0]])
    >>> y = Sigmoid().forward(x)
    >>> Sigmoid().change(x, y, np.array([[1e-9, 1e-9]]))  # sigma'(x) * 1e-9, to the last digit
    array([[2.50000000e-10, 1.04993585e-10]])

"""

from minifw.nn.layers.activations import Activation, ReLU, Sigmoid, Tanh, sigmoid
from minifw.nn.layers.affine import Affine
from minifw.nn.layers.layer import (
    Elementwise,
    HasStepMoves,
    Layer,
    Linear,
    RelativeOutputs,
    SeriesLayer,
)
from minifw.nn.layers.softmax import Softmax, softmax

__all__ = [
    "Activation",
    "Affine",
    "Elementwise",
    "HasStepMoves",
    "Layer",
    "Linear",
    "ReLU",
    "RelativeOutputs",
    "SeriesLayer",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "sigmoid",
    "softmax",
]
