"""Contracts every concrete Loss, Differentiator and BatchSampler must keep.

A new concrete subclass in minifw is tested by adding an instance to one of the lists below;
``test_every_concrete_subclass_is_listed`` fails until it is.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import attrs
import numpy as np
import pytest

import minifw
from minifw import BatchSampler, Differentiator, Loss
from minifw.app.registry import REGISTRY
from minifw.nn.losses import TargetClassLoss

LOSSES: list[Loss] = [minifw.MeanSquared(), minifw.CrossEntropy()]
# Every built-in scheme, from its one registration (a new scheme is its file and that line).
DIFFERENTIATORS: list[Differentiator] = [
    part.cls() for part in REGISTRY["differentiator"].parts if issubclass(part.cls, Differentiator)
]
SAMPLERS: list[BatchSampler] = [
    minifw.RandomChoiceSampler(8, seed=0),
    minifw.ShuffleSampler(8, seed=0),
]


def _concrete_subclasses(base: type) -> set[type]:
    """Concrete subclasses defined in minifw's modules (not in tests or doctest examples)."""
    found: set[type] = set()
    subclasses: list[type] = base.__subclasses__()
    for sub in subclasses:
        module = sys.modules.get(sub.__module__)
        defined_in_minifw = sub.__module__.startswith("minifw.") and (
            getattr(module, sub.__name__, None) is sub
        )
        if defined_in_minifw and not inspect.isabstract(sub):
            found.add(sub)
        found |= _concrete_subclasses(sub)
    return found


@pytest.mark.parametrize(
    ("base", "listed"),
    [(Loss, LOSSES), (Differentiator, DIFFERENTIATORS), (BatchSampler, SAMPLERS)],
    ids=["Loss", "Differentiator", "BatchSampler"],
)
def test_every_concrete_subclass_is_listed(base: type, listed: list[object]) -> None:
    # A differentiator is listed by its registration in minifw/app/registry.py.
    assert _concrete_subclasses(base) == {type(obj) for obj in listed}


@pytest.mark.parametrize("base", [Loss, Differentiator, BatchSampler])
def test_bases_are_abstract(base: type) -> None:
    assert inspect.isabstract(base)
    with pytest.raises(TypeError):
        base()


# --- Loss ------------------------------------------------------------------------------------

RNG = np.random.default_rng(1234)
Y = RNG.dirichlet(np.ones(10), size=6)
LABELS = RNG.integers(0, 10, size=6)


@pytest.fixture(params=LOSSES, ids=lambda loss: type(loss).__name__)
def loss(request: pytest.FixtureRequest) -> Loss:
    value: Loss = request.param
    return value


def test_loss_returns_a_float(loss: Loss) -> None:
    value = loss(Y, LABELS)
    assert type(value) is float
    assert np.isfinite(value)


def test_loss_reductions_agree(loss: Loss) -> None:
    cls = type(loss)
    per_example = cls(reduction="none")(Y, LABELS)
    assert isinstance(per_example, np.ndarray)
    assert per_example.shape == (6,)
    assert per_example.dtype == np.float64
    assert cls(reduction="sum")(Y, LABELS) == pytest.approx(per_example.sum(), rel=1e-14)
    assert loss(Y, LABELS) == pytest.approx(per_example.mean(), rel=1e-14)


def test_loss_single_sample_is_a_batch_of_one(loss: Loss) -> None:
    assert loss(Y[0], int(LABELS[0])) == loss(Y[:1], LABELS[:1])
    assert loss(Y[0].tolist(), np.eye(10)[LABELS[0]].tolist()) == loss(Y[:1], LABELS[:1])


def test_loss_index_and_one_hot_labels_agree(loss: Loss) -> None:
    assert loss(Y, LABELS) == loss(Y, np.eye(10)[LABELS])


def test_loss_does_not_modify_inputs(loss: Loss) -> None:
    y, t = Y.copy(), np.eye(10)[LABELS]
    t_copy = t.copy()
    loss.per_example(y, t)
    loss.change(y, t, 0.01 * y)
    loss(y, t)
    np.testing.assert_array_equal(y, Y)
    np.testing.assert_array_equal(t, t_copy)


