"""The Trainer end to end on the bundled sample: learning, checkpoints, failures, configuration."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, final

import attrs
import numpy as np
import pytest
from numpy.typing import NDArray

import minifw
from minifw import (
    MNIST,
    Backprop,
    BatchSampler,
    CentralDiff,
    CrossEntropy,
    Dataset,
    Loss,
    Model,
    RandomChoiceSampler,
    Sequential,
    ShuffleSampler,
    Split,
    Trainer,
    TwoLayerNet,
    gradcheck,
)
from minifw.errors import CheckpointError, ConfigError, MinifwError, TrainingError, ValidationError
from minifw.nn.layers import Affine, Layer, Sigmoid, Softmax
from minifw.numdiff.method import GradientMethod
from minifw.train.checkpoint import CHECKPOINT_FORMAT
from minifw.typing import AnyArray, ArrayLike, FloatArray, IntArray


@pytest.fixture(scope="module")
def sample() -> MNIST:
    return MNIST.sample()


def small_trainer(data: Dataset, **overrides: Any) -> Trainer:
    options: dict[str, Any] = {
        "model": TwoLayerNet(hidden_size=10, seed=0),
        "dataset": data,
        "sampler": RandomChoiceSampler(50, seed=0),
        "progress": False,
        "eval_every": 0,
        **overrides,
    }
    return Trainer(**options)


def test_the_issue_target_gradcheck_on_a_sample_minibatch(sample: MNIST) -> None:
    # TwoLayerNet as in the book, a 100-image minibatch, central differences with h = 1e-4:
    # max |numerical - analytic| / max |analytic| <= 1e-7 for every parameter array.
    net = TwoLayerNet(seed=0)
    x, t = RandomChoiceSampler(100, seed=0).minibatch(sample.train.x, sample.train.t)
    report = gradcheck(net, x, t, CrossEntropy(), CentralDiff(h=1e-4), tolerance=1e-7)
    assert report.passed, str(report)
    assert [c.name for c in report.checks] == ["W1", "b1", "W2", "b2"]
    assert all(c.scaled_error < 1e-8 for c in report.checks)  # measured: about 1e-9
    assert "overall: PASS" in str(report)


def test_training_lowers_the_loss_and_raises_accuracy(sample: MNIST) -> None:
    trainer = small_trainer(sample, learning_rate=0.5, eval_every=100)
    before = trainer.evaluate()
    history = trainer.fit(200)
    assert history.steps == 200 == trainer.step_count
    assert np.mean(history.loss[-20:]) < np.mean(history.loss[:20]) - 0.5
    assert [e.step for e in history.evaluations] == [100, 200]
    assert history.evaluations[-1].test_accuracy > before.test_accuracy + 0.3


def test_numerical_and_analytic_training_agree(sample: MNIST) -> None:
    numerical = small_trainer(sample)
    analytic = small_trainer(sample, differentiator=Backprop())
    numerical.fit(20)
    analytic.fit(20)
    for name, value in numerical.model.params.items():
        np.testing.assert_allclose(value, analytic.model.params[name], rtol=0, atol=1e-9)


def test_minibatch_loss_and_gradient(sample: MNIST) -> None:
    trainer = small_trainer(sample)
    x, t = trainer.minibatch()
    assert x.shape == (50, 784)
    assert t.shape == (50,)
    assert trainer.loss(x, t) == pytest.approx(CrossEntropy()(trainer.model.predict(x), t))
    grads = trainer.gradient(x, t)
    exact = Backprop().gradients(trainer.model.objective(x, t, CrossEntropy()))
    for name, g in grads.items():
        np.testing.assert_allclose(g, exact[name], rtol=0, atol=1e-7 * np.abs(exact[name]).max())


@pytest.mark.parametrize(
    "make_sampler",
    [lambda: RandomChoiceSampler(40, seed=3), lambda: ShuffleSampler(64, seed=3)],
    ids=["choice", "shuffle"],
)
def test_resume_continues_exactly_where_it_stopped(
    sample: MNIST, tmp_path: Path, make_sampler: Any
) -> None:
    straight = small_trainer(sample, sampler=make_sampler(), eval_every=10)
    straight.fit(40)

    first = small_trainer(sample, sampler=make_sampler(), eval_every=10)
    first.fit(25, checkpoint=tmp_path / "run.npz")
    resumed = small_trainer(sample, sampler=make_sampler(), eval_every=10)
    resumed.model.params["W1"][...] = 123.0  # overwritten by the checkpoint
    resumed.load_checkpoint(tmp_path / "run.npz")
    assert resumed.step_count == 25
    resumed.fit(15)

    for name, value in straight.model.params.items():
        assert resumed.model.params[name].tobytes() == value.tobytes(), name
    assert resumed.history.loss == straight.history.loss
    # The interrupted run also evaluated when it stopped, at step 25.
    assert [e for e in resumed.history.evaluations if e.step != 25] == straight.history.evaluations


def test_checkpoint_has_no_pickle_and_the_expected_contents(sample: MNIST, tmp_path: Path) -> None:
    trainer = small_trainer(sample)
    trainer.fit(3)
    path = trainer.save_checkpoint(tmp_path / "ck.npz")
    with np.load(path, allow_pickle=False) as data:
        keys = set(data.files)
        assert str(data["format"]) == CHECKPOINT_FORMAT
        assert int(data["step"]) == 3
    assert {"param.W1", "param.b1", "param.W2", "param.b2", "history.loss", "sampler.rng"} <= keys


def test_saving_is_atomic(sample: MNIST, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = small_trainer(sample)
    target = tmp_path / "ck.npz"
    trainer.fit(2, checkpoint=target)
    good = target.read_bytes()

    def broken_savez(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    trainer.fit(1)
    with pytest.raises(CheckpointError, match="disk full"):
        trainer.save_checkpoint(target)
    assert target.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]


@final
@attrs.frozen
class PoisonedLoss(Loss):
    """Cross-entropy that turns nan once ``poison.armed`` is set."""

    poison: dict[str, bool] = attrs.field(factory=lambda: {"armed": False}, eq=False)

    def per_example(self, y: FloatArray, t: FloatArray) -> FloatArray:
        values = CrossEntropy().per_example(y, t)
        return values * np.nan if self.poison["armed"] else values


def everything(trainer: Trainer) -> dict[str, Any]:
    """What a failed step must leave as it was, as bytes and plain values."""
    return {
        "params": {k: v.tobytes() for k, v in trainer.model.params.items()},
        "optimizer": {k: v.tobytes() for k, v in trainer.optimizer.state().items()},
        "sampler": {k: v.tobytes() for k, v in trainer.sampler.state().items()},
        "loss": list(trainer.history.loss),
        "step": trainer.step_count,
    }


def test_a_nan_loss_stops_training_without_damage(sample: MNIST, tmp_path: Path) -> None:
    loss = PoisonedLoss()
    trainer = small_trainer(sample, loss=loss, optimizer=minifw.Momentum())
    target = tmp_path / "ck.npz"
    trainer.fit(3, checkpoint=target, checkpoint_every=1)
    saved = target.read_bytes()
    before = everything(trainer)
    loss.poison["armed"] = True
    # The loss refuses its own nan; the step is undone (the sampler draws the same batch again).
    with pytest.raises(ValidationError, match=r"PoisonedLoss\.per_example returned nan"):
        trainer.fit(5, checkpoint=target, checkpoint_every=1)
    assert everything(trainer) == before
    assert target.read_bytes() == saved
    loss.poison["armed"] = False
    trainer.fit(1)  # carries on as if nothing had happened
    reference = small_trainer(sample, loss=PoisonedLoss(), optimizer=minifw.Momentum())
    reference.fit(4)
    assert trainer.history.loss == reference.history.loss


@final
@attrs.define(eq=False)
class ExplodingNet(Model):
    """A user's model whose exact gradient has gone wrong: every entry is inf after ``armed``."""

    armed: bool = False

    def __attrs_post_init__(self) -> None:
        self.params = {"W": np.zeros((784, 10)), "b": np.zeros(10)}

    def predict(self, x: ArrayLike) -> FloatArray:
        return minifw.softmax(np.asarray(x, dtype=np.float64) @ self.params["W"] + self.params["b"])

    def backprop(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> dict[str, FloatArray]:
        fill = np.inf if self.armed else 0.5
        return {name: np.full(p.shape, fill) for name, p in self.params.items()}


@final
@attrs.define(eq=False)
class DivergingNet(Model):
    """A user's model whose predictions overflow once ``armed`` is set."""

    armed: bool = False

    def __attrs_post_init__(self) -> None:
        self.params = {"b": np.zeros(10)}

    def predict(self, x: ArrayLike) -> FloatArray:
        scores = np.zeros((len(np.asarray(x)), 10)) + self.params["b"]
        return scores + (np.inf if self.armed else 0.0)

    def backprop(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> dict[str, FloatArray]:
        return {"b": np.full(10, 0.01)}


@pytest.mark.parametrize(
    ("make", "options", "words"),
    [
        (
            lambda: ExplodingNet(),
            {"optimizer": minifw.Adam()},
            r"step 2 \(loss 2.3\d+\): Adam's update of W is not finite \(nothing was changed\); "
            "training stopped with the parameters of step 1",
        ),
        (
            lambda: DivergingNet(),
            {"loss": minifw.MeanSquared()},
            r"the model's predictions became non-finite at step 2; stopped with the parameters "
            r"of step 1 \(lower learning_rate=0.1\?\)",
        ),
    ],
    ids=["exploding-update", "diverging-predictions"],
)
def test_a_failed_step_changes_nothing(
    sample: MNIST, make: Any, options: dict[str, Any], words: str
) -> None:
    net = make()
    trainer = small_trainer(sample, model=net, differentiator=Backprop(), **options)
    trainer.step()
    before = everything(trainer)
    net.armed = True
    with pytest.raises(TrainingError, match=words):
        trainer.step()
    assert everything(trainer) == before


def test_the_same_batch_is_drawn_after_a_failed_step(sample: MNIST) -> None:
    net = ExplodingNet(armed=True)
    trainer = small_trainer(sample, model=net, differentiator=Backprop())
    expected = trainer.sampler.state()
    with pytest.raises(TrainingError):
        trainer.step()
    for key, value in trainer.sampler.state().items():
        assert value.tobytes() == expected[key].tobytes()


def read_only_params(trainer: Trainer) -> None:
    trainer.model.params["b2"].flags.writeable = False


def float32_params(trainer: Trainer) -> None:
    trainer.model.params["b1"] = trainer.model.params["b1"].astype(np.float32)


def int_params(trainer: Trainer) -> None:
    trainer.model.params["b1"] = np.zeros(10, dtype=np.int64)


@pytest.mark.parametrize(
    ("spoil", "fragment"),
    [
        (read_only_params, r"params\['b2'\] must be a writeable array .*got a read-only array"),
        (float32_params, r"params\['b1'\] must be a float64 array .*got dtype float32"),
        (int_params, r"params\['b1'\] must be a float64 array .*got dtype int64"),
    ],
    ids=["read-only", "float32", "int64"],
)
def test_parameters_that_cannot_be_updated_stop_before_anything_changes(
    sample: MNIST, spoil: Any, fragment: str
) -> None:
    trainer = small_trainer(sample, optimizer=minifw.Momentum())
    trainer.fit(1)
    spoil(trainer)
    before = everything(trainer)
    with pytest.raises(TrainingError, match="cannot take step 2: the model's " + fragment):
        trainer.step()
    assert everything(trainer) == before


@final
@attrs.define(eq=False)
class WrongShapeNet(Model):
    """A user's model whose backprop returns a gradient of the wrong shape."""

    def __attrs_post_init__(self) -> None:
        self.params = {"W": np.zeros((784, 10))}

    def predict(self, x: ArrayLike) -> FloatArray:
        return minifw.softmax(np.asarray(x, dtype=np.float64) @ self.params["W"])

    def backprop(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> dict[str, FloatArray]:
        return {"W": np.zeros((10, 784))}


def test_a_gradient_of_the_wrong_shape_changes_nothing(sample: MNIST) -> None:
    trainer = small_trainer(sample, model=WrongShapeNet(), differentiator=Backprop())
    before = everything(trainer)
    with pytest.raises(MinifwError, match=r"\(784, 10\)"):
        trainer.step()
    assert everything(trainer) == before


# --- the optimizer -------------------------------------------------------------------------------


def test_the_optimizer_defaults_to_sgd_with_the_learning_rate(sample: MNIST) -> None:
    assert small_trainer(sample).optimizer == minifw.SGD(learning_rate=0.1)
    assert small_trainer(sample, learning_rate=0.2).optimizer == minifw.SGD(learning_rate=0.2)
    assert small_trainer(sample, learning_rate=1).optimizer == minifw.SGD(learning_rate=1.0)
    trainer = small_trainer(sample, optimizer=minifw.Adam())
    assert trainer.optimizer == minifw.Adam()
    assert trainer.learning_rate == 0.001
    assert "optimizer=Adam(learning_rate=0.001" in repr(trainer)


def test_an_optimizer_and_a_learning_rate_are_refused_together(sample: MNIST) -> None:
    with pytest.raises(
        ConfigError,
        match=r"Trainer takes optimizer or learning_rate, not both: got optimizer=Adam\(.*\) "
        r"and learning_rate=0.1 \(the step size is the optimizer's own: Adam\(learning_rate=0.1\)\)",
    ):
        small_trainer(sample, optimizer=minifw.Adam(), learning_rate=0.1)


@pytest.mark.parametrize(
    "optimizer",
    [
        minifw.SGD(1.0),
        minifw.Momentum(0.1),
        minifw.Nesterov(0.1),
        minifw.AdaGrad(0.1),
        minifw.RMSprop(0.01),
        minifw.Adam(0.01),
    ],
    ids=lambda o: type(o).__name__,
)
def test_training_with_each_optimizer_lowers_the_loss(
    sample: MNIST, optimizer: minifw.Optimizer
) -> None:
    # The same 60 analytic steps from the same start (measured drops: 0.19 to 1.15).
    trainer = small_trainer(sample, optimizer=optimizer, differentiator=Backprop())
    loss = trainer.fit(60).loss
    assert np.mean(loss[-5:]) < np.mean(loss[:5]) - 0.15


def test_loading_a_mismatched_checkpoint_changes_nothing(sample: MNIST, tmp_path: Path) -> None:
    small_trainer(sample).save_checkpoint(tmp_path / "small.npz")
    other = small_trainer(sample, model=TwoLayerNet(hidden_size=12, seed=0))
    before = other.model.params["W1"].copy()
    with pytest.raises(CheckpointError, match="holds parameters"):
        other.load_checkpoint(tmp_path / "small.npz")
    np.testing.assert_array_equal(other.model.params["W1"], before)
    shuffled = small_trainer(sample, sampler=ShuffleSampler(50, seed=0))
    with pytest.raises(CheckpointError, match="RandomChoiceSampler"):
        shuffled.load_checkpoint(tmp_path / "small.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="not a minifw checkpoint"):
        other.load_checkpoint(tmp_path / "junk.npz")
    with pytest.raises(CheckpointError, match="does not exist"):
        other.load_checkpoint(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("model", "TwoLayerNet", "Trainer field model must be a Model"),
        ("dataset", np.zeros(3), "Trainer field dataset must be a Dataset"),
        ("sampler", 100, "Trainer field sampler must be a BatchSampler"),
        ("loss", CrossEntropy(reduction="none"), "Trainer field loss must be a Loss with"),
        ("differentiator", "central", "Trainer field differentiator must be"),
        ("learning_rate", -0.1, "Trainer field learning_rate must be a positive"),
        ("learning_rate", float("nan"), "learning_rate"),
        ("optimizer", "adam", "Trainer field optimizer must be an Optimizer, got optimizer='adam'"),
        ("eval_every", True, "Trainer field eval_every must be a non-negative integer"),
        ("progress", "yes", "Trainer field progress must be True or False"),
        ("blas_threads", 0, "Trainer field blas_threads must be None or a positive integer"),
        ("blas_threads", 2**70, "Trainer field blas_threads must be at most 1024"),
    ],
)
def test_invalid_configuration_names_the_field(
    sample: MNIST, field: str, value: object, fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        small_trainer(sample, **{field: value})


# --- a Trainer made only of user-defined parts --------------------------------------------------


@final
class TinyDigits(Dataset):
    """The first 300/100 digits of the sample, as a user's own Dataset."""

    def __init__(self, source: MNIST) -> None:
        self._train = Split(source.train.x[:300], source.train.t[:300])
        self._test = Split(source.test.x[:100], source.test.t[:100])

    @property
    def train(self) -> Split:
        return self._train

    @property
    def test(self) -> Split:
        return self._test

    @property
    def num_classes(self) -> int:
        return 10


@final
@attrs.define(eq=False)
class SoftmaxRegression(Model):
    """A user's model: one affine layer and a softmax, on 4x4 average-pooled digits."""

    def __attrs_post_init__(self) -> None:
        self.params = {"W": np.zeros((49, 10)), "b": np.zeros(10)}

    def predict(self, x: ArrayLike) -> FloatArray:
        pooled = np.asarray(x, dtype=np.float64).reshape(-1, 7, 4, 7, 4).mean(axis=(2, 4))
        return minifw.softmax(pooled.reshape(-1, 49) @ self.params["W"] + self.params["b"])


@final
@attrs.frozen
class Brier(Loss):
    """A user's loss: the squared error summed over classes."""

    def per_example(self, y: FloatArray, t: FloatArray) -> FloatArray:
        values: FloatArray = np.sum((y - t) ** 2, axis=1)
        return values


@final
@attrs.define
class Cyclic(BatchSampler):
    """A user's sampler: consecutive windows."""

    position: int = 0

    def sample(self, n: int) -> IntArray:
        idx = (self.position + np.arange(self.batch_size)) % n
        self.position = int(idx[-1] + 1) % n
        return idx.astype(np.intp)


def test_a_trainer_of_user_defined_parts(sample: MNIST) -> None:
    trainer = Trainer(
        model=SoftmaxRegression(),
        dataset=TinyDigits(sample),
        sampler=Cyclic(50),
        loss=Brier(),
        differentiator=CentralDiff(),
        learning_rate=2.0,
        eval_every=0,
        progress=False,
    )
    history = trainer.fit(12)  # numerical gradients coordinate by coordinate: 500 params
    assert history.loss[-1] < history.loss[0]
    assert history.evaluations[-1].train_accuracy > 0.5


def test_blas_threads_are_restored(sample: MNIST) -> None:
    from threadpoolctl import threadpool_info

    before = [i["num_threads"] for i in threadpool_info()]
    small_trainer(sample).fit(2)
    assert [i["num_threads"] for i in threadpool_info()] == before


def test_written_files_get_the_usual_mode(sample: MNIST, tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    path = small_trainer(sample).save_checkpoint(tmp_path / "ck.npz")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"steps": -1}, "steps must be a non-negative integer, got steps=-1"),
        ({"steps": True}, "got steps=True"),
        ({"steps": 1, "checkpoint_every": 2.5}, "checkpoint_every must be a non-negative integer"),
    ],
)
def test_fit_arguments_are_checked_first(
    sample: MNIST, arguments: dict[str, Any], fragment: str
) -> None:
    trainer = small_trainer(sample)
    with pytest.raises(ConfigError, match=fragment):
        trainer.fit(**arguments)
    assert trainer.step_count == 0


# --- one step, one forward pass --------------------------------------------------------------------


@final
@attrs.define(eq=False)
class CountingIdentity(Layer):
    """A user's layer that passes its input on and counts the forward passes through it."""

    calls: list[int] = attrs.field(factory=lambda: [0])

    @property
    def params(self) -> dict[str, FloatArray]:
        return {}

    def forward(self, x: AnyArray) -> AnyArray:
        self.calls[0] += 1
        return x

    def backward(self, x: AnyArray, y: AnyArray, dy: AnyArray) -> tuple[AnyArray, dict[str, AnyArray]]:
        return dy, {}

    def change(self, x: AnyArray, y: AnyArray, dx: AnyArray) -> AnyArray:
        return dx

    def series_change(
        self, x: AnyArray, y: AnyArray, dx: AnyArray, reach: FloatArray
    ) -> tuple[AnyArray, NDArray[np.bool_]]:
        return dx, np.ones(dx.shape[1], dtype=bool)


@pytest.mark.parametrize("method", [CentralDiff(), Backprop()], ids=["CentralDiff", "Backprop"])
def test_a_step_of_a_layered_model_runs_one_forward_pass(sample: MNIST, method: GradientMethod) -> None:
    counter = CountingIdentity()
    rng = np.random.default_rng(0)
    net = Sequential(
        [counter, Affine.init(784, 8, std=0.1, rng=rng), Sigmoid(), Affine.init(8, 10, std=0.1, rng=rng), Softmax()]
    )
    trainer = small_trainer(sample, model=net, differentiator=method)
    trainer.fit(3)
    # A step each, the evaluation of both splits at the end, and the check of the layer (its class
    # is not minifw's: once, on 3 rows, forward at x and at two moves; minifw.nn.layered.contract).
    assert counter.calls[0] == 3 + 2 + 3


@final
@attrs.define(eq=False)
class CountingSoftmaxRegression(Model):
    """A user's model (not layered) with backprop, counting its forward passes."""

    calls: int = 0

    def __attrs_post_init__(self) -> None:
        self.params = {"W": np.zeros((784, 10)), "b": np.zeros(10)}

    def predict(self, x: ArrayLike) -> FloatArray:
        self.calls += 1
        return minifw.softmax(np.asarray(x, dtype=np.float64) @ self.params["W"] + self.params["b"])

    def backprop(self, x: ArrayLike, t: ArrayLike, loss: Loss) -> dict[str, FloatArray]:
        x_arr = np.asarray(x, dtype=np.float64)
        y, t_batch = loss.prepare(self.predict(x_arr), t)
        g = loss.weight(len(x_arr)) * loss.gradient(y, t_batch)
        delta = y * (g - np.sum(g * y, axis=1, keepdims=True))
        return {"W": x_arr.T @ delta, "b": delta.sum(axis=0)}


def test_what_a_step_of_a_model_that_is_not_layered_costs(sample: MNIST) -> None:
    # One forward pass for the objective (its value is the loss recorded), then the gradient
    # method's own: the model's backprop (here one more pass), or the book's loop (one pass
    # for the loss at the point, two per coordinate).
    model = CountingSoftmaxRegression()
    small_trainer(sample, model=model, differentiator=Backprop()).step()
    assert model.calls == 1 + 1
    model = CountingSoftmaxRegression()
    small_trainer(sample, model=model, differentiator=CentralDiff()).step()
    assert model.calls == 1 + 1 + 2 * 7850
