r"""Models: named parameter arrays and a prediction; networks built from layers.

The base class and the objective of any model are in `model.py`
([`Model`][minifw.nn.models.Model], [`ModelObjective`][minifw.nn.models.ModelObjective],
[`model_objective`][minifw.nn.models.model_objective], [`HasBackprop`][minifw.nn.models.HasBackprop]);
models made of layers in `layered.py` ([`Layered`][minifw.nn.models.Layered]) and
`sequential.py` ([`Sequential`][minifw.nn.models.Sequential]); the book's networks in
`multi_layer_net.py` ([`MultiLayerNet`][minifw.nn.models.MultiLayerNet]), `two_layer_net.py`
([`TwoLayerNet`][minifw.nn.models.TwoLayerNet]), `multi_layer_net_extend.py`
([`MultiLayerNetExtend`][minifw.nn.models.MultiLayerNetExtend]: weight decay, dropout, batch
normalization) and `simple_conv_net.py` ([`SimpleConvNet`][minifw.nn.models.SimpleConvNet], chapter
7); how they draw their first weights in `init.py`; the live `params` of layered models in
`params.py`. Numerical gradients reach a model through
[`objective`][minifw.nn.models.Model.objective]; for a model built from layers that is a
[`LayeredObjective`][minifw.nn.layered.LayeredObjective], which recomputes only what a coordinate
changes. Exact gradients are [`Backprop`][minifw.nn.models.Backprop], a gradient method like the
finite-difference schemes (defined in [`minifw.nn.backprop`][minifw.nn.backprop]).

Examples:
    >>> from minifw.nn.models import MultiLayerNet
    >>> sorted(MultiLayerNet(input_size=4, hidden_sizes=(3,), output_size=2, seed=0).params)
    ['W1', 'W2', 'b1', 'b2']

"""

from minifw.nn.backprop import Backprop
from minifw.nn.models.layered import Layered
from minifw.nn.models.model import (
    HasBackprop,
    Model,
    ModelObjective,
    analytic_gradient,
    model_objective,
)
from minifw.nn.models.multi_layer_net import MultiLayerNet
from minifw.nn.models.multi_layer_net_extend import MultiLayerNetExtend
from minifw.nn.models.sequential import Sequential
from minifw.nn.models.simple_conv_net import SimpleConvNet
from minifw.nn.models.two_layer_net import TwoLayerNet

__all__ = [
    "Backprop",
    "HasBackprop",
    "Layered",
    "Model",
    "ModelObjective",
    "MultiLayerNet",
    "MultiLayerNetExtend",
    "Sequential",
    "SimpleConvNet",
    "TwoLayerNet",
    "analytic_gradient",
    "model_objective",
]
