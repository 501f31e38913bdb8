"""The reliability catalogue, class 4 (issue 22): user layers that break the layer contract.

A layer of one's own that writes into its input or into a move, returns integers, or whose
`change` is not the difference of its `forward` (wrong shape, zero, ignoring the move, off by a
factor) used to give silently wrong or zero numerical gradients. Each case now: a
`LayerContractError` naming the layer and what it did, when the objective is built (so the same in
`gradcheck`), with the parameters as they were, bit for bit. A correct layer passes with its
gradients unchanged bit for bit, built-in layers are never checked, and a layer is checked once
per input shape however many objectives are built.
"""

from __future__ import annotations

import abc
from typing import final

import attrs
import numpy as np
import pytest

import minifw
from minifw import CentralDiff, CrossEntropy, Perturbation, Sequential
from minifw.errors import LayerContractError, ValidationError
from minifw.nn.layered import LayeredObjective, contract
from minifw.nn.layers import Activation, Affine, Layer, Softmax
from minifw.typing import AnyArray, FloatArray

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 4))
T = np.array([0, 1, 2, 0, 1, 2])


class SoftCube(Layer, abc.ABC):
    r"""y = x + x**3 / 3, elementwise (not declared so): correct rules the cases below break one of."""

    @property
    def params(self) -> dict[str, FloatArray]:
        return {}

    def forward(self, x: AnyArray) -> AnyArray:
        out: AnyArray = x + x**3 / 3
        return out

    def backward(
        self, x: AnyArray, y: AnyArray, dy: AnyArray
    ) -> tuple[AnyArray, dict[str, AnyArray]]:
        return dy * (1 + x**2), {}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        # (x + d)^3 - x^3 = 3 x^2 d + 3 x d^2 + d^3: the exact difference, no cancellation.
        out: AnyArray = dx * (1 + x**2 + x * dx + dx**2 / 3)
        return out


@final
class GoodCube(SoftCube):
    """The rules as they should be."""


@final
class InPlaceForward(SoftCube):
    """forward computes into its input (x += ...), as an in-place ReLU does."""

    def forward(self, x: AnyArray) -> AnyArray:
        x += x**3 / 3
        return x


@final
class InPlaceChange(SoftCube):
    """change scales the move in place (dx *= slope) and returns it."""

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        dx *= 1 + x**2
        return dx


@final
class InPlaceBackward(SoftCube):
    """backward scales the incoming gradient in place."""

    def backward(
        self, x: AnyArray, y: AnyArray, dy: AnyArray
    ) -> tuple[AnyArray, dict[str, AnyArray]]:
        dy *= 1 + x**2
        return dy, {}


@final
class IntegerOutputs(SoftCube):
    """forward rounds to integers."""

    def forward(self, x: AnyArray) -> AnyArray:
        return np.rint(super().forward(x)).astype(np.int64)


@final
class IntegerChange(SoftCube):
    """change rounds to integers (every small move becomes 0)."""

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        return np.rint(super().change(x, y, dx)).astype(np.int64)


@final
class SummedChange(SoftCube):
    """change returns one value per row, not the output's shape."""

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        out: AnyArray = np.sum(super().change(x, y, dx), axis=1)
        return out


@final
class ZeroChange(SoftCube):
    """change returns zeros."""

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        return np.zeros_like(dx)


@final
class IgnoresMove(SoftCube):
    """change answers for a fixed move of 1e-4, whatever dx is."""

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        out: AnyArray = 1e-4 * (1 + x**2)
        return out


@final
class DoubledChange(SoftCube):
    """change off by a factor of 2."""

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        out: AnyArray = 2 * super().change(x, y, dx)
        return out


@final
class LinearizedChange(SoftCube):
    """change is the derivative times the move (the first-order term only), not the difference."""

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        out: AnyArray = dx * (1 + x**2)
        return out