def test_loss_change_agrees_with_two_evaluations(loss: Loss) -> None:
    y, t = loss.prepare(Y, LABELS)
    dy = 1e-3 * (RNG.dirichlet(np.ones(10), size=6) - y)
    expected = loss.per_example(y + dy, t) - loss.per_example(y, t)
    np.testing.assert_allclose(loss.change(y, t, dy), expected, rtol=1e-9, atol=1e-15)
    # The precise rule and the base class's generic two evaluations agree.
    generic = Loss.change(loss, y, t, dy)
    np.testing.assert_allclose(loss.change(y, t, dy), generic, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("scale", [1e-6, 1e-3, 1e-2])
def test_loss_series_agrees_with_precise_changes(loss: Loss, scale: float) -> None:
    # Predictions move along a smooth path y(u); the series of the loss change, evaluated at u,
    # matches the precise change of the moved prediction.
    y, t = loss.prepare(Y, LABELS)
    direction = RNG.normal(size=y.shape)
    order = 8
    dy = np.zeros((order, *y.shape))
    dy[0] = direction
    dy[1] = 0.5 * direction**2
    reach = np.full(y.shape[0], scale)
    found = loss.series(y, t, dy, reach)
    assert found is not None
    series, ok = found
    assert ok.all() if scale <= 1e-6 else ok.any()  # trusted only where it converges fast
    u = scale
    moved = u * direction + 0.5 * (u * direction) ** 2
    expected = loss.change(y, t, moved)
    powers = np.array([u**p for p in range(1, order + 1)])
    value = np.einsum("p,pr->r", powers, series)
    # Where the series is trusted and its last term is negligible, it is the change.
    converged = ok & (np.abs(series[-1]) * u**order <= 1e-17 * np.abs(value))
    assert converged.any()
    np.testing.assert_allclose(value[converged], expected[converged], rtol=1e-12)


@pytest.mark.parametrize("u", [1e-6, 1e-3])
def test_a_target_class_rule_is_the_change_of_the_target_prediction(loss: Loss, u: float) -> None:
    # The target's prediction moves by y_c * r(u), r(u) = u + u^2 (a relative move); the rule's
    # series at u is the change of moving that one prediction.
    if not isinstance(loss, TargetClassLoss):
        return
    y, t = loss.prepare(Y, LABELS)
    target = loss.target_classes(t)
    assert target is not None
    rows = np.arange(y.shape[0])
    order = 8
    relative = np.zeros((order, y.shape[0]))
    relative[:2] = 1.0
    series, ok = loss.target_series(y[rows, target], t[rows, target], relative, np.full(6, u))
    dy = np.zeros_like(y)
    dy[rows, target] = y[rows, target] * (u + u * u)
    expected = loss.change(y, t, dy)
    value = np.einsum("p,pr->r", np.array([u**p for p in range(1, order + 1)]), series)
    assert ok.all()
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    assert loss.target_classes(RNG.dirichlet(np.ones(10), size=3)) is None  # soft targets


def test_loss_is_immutable_and_has_a_repr(loss: Loss) -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        loss.reduction = "sum"  # type: ignore[misc]
    assert repr(loss).startswith(type(loss).__name__ + "(")
    assert loss == type(loss)()


def test_loss_rejects_bad_reduction(loss: Loss) -> None:
    with pytest.raises(minifw.MinifwError, match="reduction"):
        type(loss)(reduction="mean ")  # type: ignore[arg-type]


# --- Differentiator ----------------------------------------------------------------------------


@pytest.fixture(params=DIFFERENTIATORS, ids=lambda d: type(d).__name__)
def diff(request: pytest.FixtureRequest) -> Differentiator:
    value: Differentiator = request.param
    return value


def test_differentiator_defaults_to_the_books_step(diff: Differentiator) -> None:
    # The book's step for every fixed real stencil; the complex step and Richardson's first
    # step are chosen by their own rules.
    expected = {minifw.ComplexStep: 1e-20, minifw.RichardsonDiff: "auto"}.get(type(diff), 1e-4)
    assert type(diff)().h == expected


def test_stencil_is_a_first_derivative(diff: Differentiator) -> None:
    stencil = diff.stencil
    assert sum(w * o for w, o in zip(stencil.weights, stencil.offsets, strict=True)) == 1.0


def test_differentiator_is_exact_for_linear_functions(diff: Differentiator) -> None:
    a = np.array([[1.5, -2.0, 0.25], [3.0, 0.0, -1.0]])
    x = RNG.normal(size=a.shape)
    grad = diff.gradient(lambda v: np.sum(a * v), x)
    np.testing.assert_allclose(grad, a, rtol=0, atol=1e-10)


def test_differentiator_has_first_order_accuracy(diff: Differentiator) -> None:
    for h in (1e-2, 1e-3):
        value = type(diff)(h=h).derivative(np.exp, 0.5)
        assert abs(value - np.exp(0.5)) < 2 * h


def test_differentiator_entry_points_agree(diff: Differentiator) -> None:
    x = np.array([0.3, -1.2, 2.0])

    def f(v: np.ndarray) -> Any:
        return np.sin(v[0]) * v[1] + v[2] ** 3

    grad = diff.gradient(f, x.copy())
    for i in range(3):
        assert diff.partial(f, x, i) == grad[i]
    assert diff.derivative(lambda s: f(np.array([s, -1.2, 2.0])), 0.3) == grad[0]


def test_differentiator_restores_x(diff: Differentiator) -> None:
    x = RNG.normal(size=(3, 4))
    before = x.copy()
    diff.gradient(lambda v: np.sum(np.cos(v)), x)
    assert x.tobytes() == before.tobytes()


def test_differentiator_estimates_are_its_values(diff: Differentiator) -> None:
    # One estimate type for every scheme: the values of the plain entry points, an error bound
    # where the scheme has one (nan where it has none), and the evaluations it took.
    x = np.array([0.3, -1.2, 2.0])

    def f(v: np.ndarray) -> Any:
        return np.sin(v[0]) * v[1] + v[2] ** 3

    found = diff.gradient_estimate(f, x.copy())
    assert isinstance(found, minifw.Estimate)
    assert found.value.tobytes() == diff.gradient(f, x.copy()).tobytes()
    assert found.error.shape == x.shape
    exact = np.array([np.cos(0.3) * -1.2, np.sin(0.3), 3 * 2.0**2])
    if isinstance(diff, minifw.RichardsonDiff):
        assert np.all(np.abs(found.value - exact) <= found.error)
    else:
        assert np.all(np.isnan(found.error))
    point = diff.estimate(lambda s: f(np.array([s, -1.2, 2.0])), 0.3)
    assert point.value == found.value[0]
    offsets = len(diff.stencil.offsets)
    if isinstance(diff, minifw.RichardsonDiff):  # six or more per coordinate, and the point
        assert found.evaluations >= 1 + 6 * x.size
        assert point.evaluations >= 7
    elif diff.stencil.is_complex:  # the point, one call per offset, real checks of a sample
        assert 1 + offsets * x.size < found.evaluations <= 1 + (offsets + 4) * x.size
        assert point.evaluations in (4, 6)
    else:  # the point, and one call per offset
        assert found.evaluations == 1 + offsets * x.size
        assert point.evaluations == offsets + 1
    arrays = {"x": x.copy()}
    objective = minifw.Perturbation(lambda: f(arrays["x"]), arrays)
    assert diff.estimates(objective)["x"] == found


# --- BatchSampler --------------------------------------------------------------------------------


@pytest.fixture(params=SAMPLERS, ids=lambda s: type(s).__name__)
def sampler(request: pytest.FixtureRequest) -> BatchSampler:
    # A fresh copy with the same configuration, so tests do not share generator state.
    proto: BatchSampler = request.param
    return attrs.evolve(proto)


def test_sampler_indices_are_in_range(sampler: BatchSampler) -> None:
    for _ in range(20):
        idx = sampler.sample(50)
        assert idx.dtype == np.intp
        assert 1 <= idx.size <= sampler.batch_size
        assert np.all((idx >= 0) & (idx < 50))


def test_sampler_is_reproducible_from_its_seed(sampler: BatchSampler) -> None:
    twin = attrs.evolve(sampler)
    for _ in range(10):
        np.testing.assert_array_equal(sampler.sample(30), twin.sample(30))


def test_sampler_state_round_trip(sampler: BatchSampler) -> None:
    sampler.sample(30)
    state = sampler.state()
    expected = [sampler.sample(30) for _ in range(7)]
    sampler.load_state(state)
    for batch in expected:
        np.testing.assert_array_equal(sampler.sample(30), batch)


def test_sampler_minibatch_pairs_x_and_t(sampler: BatchSampler) -> None:
    x = np.arange(40.0).reshape(20, 2)
    t = np.arange(20)
    xb, tb = sampler.minibatch(x, t)
    np.testing.assert_array_equal(xb[:, 0], 2.0 * tb)


# --- Model -------------------------------------------------------------------------------------

MODELS: list[minifw.Model] = [
    minifw.TwoLayerNet(input_size=12, hidden_size=5, output_size=4, weight_init_std=0.5, seed=0),
    minifw.MultiLayerNet(12, (5, 3), 4, activation="sigmoid", weight_init=1.0, seed=0),
    minifw.Sequential(
        [
            minifw.Affine.init(12, 5, std=0.5, rng=np.random.default_rng(0)),
            minifw.Tanh(),
            minifw.Affine.init(5, 4, std=0.5, rng=np.random.default_rng(1)),
            minifw.Softmax(),
        ]
    ),
    minifw.MultiLayerNetExtend(12, [8, 6], 4, weight_decay_lambda=0.1, use_batchnorm=True, seed=0),
    minifw.SimpleConvNet(
        input_dim=(1, 3, 4),
        conv_param={"filter_num": 3, "filter_size": 2, "pad": 0, "stride": 1},
        hidden_size=5,
        output_size=4,
        weight_init_std=0.5,
        seed=0,
    ),
]
X_SMALL = RNG.random((7, 12)) * (RNG.random((7, 12)) < 0.5)
T_SMALL = RNG.integers(0, 4, size=7)
# Without zero pixels: a patch of zeros would put a convolution's output (its bias starts at 0)
# exactly on ReLU's kink, where no gradient exists to check.
X_DENSE = np.random.default_rng(12).random((7, 12)) + 0.1


def inputs(model: minifw.Model) -> np.ndarray:
    return X_DENSE if isinstance(model, minifw.SimpleConvNet) else X_SMALL


def test_every_concrete_model_is_listed() -> None:
    assert _concrete_subclasses(minifw.Model) == {type(m) for m in MODELS}


@pytest.fixture(params=MODELS, ids=lambda m: type(m).__name__)
def model(request: pytest.FixtureRequest) -> minifw.Model:
    proto: minifw.Model = request.param
    fresh = attrs.evolve(proto)  # same configuration and seed: same initial parameters
    for name, value in proto.params.items():
        np.testing.assert_array_equal(fresh.params[name], value)
    return fresh


def test_model_params_are_named_float64_arrays(model: minifw.Model) -> None:
    assert model.params
    for name, value in model.params.items():
        assert isinstance(name, str)
        assert value.dtype == np.float64
        assert np.all(np.isfinite(value))


def test_model_predicts_one_row_per_example(model: minifw.Model) -> None:
    y = model.predict(inputs(model))
    assert y.shape[0] == 7
    assert y.dtype == np.float64
    assert 0.0 <= model.accuracy(inputs(model), T_SMALL) <= 1.0


def test_model_objective_matches_perturbing_coordinates(model: minifw.Model) -> None:
    loss, x = minifw.CrossEntropy(), inputs(model)
    own = minifw.CentralDiff().gradients(model.objective(x, T_SMALL, loss))
    generic = minifw.CentralDiff().gradients(
        minifw.Perturbation(lambda: model.loss(x, T_SMALL, loss), model.params)
    )
    # Against each array's scale, or a ten-thousandth of the model's (a bias before batch
    # normalization has a zero gradient: both give rounding for it).
    floor = 1e-4 * max(float(np.abs(value).max()) for value in generic.values())
    for name, value in generic.items():
        scale = max(float(np.abs(value).max()), floor)
        np.testing.assert_allclose(own[name], value, rtol=0, atol=1e-7 * scale)


def test_model_backprop_passes_gradcheck(model: minifw.Model) -> None:
    for loss in (minifw.CrossEntropy(), minifw.MeanSquared(reduction="sum")):
        report = minifw.gradcheck(model, inputs(model), T_SMALL, loss)
        assert report.passed, str(report)


# --- Dataset -----------------------------------------------------------------------------------


def _tiny_split(n: int) -> minifw.Split:
    return minifw.Split(x=np.zeros((n, 784), dtype=np.float32), t=np.arange(n) % 10)


DATASETS: list[minifw.Dataset] = [
    minifw.MNIST(train=_tiny_split(20), test=_tiny_split(10)),
    minifw.FashionMNIST(train=_tiny_split(20), test=_tiny_split(10)),
]


def test_every_concrete_dataset_is_listed() -> None:
    assert _concrete_subclasses(minifw.Dataset) == {type(d) for d in DATASETS}


@pytest.mark.parametrize("dataset", DATASETS, ids=lambda d: type(d).__name__)
def test_dataset_splits(dataset: minifw.Dataset) -> None:
    assert len(dataset.train) == 20
    assert len(dataset.test) == 10
    assert dataset.num_classes == 10
    assert dataset.train.x.shape[0] == dataset.train.t.shape[0]
