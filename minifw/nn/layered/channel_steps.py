r"""Channel steps: how a step of a convolution's filters or bias moves its output.

A convolution \(y_{nfp} = b_f + \sum_k W_{fk}\,\mathrm{col}_{npk}\) (positions \(p\), patch entries
\(k = (c, i, j)\), as `im2col` lays them out) is linear in its
parameters, and a step reaches one output channel:

- [`ScaledChannelSteps`][minifw.nn.layered.channel_steps.ScaledChannelSteps]: a step \(s\) of
  \(W_{fk}\) moves channel \(f\) of example \(n\) at every position \(p\) by \(s\,\mathrm{col}_{npk}\),
  the patch entry \(k\) seen there;
- [`UniformChannelSteps`][minifw.nn.layered.channel_steps.UniformChannelSteps]: a step of \(b_f\)
  moves channel \(f\) at every position of every example by \(s\).

The move of coordinate \(c\) per unit step is its *pattern* \(\pi_{cnp}\) (one image per example).
Unlike a fully connected layer's unit steps, a channel move reaches many units of one example at
once, and the layers after it mix them (the next fully connected layer), so the example's loss
change is not a sum over units: the [batch route][minifw.nn.layered.batch_route] pushes every
coordinate's move through the later layers exactly, many coordinates at once.

Examples:
    >>> import numpy as np
    >>> factor = np.arange(8.0).reshape(2, 1, 4)              # 2 patch entries, 1 example, 4 positions
    >>> move = ScaledChannelSteps(channels=np.array([0, 0, 1, 1]), factor=factor, inputs=np.array([0, 1, 0, 1]))
    >>> move.take(np.array([3])).patterns().tolist()          # W[1, 1]: channel 1 by s * col[:, :, 1]
    [[[4.0, 5.0, 6.0, 7.0]]]
    >>> UniformChannelSteps(channels=np.array([1]), examples=1, positions=4).patterns().tolist()
    [[[1.0, 1.0, 1.0, 1.0]]]

"""

from __future__ import annotations

import abc
from typing import final

import attrs
import numpy as np

from minifw.nn.layered.steps import StepEngine, StepMove
from minifw.nn.layered.steps import _indices as _wrong_indices
from minifw.typing import AnyArray, FloatArray, IntArray

__all__ = ["ChannelSteps", "ScaledChannelSteps", "UniformChannelSteps"]


@attrs.frozen
class ChannelSteps(StepMove):
    r"""Steps that move one output channel (`channels[c]`) of every example, at every position.

    The layer's output is `(N, F, O_H, O_W)`; channel \(f\) is the run of flat features
    `f * positions ... (f + 1) * positions - 1`. A kind gives each coordinate's pattern
    ([`patterns`][minifw.nn.layered.channel_steps.ChannelSteps.patterns]), the route does the rest.
    """

    channels: IntArray

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, int]:
        """`(examples, positions)`: the batch size and the positions of one channel."""

    @abc.abstractmethod
    def patterns(self) -> AnyArray:
        r"""Return every coordinate's move per unit step, \(\pi_{cnp}\): `(C, N, positions)`."""

    def check(self, coordinates: int, examples: int, features: int) -> str | None:
        """Say what is wrong with the batch size, the positions or `channels`."""
        batch, positions = self.shape
        if batch != examples:
            return f"examples is {batch!r} for a batch of {examples}"
        if positions < 1 or features % positions:
            return f"positions ({positions}) must divide the layer's {features} output features"
        return _wrong_indices(self.channels, "channels", coordinates, features // positions)

    @final
    def pieces_of(self, piece_of_unit: IntArray) -> IntArray:
        """Return the piece of each coordinate's channel (that of its first unit)."""
        pieces: IntArray = piece_of_unit[self.channels * self.shape[1]]
        return pieces

    @final
    def loss_changes(
        self, engine: StepEngine, k: int, local: str, steps: AnyArray, weights: AnyArray
    ) -> AnyArray:
        """Ask the engine's channel route (exact, many coordinates at once)."""
        return engine.channel_steps(k, local, self, steps, weights)


@final
@attrs.frozen
class ScaledChannelSteps(ChannelSteps):
    r"""Channel `channels[c]` of example \(n\) moves at position \(p\) by \(s\,\)`factor[inputs[c], n, p]`.

    For the filters of a convolution, `factor` holds the patches transposed, `(K, N, positions)`
    (`factor[k, n, p]` is `im2col(x)[n * positions + p, k]`), and coordinate \(W_{fk}\) has channel
    \(f\) and input \(k\).
    """

    factor: FloatArray
    inputs: IntArray

    @property
    def shape(self) -> tuple[int, int]:
        """`factor.shape[1:]`."""
        return int(self.factor.shape[1]), int(self.factor.shape[2])

    def check(self, coordinates: int, examples: int, features: int) -> str | None:
        """Say what is wrong with `factor` (a 3-D array), `channels` or `inputs`."""
        factor = self.factor
        if not isinstance(factor, np.ndarray) or factor.ndim != 3:
            shape = getattr(factor, "shape", type(factor).__name__)
            return f"factor must be a 3-D array (inputs, examples, positions), got {shape}"
        found = super().check(coordinates, examples, features)
        return found or _wrong_indices(self.inputs, "inputs", coordinates, factor.shape[0])

    def take(self, index: IntArray) -> ScaledChannelSteps:
        """Return the steps of the coordinates `index` (sharing the factor)."""
        return ScaledChannelSteps(
            channels=self.channels[index], factor=self.factor, inputs=self.inputs[index]
        )

    def row_bound(self) -> FloatArray:
        r"""\(\max_{k, p} |a_{knp}|\) per example."""
        bound: FloatArray = np.max(np.abs(self.factor), axis=(0, 2))
        return bound

    def patterns(self) -> AnyArray:
        """`factor[inputs]`."""
        found: AnyArray = self.factor[self.inputs]
        return found


@final
@attrs.frozen
class UniformChannelSteps(ChannelSteps):
    r"""Channel `channels[c]` moves by the step \(s\) itself at every position of every example (a bias)."""

    examples: int
    positions: int

    @property
    def shape(self) -> tuple[int, int]:
        """`(examples, positions)`."""
        return self.examples, self.positions

    def take(self, index: IntArray) -> UniformChannelSteps:
        """Return the steps of the coordinates `index`."""
        return UniformChannelSteps(
            channels=self.channels[index], examples=self.examples, positions=self.positions
        )

    def row_bound(self) -> FloatArray:
        """1 in every example."""
        return np.ones(self.examples)

    def patterns(self) -> AnyArray:
        """Ones: `(C, N, positions)`."""
        return np.ones((self.channels.size, self.examples, self.positions))