def net_of(layer: Layer) -> Sequential:
    """The user layer first (no input shape: no assembly dry run), then a small classifier."""
    rng = np.random.default_rng(1)
    return Sequential([layer, Affine.init(4, 3, std=0.5, rng=rng), Softmax()])


def snapshot(net: Sequential) -> dict[str, bytes]:
    return {name: np.asarray(arr).tobytes() for name, arr in net.params.items()}


CASES: list[tuple[type[SoftCube], str]] = [
    (InPlaceForward, r"layer 0 \(InPlaceForward\)\.forward writes into its input x"),
    (InPlaceChange, r"layer 0 \(InPlaceChange\)\.change writes into its argument dx"),
    (InPlaceBackward, r"layer 0 \(InPlaceBackward\)\.backward writes into its argument dy"),
    (IntegerOutputs, r"layer 0 \(IntegerOutputs\)\.forward returns integers \(dtype int64\)"),
    (IntegerChange, r"layer 0 \(IntegerChange\)\.change returns integers \(dtype int64\)"),
    (SummedChange, r"layer 0 \(SummedChange\)\.change must return shape \(3, 4\), got \(3,\)"),
    (ZeroChange, r"layer 0 \(ZeroChange\)\.change is not the change of its forward"),
    (IgnoresMove, r"layer 0 \(IgnoresMove\)\.change is not the change of its forward"),
    (DoubledChange, r"layer 0 \(DoubledChange\)\.change is not the change of its forward"),
    (LinearizedChange, r"layer 0 \(LinearizedChange\)\.change is not the change of its forward"),
]
IDS = [cls.__name__ for cls, _ in CASES]


@pytest.mark.parametrize(("cls", "words"), CASES, ids=IDS)
def test_a_layer_breaking_its_contract_is_named_and_nothing_moves(
    cls: type[SoftCube], words: str
) -> None:
    net = net_of(cls())
    before, x = snapshot(net), X.copy()
    with pytest.raises(LayerContractError, match=words):
        net.objective(X, T, CrossEntropy())
    with pytest.raises(LayerContractError, match=words):
        minifw.gradcheck(net, X, T, CrossEntropy())
    assert snapshot(net) == before
    np.testing.assert_array_equal(X, x)  # the batch handed in is untouched too


def unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch the check off, as before it existed (the objective then trusts the layer)."""
    monkeypatch.setattr(contract, "check_layers", lambda *args: None)


def loop_gradients(net: Sequential) -> dict[str, FloatArray]:
    """The book's loop: every coordinate perturbed in place, the whole network run twice."""
    return CentralDiff().gradients(Perturbation(lambda: net.loss(X, T, CrossEntropy()), net.params))


