"""minifw: loss functions, minibatches and numerical gradients on MNIST, as a small framework.

Examples:
    The public names, importable from `minifw`:

    >>> import minifw
    >>> minifw.CentralDiff().derivative(lambda x: x * x, 3.0)
    6.000000000012662

"""

from minifw.data import MNIST, Dataset, FashionMNIST, Split
from minifw.differentiation import (
    BackwardDiff,
    CentralDiff,
    ComplexStep,
    Differentiator,
    Estimate,
    FivePointDiff,
    ForwardDiff,
    GradientEstimate,
    HasErrorEstimate,
    RichardsonDiff,
    Stencil,
    StepWarning,
)
from minifw.errors import MinifwError
from minifw.gradcheck import (
    DirectionCheck,
    GradcheckReport,
    ParamCheck,
    gradcheck,
    gradcheck_function,
)
from minifw.layers import Activation, Affine, Layer, ReLU, Sigmoid, Softmax, Tanh, sigmoid, softmax
from minifw.losses import CrossEntropy, Loss, MeanSquared
from minifw.models import (
    Backprop,
    HasBackprop,
    Layered,
    Model,
    MultiLayerNet,
    Sequential,
    TwoLayerNet,
    model_objective,
)
from minifw.objective import Chunked, Objective, Perturbation
from minifw.optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, Optimizer, RMSprop
from minifw.parallel import WorkerError, process_pool
from minifw.sampling import BatchSampler, RandomChoiceSampler, ShuffleSampler
from minifw.trainer import Evaluation, History, Trainer

__version__ = "0.1.0"

__all__ = [
    "MNIST",
    "SGD",
    "Activation",
    "AdaGrad",
    "Adam",
    "Affine",
    "Backprop",
    "BackwardDiff",
    "BatchSampler",
    "CentralDiff",
    "Chunked",
    "ComplexStep",
    "CrossEntropy",
    "Dataset",
    "Differentiator",
    "DirectionCheck",
    "Estimate",
    "Evaluation",
    "FashionMNIST",
    "FivePointDiff",
    "ForwardDiff",
    "GradcheckReport",
    "GradientEstimate",
    "HasBackprop",
    "HasErrorEstimate",
    "History",
    "Layer",
    "Layered",
    "Loss",
    "MeanSquared",
    "MinifwError",
    "Model",
    "Momentum",
    "MultiLayerNet",
    "Nesterov",
    "Objective",
    "Optimizer",
    "ParamCheck",
    "Perturbation",
    "RMSprop",
    "RandomChoiceSampler",
    "ReLU",
    "RichardsonDiff",
    "Sequential",
    "ShuffleSampler",
    "Sigmoid",
    "Softmax",
    "Split",
    "Stencil",
    "StepWarning",
    "Tanh",
    "Trainer",
    "TwoLayerNet",
    "WorkerError",
    "__version__",
    "gradcheck",
    "gradcheck_function",
    "model_objective",
    "process_pool",
    "sigmoid",
    "softmax",
]
