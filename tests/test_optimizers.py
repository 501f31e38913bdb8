"""Optimizers: the book's rules (against an independent oracle), state, and the contract.

A new concrete Optimizer in minifw is tested by adding an instance to ``OPTIMIZERS`` (and its
book counterpart to ``ORACLES``); ``test_every_concrete_optimizer_is_listed`` fails until it is.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracles.book_optimizers import (
    BookAdaGrad,
    BookAdam,
    BookMomentum,
    BookNesterov,
    BookRMSprop,
    BookSGD,
)
from test_contracts import _concrete_subclasses

import minifw
from minifw import SGD, AdaGrad, Adam, Momentum, Nesterov, Optimizer, RMSprop
from minifw._validation import check_params
from minifw.errors import MinifwError, TrainingError, ValidationError
from minifw.typing import FloatArray

OPTIMIZERS: list[Optimizer] = [SGD(), Momentum(), Nesterov(), AdaGrad(), RMSprop(), Adam()]

#: minifw's optimizer and the book's, built with the same hyperparameters.
ORACLES: list[tuple[Callable[[], Optimizer], Callable[[], Any]]] = [
    (SGD, BookSGD),
    (lambda: SGD(learning_rate=0.3), lambda: BookSGD(lr=0.3)),
    (Momentum, BookMomentum),
    (lambda: Momentum(0.05, momentum=0.5), lambda: BookMomentum(lr=0.05, momentum=0.5)),
    (Nesterov, BookNesterov),
    (lambda: Nesterov(0.02, momentum=0.7), lambda: BookNesterov(lr=0.02, momentum=0.7)),
    (AdaGrad, BookAdaGrad),
    (lambda: AdaGrad(1.5), lambda: BookAdaGrad(lr=1.5)),
    (RMSprop, BookRMSprop),
    (lambda: RMSprop(0.001, decay_rate=0.9), lambda: BookRMSprop(lr=0.001, decay_rate=0.9)),
    (Adam, BookAdam),
    (
        lambda: Adam(0.01, beta1=0.8, beta2=0.99),
        lambda: BookAdam(lr=0.01, beta1=0.8, beta2=0.99),
    ),
]


def test_every_concrete_optimizer_is_listed() -> None:
    assert _concrete_subclasses(Optimizer) == {type(o) for o in OPTIMIZERS}
    assert {type(make()) for make, _ in ORACLES} == {type(o) for o in OPTIMIZERS}


def test_optimizer_is_abstract() -> None:
    assert inspect.isabstract(Optimizer)
    with pytest.raises(TypeError):
        Optimizer()  # type: ignore[abstract]


def params_and_grads(
    seed: int, steps: int
) -> tuple[dict[str, FloatArray], list[dict[str, FloatArray]]]:
    rng = np.random.default_rng(seed)
    shapes = {"W1": (4, 3), "b1": (3,), "W2": (3, 2), "b2": (2,)}
    params = {name: rng.normal(size=shape) for name, shape in shapes.items()}
    grads = [{name: rng.normal(size=shape) for name, shape in shapes.items()} for _ in range(steps)]
    if steps > 2:
        grads[2]["b1"][0] = 0.0  # a zero gradient, where AdaGrad and Adam divide by ~eps
    return params, grads


# --- the book's rules -------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "make_book"), ORACLES, ids=lambda f: repr(f()))
def test_update_agrees_with_the_books_rules(make: Callable[[], Optimizer], make_book: Any) -> None:
    params, grads = params_and_grads(seed=7, steps=8)
    book_params = {k: v.copy() for k, v in params.items()}
    optimizer, book = make(), make_book()
    for grad in grads:
        optimizer.update(params, grad)
        book.update(book_params, {k: v.copy() for k, v in grad.items()})
        for name, value in params.items():
            assert np.max(np.abs(value - book_params[name])) <= 1e-12, name
    moved = max(
        float(np.max(np.abs(v - w)))
        for v, w in zip(params.values(), params_and_grads(7, 8)[0].values(), strict=True)
    )
    assert moved > 1e-3  # the comparison is not of parameters that did not move


def test_defaults_are_the_books() -> None:
    assert SGD().learning_rate == 0.01
    assert (Momentum().learning_rate, Momentum().momentum) == (0.01, 0.9)
    assert (Nesterov().learning_rate, Nesterov().momentum) == (0.01, 0.9)
    assert (AdaGrad().learning_rate, AdaGrad().eps) == (0.01, 1e-7)
    assert (RMSprop().learning_rate, RMSprop().decay_rate, RMSprop().eps) == (0.01, 0.99, 1e-7)
    adam = Adam()
    assert (adam.learning_rate, adam.beta1, adam.beta2, adam.eps) == (0.001, 0.9, 0.999, 1e-7)


def test_values_by_hand() -> None:
    # Momentum, lr 0.1, momentum 0.9, gradient 1 three times: v = -0.1, -0.19, -0.271.
    w = {"w": np.array([0.0])}
    momentum = Momentum(0.1)
    for _ in range(3):
        momentum.update(w, {"w": np.array([1.0])})
    assert w["w"][0] == pytest.approx(-0.561, abs=1e-15)
    assert momentum.state()["v.w"][0] == pytest.approx(-0.271, abs=1e-15)
    # Adam's first step: m = 0.1 g, v = 0.001 g^2 and lr_t = lr sqrt(0.001) / 0.1, so the step
    # is -lr g / (|g| + eps / sqrt(0.001)).
    w = {"w": np.array([0.0, 0.0])}
    Adam(0.5).update(w, {"w": np.array([2.0, -4.0])})
    eps = 1e-7 / np.sqrt(0.001)
    np.testing.assert_allclose(w["w"], [-0.5 * 2 / (2 + eps), 0.5 * 4 / (4 + eps)], rtol=1e-13)
    # AdaGrad's second step with gradient 3, then 4: h = 9 + 16 = 25, step 0.1 * 4 / 5.
    w = {"w": np.array([0.0])}
    adagrad = AdaGrad(0.1)
    adagrad.update(w, {"w": np.array([3.0])})
    adagrad.update(w, {"w": np.array([4.0])})
    assert w["w"][0] == pytest.approx(-0.1 * 3 / (3 + 1e-7) - 0.1 * 4 / (5 + 1e-7), abs=1e-15)


# --- the contract -----------------------------------------------------------------------------


@pytest.fixture(params=OPTIMIZERS, ids=lambda o: type(o).__name__)
def optimizer(request: pytest.FixtureRequest) -> Optimizer:
    proto: Optimizer = request.param
    return attrs.evolve(proto)  # fresh state, same hyperparameters


def test_optimizer_is_a_final_attrs_class(optimizer: Optimizer) -> None:
    assert attrs.has(type(optimizer))
    assert getattr(type(optimizer), "__final__", False)
    assert isinstance(type(optimizer).slots, tuple)
    assert all(s.isidentifier() for s in type(optimizer).slots)
    assert optimizer.learning_rate > 0


def test_update_is_in_place_and_counts_steps(optimizer: Optimizer) -> None:
    params, grads = params_and_grads(seed=1, steps=3)
    arrays = dict(params)
    before = {k: v.copy() for k, v in params.items()}
    for grad in grads:
        assert optimizer.update(params, grad) is None  # type: ignore[func-returns-value]
    assert all(params[k] is arrays[k] for k in params)
    assert all(not np.array_equal(params[k], before[k]) for k in params)
    assert optimizer.steps == 3
    assert int(optimizer.state()["step"]) == 3


def test_a_zero_gradient_first_moves_nothing(optimizer: Optimizer) -> None:
    params = {"w": np.array([1.0, -2.0])}
    optimizer.update(params, {"w": np.zeros(2)})
    assert params["w"].tolist() == [1.0, -2.0]


def test_state_is_apart_from_hyperparameters(optimizer: Optimizer) -> None:
    fresh = attrs.evolve(optimizer)
    params, grads = params_and_grads(seed=2, steps=1)
    optimizer.update(params, grads[0])
    assert optimizer == fresh
    assert repr(optimizer) == repr(fresh)
    assert set(optimizer.state()) == {"step"} | {
        f"{slot}.{name}" for slot in type(optimizer).slots for name in params
    }


def test_state_round_trip_is_bitwise(optimizer: Optimizer) -> None:
    params, grads = params_and_grads(seed=3, steps=6)
    for grad in grads[:3]:
        optimizer.update(params, grad)
    saved_state = optimizer.state()
    saved_params = {k: v.copy() for k, v in params.items()}
    for grad in grads[3:]:
        optimizer.update(params, grad)

    resumed = attrs.evolve(optimizer)
    resumed.load_state(saved_state, params=saved_params)
    for grad in grads[3:]:
        resumed.update(saved_params, grad)
    for name, value in params.items():
        assert saved_params[name].tobytes() == value.tobytes(), name
    assert resumed.steps == 6


def test_exported_state_is_a_copy(optimizer: Optimizer) -> None:
    params, grads = params_and_grads(seed=4, steps=1)
    optimizer.update(params, grads[0])
    exported = optimizer.state()
    for value in exported.values():
        value[...] = 99
    assert int(optimizer.state()["step"]) == 1
    assert all(not np.any(v == 99) for k, v in optimizer.state().items() if k != "step")


def _snapshot(optimizer: Optimizer, params: dict[str, FloatArray]) -> tuple[Any, ...]:
    state = optimizer.state()
    return (
        {k: v.tobytes() for k, v in params.items()},
        {k: v.tobytes() for k, v in state.items()},
    )


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_non_finite_update_changes_nothing(optimizer: Optimizer, bad: float) -> None:
    params, grads = params_and_grads(seed=5, steps=2)
    optimizer.update(params, grads[0])
    before = _snapshot(optimizer, params)
    grads[1]["W2"][1, 1] = bad
    with pytest.raises(TrainingError, match=r"update of (the '\w+' state of )?W2 is not finite"):
        optimizer.update(params, grads[1])
    assert _snapshot(optimizer, params) == before
    assert optimizer.steps == 1


def test_an_overflowing_update_changes_nothing() -> None:
    params = {"w": np.array([1.0]), "b": np.array([1.0])}
    optimizer = AdaGrad()
    with pytest.raises(TrainingError, match="AdaGrad's update of the 'h' state of b is not finite"):
        optimizer.update(params, {"w": np.array([1.0]), "b": np.array([1e200])})  # 1e400 = inf
    assert params == {"w": [1.0], "b": [1.0]}
    assert optimizer.state() == {"step": 0}


def read_only(value: FloatArray) -> FloatArray:
    value.flags.writeable = False
    return value


@pytest.mark.parametrize(
    ("bad_b", "fragment"),
    [
        (
            read_only(np.zeros(2)),
            r"params\['b'\] must be a writeable array .*got a read-only array",
        ),
        (
            np.zeros(2, dtype=np.float32),
            r"params\['b'\] must be a float64 array .*got dtype float32",
        ),
        (np.zeros(2, dtype=np.int64), r"params\['b'\] must be a float64 array .*got dtype int64"),
        ([0.0, 0.0], r"params\['b'\] must be a numpy array .*got list"),
    ],
    ids=["read-only", "float32", "int64", "list"],
)
def test_bad_parameters_are_refused_before_anything_changes(
    optimizer: Optimizer, bad_b: Any, fragment: str
) -> None:
    params: dict[str, Any] = {"w": np.ones(2), "b": bad_b}
    with pytest.raises(ValidationError, match=fragment):
        optimizer.update(params, {"w": np.ones(2), "b": np.ones(2)})
    assert params["w"].tolist() == [1.0, 1.0]
    assert optimizer.state() == {"step": 0}


@pytest.mark.parametrize(
    ("grads", "fragment"),
    [
        ({"w": np.ones(2)}, r"grads must have the parameters' names \['b', 'w'\], got \['w'\]"),
        (
            {"w": np.ones(2), "b": np.ones(2), "c": np.ones(1)},
            r"got \['b', 'c', 'w'\]",
        ),
        (
            {"w": np.ones(2), "b": np.ones(3)},
            r"grads\['b'\] must have the parameter's shape \(2,\), got \(3,\)",
        ),
        (
            {"w": np.ones(2), "b": np.array(["1", "2"])},
            r"grads\['b'\] must hold real numbers, got dtype <U1",
        ),
        (
            {"w": np.ones(2), "b": np.ones(2) * 1j},
            r"grads\['b'\] must hold real numbers, got dtype complex128",
        ),
        ([np.ones(2)], "grads must be a mapping of names to arrays, got list"),
    ],
)
def test_bad_gradients_are_refused_before_anything_changes(
    optimizer: Optimizer, grads: Any, fragment: str
) -> None:
    params = {"w": np.ones(2), "b": np.ones(2)}
    with pytest.raises(ValidationError, match=fragment):
        optimizer.update(params, grads)
    assert params["w"].tolist() == [1.0, 1.0]
    assert optimizer.state() == {"step": 0}


def test_the_gradient_is_not_changed(optimizer: Optimizer) -> None:
    params, grads = params_and_grads(seed=6, steps=2)
    copies = [{k: v.copy() for k, v in g.items()} for g in grads]
    for grad in grads:
        optimizer.update(params, grad)
    for grad, copy in zip(grads, copies, strict=True):
        assert all(np.array_equal(grad[k], copy[k]) for k in grad)


def test_state_of_another_shape_is_refused() -> None:
    optimizer = Momentum()
    optimizer.update({"w": np.ones(2)}, {"w": np.ones(2)})
    with pytest.raises(
        ValidationError,
        match=r"params\['w'\] has shape \(3,\) but this Momentum holds state of shape \(2,\)",
    ):
        optimizer.update({"w": np.ones(3)}, {"w": np.ones(3)})
    assert optimizer.steps == 1


# --- loading a state --------------------------------------------------------------------------


def adam_state() -> dict[str, Any]:
    optimizer = Adam()
    optimizer.update({"w": np.ones(2), "b": np.ones(1)}, {"w": np.ones(2), "b": np.ones(1)})
    return dict(optimizer.state())


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda s: s.pop("step"), "state of Adam lacks 'step'"),
        (
            lambda s: s.update(step=np.array(1.5)),
            r"state\['step'\] must be an integer scalar, got dtype float64",
        ),
        (
            lambda s: s.update(step=np.array([1, 2])),
            r"must be an integer scalar, got dtype int64 and shape \(2,\)",
        ),
        (lambda s: s.update(step=np.array(True)), "must be an integer scalar, got dtype bool"),
        (
            lambda s: s.update(step=np.array(-1)),
            r"state\['step'\] must be between 0 and 2\*\*62, got -1",
        ),
        (lambda s: s.update(step=np.array("1")), "must be an integer scalar, got dtype <U1"),
        (lambda s: s.pop("v.b"), r"state of Adam lacks 'v.b' \(every parameter needs m, v\)"),
        (
            lambda s: s.update({"h.w": np.ones(2)}),
            "state of Adam has an unknown key 'h.w'; expected 'step' and 'm.<name>', 'v.<name>'",
        ),
        (lambda s: s.update({"mw": np.ones(2)}), "unknown key 'mw'"),
        (
            lambda s: s.update({"m.w": np.array(["a", "b"])}),
            r"state\['m.w'\] must be a float64 array, got dtype <U1",
        ),
        (
            lambda s: s.update({"m.w": np.array([1, 2])}),
            r"state\['m.w'\] must be a float64 array, got dtype int64",
        ),
        (
            lambda s: s.update({"m.w": np.array([1.0, np.nan])}),
            r"state\['m.w'\] holds non-finite values",
        ),
        (
            lambda s: s.update({"m.w": np.ones(3)}),
            r"state of Adam for w has arrays of different shapes",
        ),
        (
            lambda s: s.update({"m.c": np.ones(1), "v.c": np.ones(1)}),
            r"holds parameters \['c'\] that are not among \['b', 'w'\]",
        ),
        (lambda s: (s.pop("m.b"), s.pop("v.b")), r"state of Adam lacks the parameters \['b'\]"),
        (
            lambda s: s.update({"m.w": np.ones(3), "v.w": np.ones(3)}),
            r"state\['m.w'\] has shape \(3,\) but params\['w'\] has shape \(2,\)",
        ),
        (lambda s: s.update(step=np.array(0)), "has step 0 but holds arrays"),
    ],
)
def test_a_bad_state_is_refused_and_changes_nothing(change: Any, fragment: str) -> None:
    state = adam_state()
    change(state)
    optimizer = Adam()
    params = {"w": np.zeros(2), "b": np.zeros(1)}
    optimizer.update(params, {"w": np.ones(2), "b": np.ones(1)})
    before = _snapshot(optimizer, params)
    with pytest.raises(ValidationError, match=fragment):
        optimizer.load_state(state, params=params)
    assert _snapshot(optimizer, params) == before


def test_a_state_needs_no_params_to_load() -> None:
    optimizer = Adam()
    optimizer.load_state(adam_state())
    assert optimizer.steps == 1
    assert sorted(optimizer.state()) == ["m.b", "m.w", "step", "v.b", "v.w"]


# --- hyperparameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: SGD(0), "learning_rate must be a positive finite float, got learning_rate=0"),
        (lambda: SGD(-0.1), "got learning_rate=-0.1"),
        (lambda: Adam(float("inf")), "got learning_rate=inf"),
        (lambda: Adam(True), "got learning_rate=True"),
        (lambda: Momentum(momentum=1.0), r"momentum must be a float in \[0, 1\), got momentum=1.0"),
        (lambda: Nesterov(momentum=-0.1), "got momentum=-0.1"),
        (
            lambda: RMSprop(decay_rate=1.5),
            r"decay_rate must be a float in \[0, 1\), got decay_rate=1.5",
        ),
        (lambda: Adam(beta1=float("nan")), "beta1 must be a float in"),
        (lambda: Adam(beta2="0.9"), "got beta2='0.9'"),  # type: ignore[arg-type]
        (lambda: AdaGrad(eps=0.0), "eps must be a positive finite float, got eps=0.0"),
    ],
)
def test_bad_hyperparameters_name_the_field(make: Callable[[], object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment) as info:
        make()
    assert isinstance(info.value, MinifwError)


def test_hyperparameters_are_checked_on_assignment_too() -> None:
    optimizer = Adam()
    optimizer.learning_rate = 0.01  # a schedule may change it between steps
    assert optimizer.learning_rate == 0.01
    with pytest.raises(ValidationError, match="got learning_rate=-1"):
        optimizer.learning_rate = -1
    assert Adam(1).learning_rate == 1.0
    assert isinstance(Adam(1).learning_rate, float)


def test_public_names() -> None:
    assert {"Optimizer", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"} <= set(
        minifw.__all__
    )


def test_check_params_returns_the_same_arrays() -> None:
    w = np.zeros(3)
    assert check_params({"w": w}, why="updated in place")["w"] is w
    with pytest.raises(ValidationError, match="params must be a mapping"):
        check_params([w], why="updated in place")


# --- all or nothing, for any values -----------------------------------------------------------

finite_or_not = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-1e3, max_value=1e3),
)


@given(
    index=st.integers(0, len(OPTIMIZERS) - 1),
    start=st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3),
    grads=st.lists(st.lists(finite_or_not, min_size=3, max_size=3), min_size=1, max_size=4),
)
def test_every_update_is_all_or_nothing(
    index: int, start: list[float], grads: list[list[float]]
) -> None:
    optimizer = attrs.evolve(OPTIMIZERS[index])
    params = {"w": np.array(start)}
    for grad in grads:
        before = _snapshot(optimizer, params)
        try:
            optimizer.update(params, {"w": np.array(grad)})
        except TrainingError:
            assert _snapshot(optimizer, params) == before
        else:
            assert np.all(np.isfinite(params["w"]))
            assert all(np.all(np.isfinite(v)) for v in optimizer.state().values())
