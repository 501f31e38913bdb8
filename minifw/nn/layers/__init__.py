r"""Layers: forward pass, backward pass, and how a move of the input or of a parameter moves the output.

A [`Layer`][minifw.nn.layers.Layer] maps a batch of inputs `x` (axis 0 are the examples, any
shape after it) to outputs `y` and keeps its rules side by side:

- [`forward`][minifw.nn.layers.Layer.forward]: \(y = f(x)\);
- [`backward`][minifw.nn.layers.Layer.backward]: the exact gradient, \(\partial L/\partial x\) and
  \(\partial L/\partial \theta\) from \(\partial L/\partial y\) (backpropagation);
- [`change`][minifw.nn.layers.Layer.change]: \(f(x + \Delta x) - f(x)\) for many moves \(\Delta x\)
  at once, computed without the cancellation of subtracting two outputs, so that the tiny moves of
  a finite difference keep their precision.

Fast numerical gradients of a model built from layers ([`Sequential`][minifw.nn.models.Sequential],
through [`minifw.nn.layered`][minifw.nn.layered]) push the effect of one parameter through only
the layers after it, as *moves* of their activations, and only through the examples it reaches.
A layer says more about how moves pass through it by declaring capabilities, each a protocol of a
method or two:

| capability | what the layer says | built-in layers that have it |
|---|---|---|
| [`SeriesLayer`][minifw.nn.layers.SeriesLayer] | the Taylor series of its change (tiny steps take a few multiply-adds) | all |
| [`Elementwise`][minifw.nn.layers.Elementwise] | output unit \(j\) depends on input unit \(j\) alone: a move of one unit stays one | the activations |
| [`HasTaylor`][minifw.nn.layers.HasTaylor] | the Taylor coefficients of an elementwise change at every input: a move along a vector stays a few terms | the activations |
| [`Linear`][minifw.nn.layers.Linear] | the change is linear in the move and the same at every input | `Affine` |
| [`HasStepMoves`][minifw.nn.layers.HasStepMoves] | how a step of each of its parameters moves its output | `Affine` |
| [`RelativeOutputs`][minifw.nn.layers.RelativeOutputs] | how chosen outputs move relatively under a move along fixed vectors | `Softmax` |
| [`HasParamGradients`][minifw.nn.layers.HasParamGradients] | the gradient of its parameters without that of its input (a first layer's backprop) | `Affine` |

A layer without them is still exact: moves pass through its `change`, and its parameters are
perturbed in place and the network recomputed from that layer on.

The contract is in `layer.py`; the built-in layers one concept a file: the activations
([`Sigmoid`][minifw.nn.layers.Sigmoid], [`Tanh`][minifw.nn.layers.Tanh],
[`ReLU`][minifw.nn.layers.ReLU], in `activations.py`), [`Affine`][minifw.nn.layers.Affine]
(`affine.py`) and [`Softmax`][minifw.nn.layers.Softmax] (`softmax_layer.py`).

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
    HasParamGradients,
    HasStepMoves,
    HasTaylor,
    Layer,
    Linear,
    RelativeOutputs,
    SeriesLayer,
)
from minifw.nn.layers.softmax_layer import Softmax, softmax

__all__ = [
    "Activation",
    "Affine",
    "Elementwise",
    "HasParamGradients",
    "HasStepMoves",
    "HasTaylor",
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
