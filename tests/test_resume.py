"""Resuming from the checkpoint alone: `Trainer.from_checkpoint` and `minifw train --resume`.

The checkpoint records every part, the settings and the run's target step, so a run continues
from the file with nothing else given, bit for bit; flags that would change the run are refused
in one line naming every field that differs; parts the file cannot rebuild (a class not loaded,
options that are not plain values) are named, never imported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, final

import attrs
import numpy as np
import pytest

from minifw import (
    MNIST,
    Adam,
    Backprop,
    CentralDiff,
    Model,
    MultiLayerNet,
    RandomChoiceSampler,
    Sequential,
    ShuffleSampler,
    Trainer,
    TwoLayerNet,
)
from minifw.app.cli import main
from minifw.errors import CheckpointError
from minifw.nn.layers import Affine, Sigmoid, Softmax
from minifw.train.checkpoint import read_meta
from minifw.train.parts import describe_part, rebuild_part
from minifw.typing import ArrayLike, FloatArray


@pytest.fixture(scope="module")
def sample() -> MNIST:
    return MNIST.sample()


def params(trainer: Trainer) -> dict[str, bytes]:
    return {k: v.tobytes() for k, v in trainer.model.params.items()}


def arrays(path: Path) -> dict[str, bytes]:
    """The state a checkpoint holds: every member but the metadata and the evaluations.

    (A fit evaluates after its last step, so a run cut in two has one evaluation more.)
    """
    with np.load(path, allow_pickle=False) as archive:
        return {
            k: archive[k].tobytes()
            for k in archive.files
            if k != "meta" and not k.startswith(("history.eval", "history.t"))
        }


# --- Python: Trainer.from_checkpoint ---------------------------------------------------------------


def test_from_checkpoint_rebuilds_every_part_and_setting(sample: MNIST, tmp_path: Path) -> None:
    model = MultiLayerNet(hidden_sizes=(12, 8), activation="tanh", weight_init=0.1, seed=2)
    trainer = Trainer(
        model=model,
        dataset=sample,
        sampler=ShuffleSampler(40, seed=3, drop_last=True),
        differentiator=CentralDiff(h=1e-5),
        optimizer=Adam(learning_rate=0.003, beta2=0.99),
        eval_every=3,
        blas_threads=None,
        progress=False,
    )
    trainer.fit(5, checkpoint=tmp_path / "ck.npz")
    again = Trainer.from_checkpoint(tmp_path / "ck.npz", dataset=sample)
    assert repr(again.model) == repr(model)  # models compare by identity: their options agree
    assert repr(again.sampler) == repr(ShuffleSampler(40, seed=3, drop_last=True))
    assert again.differentiator == CentralDiff(h=1e-5)
    assert again.optimizer == Adam(learning_rate=0.003, beta2=0.99)
    assert (again.eval_every, again.blas_threads, again.progress) == (3, None, False)
    assert again.step_count == 5
    assert again.history.loss == trainer.history.loss
    assert params(again) == params(trainer)
    again.fit(4)
    trainer.fit(4)
    assert params(again) == params(trainer)
    assert again.history.loss == trainer.history.loss


def test_given_parts_and_settings_replace_the_recorded_ones(sample: MNIST, tmp_path: Path) -> None:
    trainer = Trainer(model=TwoLayerNet(hidden_size=6, seed=0), dataset=sample, progress=False)
    trainer.fit(2, checkpoint=tmp_path / "ck.npz")
    again = Trainer.from_checkpoint(
        tmp_path / "ck.npz", dataset=sample, differentiator=Backprop(), eval_every=7
    )
    assert again.differentiator == Backprop()
    assert again.eval_every == 7
    with pytest.raises(CheckpointError, match=r"holds parameters .* but the model has"):
        Trainer.from_checkpoint(tmp_path / "ck.npz", dataset=sample, model=TwoLayerNet(hidden_size=7))


@final
@attrs.define(eq=False)
class Scaled(Model):
    """A model of this test module: `predict` is `x @ W`."""

    width: int = 10

    def __attrs_post_init__(self) -> None:
        self.params = {"W": np.full((784, self.width), 0.01)}

    def predict(self, x: ArrayLike) -> FloatArray:
        out: FloatArray = np.asarray(x, dtype=np.float64) @ self.params["W"]
        return out


def test_a_model_of_your_own_is_rebuilt_while_its_class_is_loaded(
    sample: MNIST, tmp_path: Path
) -> None:
    trainer = Trainer(model=Scaled(width=10), dataset=sample, progress=False, eval_every=0)
    trainer.fit(1, checkpoint=tmp_path / "ck.npz")
    assert read_meta(tmp_path / "ck.npz")["parts"]["model"] == {
        "type": "test_resume:Scaled", "name": "Scaled", "options": {"width": 10}
    }
    again = Trainer.from_checkpoint(tmp_path / "ck.npz", dataset=sample)
    assert isinstance(again.model, Scaled)
    assert params(again) == params(trainer)


def test_a_class_that_is_not_loaded_is_named_never_imported() -> None:
    record = {"type": "os:system", "name": "system", "options": {}}
    with pytest.raises(CheckpointError, match=r"the model os:system, which is not loaded"):
        rebuild_part(record, Model, "model", source="ck.npz")


def test_a_part_whose_options_are_not_plain_values_must_be_passed(
    sample: MNIST, tmp_path: Path
) -> None:
    net = Sequential((Affine.init(784, 5, std=0.01, rng=np.random.default_rng(0)), Sigmoid(),
                      Affine.init(5, 10, std=0.01, rng=np.random.default_rng(1)), Softmax()))
    assert describe_part(net)["options"] is None
    trainer = Trainer(model=net, dataset=sample, progress=False, eval_every=0)
    trainer.fit(1, checkpoint=tmp_path / "ck.npz")
    with pytest.raises(CheckpointError, match=r"options are not plain values .* pass model="):
        Trainer.from_checkpoint(tmp_path / "ck.npz", dataset=sample)
    again = Trainer.from_checkpoint(tmp_path / "ck.npz", dataset=sample, model=net)
    assert again.step_count == 1


def test_a_file_of_an_earlier_minifw_says_how_to_load_it(sample: MNIST, tmp_path: Path) -> None:
    trainer = Trainer(model=TwoLayerNet(hidden_size=4, seed=0), dataset=sample, progress=False)
    path = trainer.save_checkpoint(tmp_path / "ck.npz")
    with np.load(path) as archive:
        members = {k: archive[k] for k in archive.files}
    meta = json.loads(str(members["meta"]))
    for key in ("parts", "trainer", "data", "fit", "config"):
        meta.pop(key, None)
    members["meta"] = np.array(json.dumps(meta))
    np.savez(path, **members)
    with pytest.raises(CheckpointError, match="does not record its parts: build the Trainer"):
        Trainer.from_checkpoint(path, dataset=sample)
    trainer.load_checkpoint(path)  # the old way still works


# --- the command line ------------------------------------------------------------------------------

COMMON = ["--hidden-size", "12", "--batch-size", "50", "--no-progress", "--eval-every", "0"]


def test_resume_alone_finishes_the_run_bit_for_bit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--steps", "30", "--optimizer", "momentum", "--seed", "5", *COMMON]
    assert main([*argv, "--checkpoint", "whole.npz"]) == 0
    # The same run, stopped after 12 steps (as if interrupted) and resumed with nothing else.
    assert main([*argv, "--checkpoint", "part.npz", "--steps", "12"]) == 0
    meta = read_meta("part.npz")
    assert meta["fit"] == {"until": 12}  # --steps 12 was this run's whole length ...
    capsys.readouterr()
    assert main(["train", "--resume", "part.npz", "--steps", "18", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "resumed from part.npz at step 12" in out
    assert "optimizer: Momentum(learning_rate=0.01, momentum=0.9)" in out
    assert "now at step 30" in out
    assert "checkpoint: part.npz" in out  # a run that was saving keeps saving there
    assert arrays(Path("part.npz")) == arrays(Path("whole.npz"))


def test_resume_alone_runs_the_steps_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("run.toml").write_text(
        "[trainer]\nsteps = 20\nseed = 1\ncheckpoint = 'ck.npz'\ncheckpoint_every = 5\n"
        "progress = false\n[model]\nhidden_size = 9\n[sampler]\nbatch_size = 30\n",
        encoding="utf-8",
    )
    assert main(["train", "--config", "run.toml", "--steps", "8"]) == 0  # as if cut short
    with np.load("ck.npz") as archive:
        assert int(archive["step"]) == 8
    meta = read_meta("ck.npz")
    meta_fit = meta["fit"]
    assert meta_fit == {"until": 8}
    assert meta["config"]["trainer"]["steps"] == 8
    capsys.readouterr()
    # A run whose fit reached its end has nothing left: --steps asks for more.
    assert main(["train", "--resume", "ck.npz"]) == 0
    out = capsys.readouterr().out
    assert "ck.npz is at step 8, where its run was to stop: --steps N trains N more" in out


def test_resume_refuses_flags_that_change_the_run_naming_every_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--steps", "2", "--optimizer", "adam", "--seed", "4", *COMMON,
                 "--checkpoint", "ck.npz"]) == 0
    before = Path("ck.npz").read_bytes()
    capsys.readouterr()
    argv = ["train", "--resume", "ck.npz", "--hidden-size", "13", "--optimizer", "sgd",
            "--batch-size", "60", "--seed", "9", "--scheme", "backprop"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    for fragment in (
        "minifw train: error: --resume ck.npz: the flags change the run it continues:",
        "[model] hidden_size 12 there, 13 here",
        "[model] seed 4 there, 9 here",
        "[sampler] batch_size 50 there, 60 here",
        "[sampler] seed 4 there, 9 here",
        "[differentiator] type 'CentralDiff' there, 'Backprop' here",
        "[optimizer] type 'Adam' there, 'SGD' here",
    ):
        assert fragment in err, err
    assert Path("ck.npz").read_bytes() == before
    # The same values are no change; how to run may change freely.
    same = ["train", "--resume", "ck.npz", "--hidden-size", "12", "--optimizer", "adam",
            "--steps", "1", "--eval-every", "1", "--workers", "1", "--no-progress"]
    assert main(same) == 0


def test_a_two_layer_checkpoint_does_not_resume_a_multi_layer_net(
    sample: MNIST, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The shapes fit (784-50-10 both), the models do not: refused in Python and on the CLI.
    two = Trainer(model=TwoLayerNet(seed=0), dataset=sample, progress=False, eval_every=0)
    two.fit(1, checkpoint=tmp_path / "two.npz")
    multi = Trainer(
        model=MultiLayerNet(hidden_sizes=(50,), activation="sigmoid", seed=0),
        dataset=sample,
        progress=False,
    )
    assert {k: v.shape for k, v in multi.model.params.items()} == {
        k: v.shape for k, v in two.model.params.items()
    }
    before = params(multi)
    with pytest.raises(CheckpointError, match=r"holds a .*:TwoLayerNet but this model is a .*MultiLayerNet"):
        multi.load_checkpoint(tmp_path / "two.npz")
    assert params(multi) == before
    argv = ["train", "--resume", str(tmp_path / "two.npz"), "--hidden-sizes", "50",
            "--activation", "sigmoid", "--steps", "1", "--no-progress"]
    assert main(argv) == 2
    assert "[model] type 'TwoLayerNet' there, 'MultiLayerNet' here" in capsys.readouterr().err


def test_resume_of_a_python_made_checkpoint_checks_the_data(
    sample: MNIST, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = MNIST.sample()
    trainer = Trainer(model=TwoLayerNet(hidden_size=5, seed=0), dataset=small, progress=False)
    trainer.fit(1, checkpoint=tmp_path / "ck.npz")
    assert main(["train", "--resume", str(tmp_path / "ck.npz"), "--steps", "1",
                 "--no-progress"]) == 0
    assert "now at step 2" in capsys.readouterr().out
    meta_path = tmp_path / "ck.npz"
    with np.load(meta_path) as archive:
        members = {k: archive[k] for k in archive.files}
    meta = json.loads(str(members["meta"]))
    meta["data"]["train"] = 60000
    members["meta"] = np.array(json.dumps(meta))
    np.savez(meta_path, **members)
    assert main(["train", "--resume", str(meta_path), "--steps", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "trained on minifw.data.mnist:MNIST with 60000 training examples" in err
    assert "the data given is minifw.data.mnist:MNIST with 4000" in err


def test_resume_never_imports_a_class_a_checkpoint_names(
    sample: MNIST, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trainer = Trainer(model=Scaled(), dataset=sample, progress=False, eval_every=0)
    trainer.fit(1, checkpoint=tmp_path / "ck.npz")
    assert main(["train", "--resume", str(tmp_path / "ck.npz"), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "its model is test_resume:Scaled, a class of your own; minifw never imports" in err
    assert "give --config with [model] type = 'test_resume:Scaled'" in err


def test_an_unseeded_run_prints_a_seed_that_repeats_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--steps", "5", *COMMON]
    assert main([*argv, "--checkpoint", "a.npz"]) == 0
    out = capsys.readouterr().out
    seed = out.split("seed: ")[1].split()[0]
    assert f"(none given, so chosen at random: --seed {seed} repeats this run)" in out
    assert main([*argv, "--checkpoint", "b.npz"]) == 0
    other = capsys.readouterr().out.split("seed: ")[1].split()[0]
    assert other != seed  # two unseeded runs differ ...
    assert main([*argv, "--checkpoint", "c.npz", "--seed", seed]) == 0
    assert "chosen at random" not in capsys.readouterr().out
    assert arrays(Path("a.npz")) == arrays(Path("c.npz"))  # ... and the printed seed repeats one
    assert arrays(Path("a.npz")) != arrays(Path("b.npz"))


def test_parts_records_round_trip() -> None:
    for part in (
        TwoLayerNet(hidden_size=3, seed=np.random.default_rng(0)),
        RandomChoiceSampler(7, seed=2, replace=False),
        CentralDiff(h="auto"),
        Adam(beta1=0.5),
    ):
        record = describe_part(part)
        json.dumps(record)
        base: Any = type(part).__mro__[1]
        rebuilt = rebuild_part(record, base, "part", source="x")
        assert type(rebuilt) is type(part)
    # A Generator seed is recorded as None: the restored state makes it moot.
    assert describe_part(TwoLayerNet(seed=np.random.default_rng(0)))["options"]["seed"] is None
