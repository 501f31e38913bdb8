"""The optimizers of the book's ``common/optimizer.py``, re-written from their update rules.

Plain classes over dicts of numpy arrays, as in the book: state created on the first call,
``update(params, grads)`` in place. Nothing here imports minifw, so a mistake in minifw's
optimizers cannot hide in its oracle.
"""

from __future__ import annotations

from typing import final

import numpy as np
from numpy.typing import NDArray

Arrays = dict[str, NDArray[np.float64]]


@final
class BookSGD:
    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr

    def update(self, params: Arrays, grads: Arrays) -> None:
        for key in params:
            params[key] -= self.lr * grads[key]


@final
class BookMomentum:
    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr = lr
        self.momentum = momentum
        self.v: Arrays | None = None

    def update(self, params: Arrays, grads: Arrays) -> None:
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


@final
class BookNesterov:
    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr = lr
        self.momentum = momentum
        self.v: Arrays | None = None

    def update(self, params: Arrays, grads: Arrays) -> None:
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        # The book's corrected rule (2021): the parameters move with the velocity before its
        # update, theta += mu^2 v - (1 + mu) lr g, then v = mu v - lr g (Bengio et al. 2012).
        for key in params:
            params[key] += self.momentum * self.momentum * self.v[key]
            params[key] -= (1 + self.momentum) * self.lr * grads[key]
            self.v[key] *= self.momentum
            self.v[key] -= self.lr * grads[key]


@final
class BookAdaGrad:
    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr
        self.h: Arrays | None = None

    def update(self, params: Arrays, grads: Arrays) -> None:
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


@final
class BookRMSprop:
    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        self.lr = lr
        self.decay_rate = decay_rate
        self.h: Arrays | None = None

    def update(self, params: Arrays, grads: Arrays) -> None:
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.h[key] *= self.decay_rate
            self.h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


@final
class BookAdam:
    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m: Arrays | None = None
        self.v: Arrays | None = None

    def update(self, params: Arrays, grads: Arrays) -> None:
        if self.m is None or self.v is None:
            self.m = {key: np.zeros_like(val) for key, val in params.items()}
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for key in params:
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)
