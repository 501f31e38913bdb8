"""The exceptions minifw raises.

Every error minifw raises on purpose is a [`MinifwError`][minifw.errors.MinifwError], so one
`except` clause catches them all. The subclasses say which part of the framework refused, and the
message names the argument, what was expected and what arrived.

Examples:
    >>> from minifw import MinifwError, CrossEntropy
    >>> try:
    ...     CrossEntropy(eps=0.0)
    ... except MinifwError as err:
    ...     print(err)
    eps must be a positive finite float, got eps=0.0

"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DatasetNotFoundError",
    "DifferentiationError",
    "DownloadError",
    "IDXFormatError",
    "IntegrityError",
    "LayerContractError",
    "MinifwError",
    "NotSupportedError",
    "TrainingError",
    "ValidationError",
]


class MinifwError(Exception):
    """Base class of every error minifw raises on purpose.

    Examples:
        >>> issubclass(ValidationError, MinifwError)
        True

    """


class ValidationError(MinifwError, ValueError):
    """An argument has the wrong type, shape, dtype or value.

    Also a `ValueError`, so code written against plain Python conventions still catches it.

    Examples:
        >>> from minifw import RandomChoiceSampler
        >>> RandomChoiceSampler(batch_size=0)
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: batch_size must be a positive integer, got batch_size=0

    """


class DifferentiationError(MinifwError, ArithmeticError):
    """A numerical derivative cannot be trusted.

    Raised when a step vanishes against the point (`x + h == x`), or when the function returns a
    value that is not a finite scalar.
    """


class LayerContractError(DifferentiationError):
    """A layer of your own breaks the rules every layer keeps, so its gradients would be wrong.

    It modified an argument (its input, or a move), returned integers, or a `change` that is not
    the difference of its `forward`; the message names the layer and what it did.
    """


class DataError(MinifwError):
    """A data set cannot be read, found or fetched."""


class IDXFormatError(DataError):
    """A file is not a well-formed IDX file (or not a readable gzip stream of one)."""


class IntegrityError(DataError):
    """A file's checksum is not the one recorded for it."""


class DownloadError(DataError):
    """Every mirror failed to deliver a file; the message lists what each one did."""


class DatasetNotFoundError(DataError):
    """The files of a data set are not where they were looked for."""


class NotSupportedError(MinifwError, NotImplementedError):
    """An optional capability (such as an analytic gradient) is not provided by this object."""


class ConfigError(MinifwError, ValueError):
    """A configuration file or a Trainer field is invalid; the message names the key."""


class TrainingError(MinifwError, ArithmeticError):
    """Training cannot continue, for instance because the loss became nan or inf."""


class CheckpointError(MinifwError):
    """A checkpoint file cannot be written or does not match the trainer it is loaded into."""
