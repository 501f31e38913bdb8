"""minifw: loss functions, minibatches and numerical gradients on MNIST, as a small framework.

Examples:
    The public names, importable from `minifw`:

    >>> import minifw
    >>> minifw.CentralDiff().derivative(lambda x: x * x, 3.0)
    6.000000000012662

"""

from minifw._version import __version__
from minifw.data import MNIST, Dataset, FashionMNIST, Split
from minifw.errors import MinifwError
from minifw.nn.backprop import Backprop
from minifw.nn.gradcheck import gradcheck
from minifw.nn.layers import (
    Activation,
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Flatten,
    Layer,
    Pooling,
    ReLU,
    Reshape,
    Sigmoid,
    Softmax,
    Tanh,
    sigmoid,
    softmax,
)
from minifw.nn.losses import CrossEntropy, Loss, MeanSquared
from minifw.nn.models import (
    HasBackprop,
    Layered,
    Model,
    MultiLayerNet,
    MultiLayerNetExtend,
    Sequential,
    SimpleConvNet,
    TwoLayerNet,
    model_objective,
)
from minifw.numdiff.differentiator import Differentiator
from minifw.numdiff.fixed_step import StepWarning
from minifw.numdiff.function_check import VectorProduct, gradcheck_function, hessian_check
from minifw.numdiff.method import GradientMethod
from minifw.numdiff.objective import Chunked, Objective
from minifw.numdiff.perturbation import Perturbation
from minifw.numdiff.precision import PrecisionWarning
from minifw.numdiff.reports import DirectionCheck, GradcheckReport, ParamCheck
from minifw.numdiff.results import Estimate
from minifw.numdiff.schemes.backward import BackwardDiff
from minifw.numdiff.schemes.central import CentralDiff
from minifw.numdiff.schemes.complex_step import ComplexStep
from minifw.numdiff.schemes.five_point import FivePointDiff
from minifw.numdiff.schemes.forward import ForwardDiff
from minifw.numdiff.schemes.richardson import RichardsonDiff
from minifw.numdiff.stencil import Stencil
from minifw.numdiff.workers import WorkerError, process_pool
from minifw.train.optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, Optimizer, RMSprop
from minifw.train.sampling import BatchSampler, RandomChoiceSampler, ShuffleSampler
from minifw.train.trainer import Evaluation, History, Trainer

__all__ = [
    "MNIST",
    "SGD",
    "Activation",
    "AdaGrad",
    "Adam",
    "Affine",
    "Backprop",
    "BackwardDiff",
    "BatchNormalization",
    "BatchSampler",
    "CentralDiff",
    "Chunked",
    "ComplexStep",
    "Convolution",
    "CrossEntropy",
    "Dataset",
    "Differentiator",
    "DirectionCheck",
    "Dropout",
    "Estimate",
    "Evaluation",
    "FashionMNIST",
    "FivePointDiff",
    "Flatten",
    "ForwardDiff",
    "GradcheckReport",
    "GradientMethod",
    "HasBackprop",
    "History",
    "Layer",
    "Layered",
    "Loss",
    "MeanSquared",
    "MinifwError",
    "Model",
    "Momentum",
    "MultiLayerNet",
    "MultiLayerNetExtend",
    "Nesterov",
    "Objective",
    "Optimizer",
    "ParamCheck",
    "Perturbation",
    "Pooling",
    "PrecisionWarning",
    "RMSprop",
    "RandomChoiceSampler",
    "ReLU",
    "Reshape",
    "RichardsonDiff",
    "Sequential",
    "ShuffleSampler",
    "Sigmoid",
    "SimpleConvNet",
    "Softmax",
    "Split",
    "Stencil",
    "StepWarning",
    "Tanh",
    "Trainer",
    "TwoLayerNet",
    "VectorProduct",
    "WorkerError",
    "__version__",
    "gradcheck",
    "gradcheck_function",
    "hessian_check",
    "model_objective",
    "process_pool",
    "sigmoid",
    "softmax",
]
