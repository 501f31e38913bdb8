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
| [`SeriesLayer`][minifw.nn.layers.SeriesLayer] | the Taylor series of its change (tiny steps take a few multiply-adds) | all but `TrainingBatchNorm` |
| [`Elementwise`][minifw.nn.layers.Elementwise] | output unit \(j\) depends on input unit \(j\) alone: a move of one unit stays one | the activations, `Dropout`, `DropoutMask`, the reshapes |
| [`HasTaylor`][minifw.nn.layers.HasTaylor] | the Taylor coefficients of an elementwise change at every input: a move along a vector stays a few terms | the activations, `DropoutMask` |
| [`Linear`][minifw.nn.layers.Linear] | the change is linear in the move and the same at every input | `Affine` |
| [`HasStepMoves`][minifw.nn.layers.HasStepMoves] | how a step of each of its parameters moves its output | `Affine`, `Convolution`, `TrainingBatchNorm` |
| [`Channelwise`][minifw.nn.layers.Channelwise] | output channel \(c\) of an image depends on input channel \(c\) alone: a move of one channel stays one | `Pooling` |
| [`RelativeOutputs`][minifw.nn.layers.RelativeOutputs] | how chosen outputs move relatively under a move along fixed vectors | `Softmax` |
| [`HasParamGradients`][minifw.nn.layers.HasParamGradients] | the gradient of its parameters without that of its input (a first layer's backprop) | `Affine` |
| [`RowCoupled`][minifw.nn.layers.RowCoupled] | its rows are coupled (batch statistics): a move of one row moves every row, so the engine moves the whole batch | `TrainingBatchNorm` |
| [`Featurewise`][minifw.nn.layers.Featurewise] | a row-coupled layer that keeps a move of one feature in every row a move of that feature (its column's statistics alone) | `TrainingBatchNorm` |
| [`RankOneCoupled`][minifw.nn.layers.RankOneCoupled] | a row-coupled layer whose change for a rank-one move of the batch is a rescaled rank-one move | `TrainingBatchNorm` |
| [`PiecewiseLinear`][minifw.nn.layers.PiecewiseLinear] | elementwise and linear between kinks: its slope and how far each input may move | `ReLU`, `DropoutMask`, the reshapes |
| [`PerExample`][minifw.nn.layers.PerExample] | its rule differs per example: it gives the part that acts on the rows (and units) a move reaches | `DropoutMask` |
| [`HasTrainingMode`][minifw.nn.layers.HasTrainingMode] | how it acts in training on one batch (the book's `train_flg=True`), as another layer | `Dropout`, `BatchNormalization` |
| [`HasRunningStatistics`][minifw.nn.layers.HasRunningStatistics] | statistics a training pass moves (once per objective) | `BatchNormalization` |

A layer without them is still exact: moves pass through its `change`, and its parameters are
perturbed in place and the network recomputed from that layer on.

The contract is in `layer.py`; the built-in layers one concept a file: the activations
([`Sigmoid`][minifw.nn.layers.Sigmoid], [`Tanh`][minifw.nn.layers.Tanh],
[`ReLU`][minifw.nn.layers.ReLU], in `activations.py`), [`Affine`][minifw.nn.layers.Affine]
(`affine.py`), [`Softmax`][minifw.nn.layers.Softmax] (`softmax_layer.py`), and the book's later
layers: [`Convolution`][minifw.nn.layers.Convolution] (`convolution.py`, with the
[`im2col`][minifw.nn.layers.im2col] helpers in `patches.py`),
[`Pooling`][minifw.nn.layers.Pooling] (`pooling.py`),
[`BatchNormalization`][minifw.nn.layers.BatchNormalization] (`batch_norm.py`),
[`Dropout`][minifw.nn.layers.Dropout] (`dropout.py`) and the reshapes between images and rows
([`Flatten`][minifw.nn.layers.Flatten], [`Reshape`][minifw.nn.layers.Reshape], `reshape.py`).
The arrays a layer is built from are checked by one function (`arrays.py`).

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
from minifw.nn.layers.batch_norm import BatchNormalization, TrainingBatchNorm
from minifw.nn.layers.convolution import Convolution
from minifw.nn.layers.dropout import Dropout, DropoutMask
from minifw.nn.layers.layer import (
    Channelwise,
    Elementwise,
    Featurewise,
    HasParamGradients,
    HasRunningStatistics,
    HasStepMoves,
    HasTaylor,
    HasTrainingMode,
    Layer,
    Linear,
    PerExample,
    PiecewiseLinear,
    RankOneCoupled,
    RelativeOutputs,
    RowCoupled,
    SeriesLayer,
)
from minifw.nn.layers.patches import col2im, im2col
from minifw.nn.layers.pooling import Pooling
from minifw.nn.layers.reshape import Flatten, Reshape, Reshaping
from minifw.nn.layers.softmax_layer import Softmax, softmax

__all__ = [
    "Activation",
    "Affine",
    "BatchNormalization",
    "Channelwise",
    "Convolution",
    "Dropout",
    "DropoutMask",
    "Elementwise",
    "Featurewise",
    "Flatten",
    "HasParamGradients",
    "HasRunningStatistics",
    "HasStepMoves",
    "HasTaylor",
    "HasTrainingMode",
    "Layer",
    "Linear",
    "PerExample",
    "PiecewiseLinear",
    "Pooling",
    "RankOneCoupled",
    "ReLU",
    "RelativeOutputs",
    "Reshape",
    "Reshaping",
    "RowCoupled",
    "SeriesLayer",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "TrainingBatchNorm",
    "col2im",
    "im2col",
    "sigmoid",
    "softmax",
]