@pytest.mark.parametrize("cls", [ZeroChange, IgnoresMove, DoubledChange, IntegerChange])
def test_without_the_check_those_layers_give_silently_wrong_gradients(
    cls: type[SoftCube], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the check prevents: with the layer after Affine, W1's moves cross it by its change,
    # and the fast gradient of W1 differs from the loop's, with no error.
    rng = np.random.default_rng(1)
    net = Sequential(
        [Affine.init(4, 4, std=0.5, rng=rng), cls(), Affine.init(4, 3, std=0.5, rng=rng), Softmax()]
    )
    unchecked(monkeypatch)
    fast = CentralDiff().gradients(net.objective(X, T, CrossEntropy()))
    loop = loop_gradients(net)
    assert np.max(np.abs(fast["W1"] - loop["W1"])) > 1e-3 * np.max(np.abs(loop["W1"]))


def test_a_layer_that_writes_into_its_input_is_refused_when_the_model_is_built() -> None:
    # With the input shape known, the assembly's dry run hands it read-only inputs too.
    with pytest.raises(
        LayerContractError, match=r"layer 1 \(InPlaceForward\)\.forward writes into its input x"
    ):
        Sequential([Affine(W=np.eye(4), b=np.zeros(4)), InPlaceForward(), Softmax()])


def test_a_change_of_the_wrong_shape_is_refused_when_the_model_is_built() -> None:
    with pytest.raises(
        ValidationError, match=r"layer 1 \(SummedChange\)\.change must return the shape"
    ):
        Sequential([Affine(W=np.eye(4), b=np.zeros(4)), SummedChange(), Softmax()])


@final
@attrs.define(eq=False)
class LeakyReLU(Activation):
    """The leaky ReLU of docs/howto/new-layer.md, verbatim but for the types."""

    a: float = 0.01

    def forward(self, x: AnyArray) -> AnyArray:
        return np.where(np.real(x) > 0, x, self.a * x)

    def slope(self, x: AnyArray, y: AnyArray) -> AnyArray:
        return np.where(np.real(x) > 0, 1.0, self.a)

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        after = x + dx
        same_side = (np.real(x) > 0) == (np.real(after) > 0)
        return np.where(same_side, self.slope(x, y) * dx, self.forward(after) - y)

    def taylor(self, x: AnyArray, y: AnyArray, order: int) -> tuple[AnyArray, FloatArray]:
        coeffs = np.zeros((order, *np.shape(x)))
        coeffs[0] = self.slope(x, y)
        return coeffs, np.abs(np.real(x))


def leaky_net() -> Sequential:
    rng = np.random.default_rng(2)
    return Sequential(
        [
            Affine.init(4, 5, std=1.0, rng=rng),
            LeakyReLU(),
            Affine.init(5, 3, std=1.0, rng=rng),
            Softmax(),
        ]
    )


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the layers the check tries, in order."""
    seen: list[str] = []
    inner = contract._check_layer

    def counted(k: int, layer: Layer, batch: AnyArray) -> None:
        seen.append(type(layer).__name__)
        inner(k, layer, batch)

    monkeypatch.setattr(contract, "_check_layer", counted)
    return seen


@pytest.mark.parametrize("scheme", [CentralDiff(), CentralDiff(h=1e-6)])
def test_a_correct_layer_passes_and_its_gradients_are_unchanged_bit_for_bit(
    scheme: CentralDiff, calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    net = leaky_net()
    checked = scheme.gradients(net.objective(X, T, CrossEntropy()))
    report = minifw.gradcheck(net, X, T, CrossEntropy(), scheme)
    assert calls == ["LeakyReLU"]
    unchecked(monkeypatch)
    trusted = scheme.gradients(net.objective(X, T, CrossEntropy()))
    assert {k: v.tobytes() for k, v in checked.items()} == {
        k: v.tobytes() for k, v in trusted.items()
    }
    again = minifw.gradcheck(net, X, T, CrossEntropy(), scheme)
    assert report.passed
    assert again.passed
    assert [c.max_abs_error for c in report.checks] == [c.max_abs_error for c in again.checks]


def test_moves_across_a_kink_pass_since_the_change_is_the_difference() -> None:
    # Inputs at and next to the kink: the moves cross it, and change is exact there too.
    x = np.array([[0.0, 1e-5, -1e-5, 2e-4], [-3e-4, 1e-9, 0.5, -0.5], [1e-3, -1e-3, 0.0, 1.0]])
    layer = LeakyReLU()
    acts = (contract.read_only(x), layer.forward(x))
    contract._check_layer(0, layer, acts[0])
    contract._check_layer(0, GoodCube(), acts[0])


@final
class CenteredCube(SoftCube):
    """The soft cube minus its batch mean (rows coupled); its batch_change forgets the mean."""

    def forward(self, x: AnyArray) -> AnyArray:
        out = super().forward(x)
        centered: AnyArray = out - out.mean(axis=0)
        return centered

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        out = super().change(x, y, dx)
        centered: AnyArray = out - out.mean(axis=0)
        return centered

    def batch_change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        # Wrong: each lane's change without the move of the batch's mean.
        return np.stack([super(CenteredCube, self).change(x, y, lane) for lane in dx])


def test_a_row_coupled_layer_is_checked_with_batch_change() -> None:
    with pytest.raises(
        LayerContractError, match=r"layer 0 \(CenteredCube\)\.batch_change is not the change"
    ):
        net_of(CenteredCube()).objective(X, T, CrossEntropy())


@final
@attrs.define(eq=False)
class RowWeights(Layer):
    """y = w_n x_n with one weight per row of the batch it was made for (so it couples the rows)."""

    w: FloatArray

    @property
    def params(self) -> dict[str, FloatArray]:
        return {}

    def forward(self, x: AnyArray) -> AnyArray:
        out: AnyArray = x * self.w[:, None]
        return out

    def backward(
        self, x: AnyArray, y: AnyArray, dy: AnyArray
    ) -> tuple[AnyArray, dict[str, AnyArray]]:
        return dy * self.w[:, None], {}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        return self.forward(dx)

    def batch_change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        out: AnyArray = dx * self.w[None, :, None]
        return out


def test_a_row_coupled_layer_is_tried_on_the_whole_batch_it_is_made_for() -> None:
    net = net_of(RowWeights(w=np.linspace(0.5, 2.0, X.shape[0])))
    fast = CentralDiff().gradients(net.objective(X, T, CrossEntropy()))
    loop = loop_gradients(net)
    np.testing.assert_allclose(fast["W1"], loop["W1"], rtol=0, atol=1e-9)


@final
class ZeroUnits(SoftCube):
    """Declares itself elementwise, with a unit_change of zeros (its change is right)."""

    def unit_change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        return np.zeros_like(dx)

    def unit_series(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, AnyArray]:
        return np.zeros_like(dx), np.zeros(dx.shape[-1], dtype=bool)


def test_the_unit_rule_of_an_elementwise_layer_is_checked_too() -> None:
    with pytest.raises(
        LayerContractError, match=r"layer 0 \(ZeroUnits\)\.unit_change is not the change"
    ):
        net_of(ZeroUnits()).objective(X, T, CrossEntropy())


def test_builtin_layers_are_never_checked(calls: list[str]) -> None:
    for net in (
        minifw.TwoLayerNet(4, 5, 3, seed=0),
        minifw.MultiLayerNetExtend(4, (5,), 3, use_batchnorm=True, use_dropout=True, seed=0),
    ):
        minifw.gradcheck(net, X, T, CrossEntropy())
    assert calls == []


def test_a_layer_is_checked_once_per_input_shape_however_many_objectives(calls: list[str]) -> None:
    net = leaky_net()
    for start in range(3):  # as a Trainer does: one objective per step, on other batches
        net.objective(X[start : start + 3], T[start : start + 3], CrossEntropy())
    assert calls == ["LeakyReLU"]
    leaky_net().objective(X, T, CrossEntropy())  # another instance is checked for itself
    assert calls == ["LeakyReLU", "LeakyReLU"]


def test_a_failing_layer_is_checked_again_each_time() -> None:
    net = net_of(DoubledChange())
    for _ in range(2):
        with pytest.raises(LayerContractError, match="DoubledChange"):
            net.objective(X, T, CrossEntropy())


def test_the_held_activations_and_the_moves_are_read_only() -> None:
    seen: list[bool] = []

    @final
    class Spy(SoftCube):
        def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
            seen.append(dx.flags.writeable)
            return super().change(x, y, dx)

    rng = np.random.default_rng(1)
    net = Sequential(
        [Affine.init(4, 4, std=0.5, rng=rng), Spy(), Affine.init(4, 3, std=0.5, rng=rng), Softmax()]
    )
    seen.clear()  # the assembly's dry run moved a row of ones
    objective = net.objective(X, T, CrossEntropy())
    assert isinstance(objective, LayeredObjective)
    assert not any(a.flags.writeable for a in objective.acts)
    CentralDiff(h=1e-2).gradients(objective)  # large steps: the exact route, through change
    assert seen
    assert not any(seen)
    assert net.predict(X).flags.writeable  # what the model returns stays the caller's to write
