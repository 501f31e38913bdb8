r"""Optimizers: how a gradient becomes a change of the parameters.

An [`Optimizer`][minifw.train.optimizers.Optimizer] moves every parameter array against its gradient with
[`update`][minifw.train.optimizers.Optimizer.update], in place, keeping whatever it remembers between
steps (a velocity, running averages) per parameter name. The rules and defaults are those of the
book's `common/optimizer.py`: [`SGD`][minifw.train.optimizers.SGD],
[`Momentum`][minifw.train.optimizers.Momentum], [`Nesterov`][minifw.train.optimizers.Nesterov],
[`AdaGrad`][minifw.train.optimizers.AdaGrad], [`RMSprop`][minifw.train.optimizers.RMSprop] and
[`Adam`][minifw.train.optimizers.Adam].

Hyperparameters are the optimizer's fields, checked when it is built; the state is kept apart from
them (it is neither in the `repr` nor compared by `==`) and travels as plain arrays with
[`state`][minifw.train.optimizers.Optimizer.state] and
[`load_state`][minifw.train.optimizers.Optimizer.load_state], so a checkpoint can carry it.

Examples:
    >>> import numpy as np
    >>> from minifw import Momentum
    >>> params = {"w": np.array([1.0, -2.0])}
    >>> optimizer = Momentum(learning_rate=0.1)
    >>> for _ in range(2):
    ...     optimizer.update(params, {"w": np.array([1.0, -1.0])})
    >>> params["w"]
    array([ 0.71, -1.71])
    >>> optimizer.state()["v.w"]
    array([-0.19,  0.19])

"""


from minifw.train.optimizers.adagrad import AdaGrad
from minifw.train.optimizers.adam import Adam
from minifw.train.optimizers.base import MAX_STEP, CheckedParams, Optimizer, OptimizerState, Update
from minifw.train.optimizers.momentum import Momentum
from minifw.train.optimizers.nesterov import Nesterov
from minifw.train.optimizers.rmsprop import RMSprop
from minifw.train.optimizers.sgd import SGD

__all__ = [
    "MAX_STEP",
    "SGD",
    "AdaGrad",
    "Adam",
    "CheckedParams",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "OptimizerState",
    "RMSprop",
    "Update",
]
