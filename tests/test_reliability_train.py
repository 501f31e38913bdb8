"""Catalogue of hostile inputs to training, checkpoints and the command line (issue 22, classes 10, 11).

Every case: minifw's own error naming the input, nothing changed in memory or on disk, no
traceback (on the command line: one line, exit status 2), no process or file left.

- Class 10, meaning: a checkpoint of another model type with fitting shapes, optimizer state
  that cannot be (negative second moments), bool gradients.
- Class 11, files, configuration and targets: paths that are not `str`/`os.PathLike` or empty,
  configurations nested too deep or too large (`/dev/zero`, 200 MB), a closed stderr,
  conflicting flags, numpy warnings on the output, and a divergence blamed on the learning rate
  when no update had been made.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from minifw import (
    MNIST,
    SGD,
    AdaGrad,
    Adam,
    MultiLayerNet,
    Optimizer,
    RandomChoiceSampler,
    RMSprop,
    Trainer,
    TwoLayerNet,
)
from minifw.app.config import MAX_CONFIG_BYTES, TrainConfig, load_config
from minifw.errors import CheckpointError, ConfigError, MinifwError, TrainingError, ValidationError


@pytest.fixture(scope="module")
def sample() -> MNIST:
    return MNIST.sample()


def small(data: MNIST, **overrides: Any) -> Trainer:
    options: dict[str, Any] = {
        "model": TwoLayerNet(hidden_size=8, seed=0),
        "dataset": data,
        "sampler": RandomChoiceSampler(20, seed=0),
        "progress": False,
        "eval_every": 0,
        **overrides,
    }
    return Trainer(**options)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- class 10: meaning ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("optimizer", "key"),
    [(Adam(), "v.w"), (AdaGrad(), "h.w"), (RMSprop(), "h.w")],
    ids=["Adam", "AdaGrad", "RMSprop"],
)
def test_a_negative_second_moment_is_refused(optimizer: Optimizer, key: str) -> None:
    optimizer.update({"w": np.ones(3)}, {"w": np.ones(3)})
    saved = optimizer.state()
    bad = {**saved, key: np.array([0.1, -1e-3, 0.2])}
    with pytest.raises(ValidationError, match=rf"state\['{key}'\] holds negative values .* never negative"):
        optimizer.load_state(bad)
    for name, value in optimizer.state().items():
        np.testing.assert_array_equal(value, saved[name])


def test_a_checkpoint_with_a_negative_second_moment_is_refused(sample: MNIST, tmp_path: Path) -> None:
    trainer = small(sample, optimizer=Adam())
    trainer.fit(2)
    path = trainer.save_checkpoint(tmp_path / "ck.npz")
    with np.load(path) as archive:
        members = {k: archive[k] for k in archive.files}
    members["optimizer.v.b2"] = -np.abs(members["optimizer.v.b2"]) - 1.0
    np.savez(path, **members)
    victim = small(sample, optimizer=Adam(), model=TwoLayerNet(hidden_size=8, seed=4))
    before = {k: v.copy() for k, v in victim.model.params.items()}
    with pytest.raises(CheckpointError, match=r"'optimizer\.\*'.* state\['v\.b2'\] holds negative values"):
        victim.load_checkpoint(path)
    for name, value in victim.model.params.items():
        np.testing.assert_array_equal(value, before[name])
    assert victim.optimizer.steps == 0


@pytest.mark.parametrize("optimizer", [SGD(), Adam()], ids=["SGD", "Adam"])
def test_bool_gradients_are_refused(optimizer: Optimizer) -> None:
    params = {"w": np.ones(2)}
    with pytest.raises(ValidationError, match=r"grads\['w'\] must hold real numbers, got dtype bool"):
        optimizer.update(params, {"w": np.array([True, False])})
    np.testing.assert_array_equal(params["w"], [1.0, 1.0])
    assert optimizer.steps == 0


def test_a_checkpoint_of_another_model_type_with_the_same_shapes_is_refused(
    sample: MNIST, tmp_path: Path
) -> None:
    source = Trainer(model=TwoLayerNet(seed=0), dataset=sample, progress=False, eval_every=0)
    source.fit(1)
    path = source.save_checkpoint(tmp_path / "two.npz")
    victim = Trainer(model=MultiLayerNet(hidden_sizes=(50,), seed=0), dataset=sample,
                     progress=False)
    before = {k: v.tobytes() for k, v in victim.model.params.items()}
    with pytest.raises(CheckpointError, match=r"two\.npz holds a .*TwoLayerNet but this model is a .*MultiLayerNet"):
        victim.load_checkpoint(path)
    assert {k: v.tobytes() for k, v in victim.model.params.items()} == before


# --- class 11: paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        (b"ck.npz", "checkpoint must be a path (a str or an os.PathLike), got checkpoint=b'ck.npz'"),
        (123, "checkpoint must be a path (a str or an os.PathLike), got checkpoint=123"),
        ("", "checkpoint must name a file, got checkpoint=''"),
        ("   ", "checkpoint must name a file, got checkpoint='   '"),
        ("a\0b.npz", "checkpoint must not contain a NUL character"),
    ],
    ids=["bytes", "int", "empty", "blank", "nul"],
)
def test_checkpoint_paths_must_be_text_paths(
    sample: MNIST, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: object, fragment: str
) -> None:
    monkeypatch.chdir(tmp_path)
    trainer = small(sample)
    for call in (
        lambda: trainer.fit(1, checkpoint=path),  # type: ignore[arg-type]
        lambda: trainer.save_checkpoint(path),  # type: ignore[arg-type]
        lambda: trainer.load_checkpoint(path),  # type: ignore[arg-type]
        lambda: Trainer.from_checkpoint(path, dataset=sample),  # type: ignore[arg-type]
    ):
        with pytest.raises(CheckpointError) as caught:
            call()
        assert fragment in str(caught.value)
    assert trainer.step_count == 0
    assert list(tmp_path.iterdir()) == []


def test_configuration_paths_must_be_text_paths() -> None:
    with pytest.raises(ConfigError, match="configuration file must be a path"):
        load_config(b"train.toml")  # type: ignore[arg-type]


# --- class 11: configuration bombs -------------------------------------------------------------------


def test_a_configuration_nested_100000_deep_is_refused(tmp_path: Path) -> None:
    arrays = tmp_path / "arrays.toml"
    arrays.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"arrays\.toml: tables or arrays nested more than 32"):
        load_config(arrays)
    tables = tmp_path / "tables.toml"
    tables.write_text("[" + ".".join(["a"] * 100_000) + "]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"nested more than 32 levels"):
        load_config(tables)
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(100_000):
        inner["a"] = {}
        inner = inner["a"]
    with pytest.raises(ConfigError, match=r"<dict>: tables or arrays nested more than 32"):
        TrainConfig.from_dict({"trainer": deep})


def test_an_endless_configuration_is_read_only_up_to_its_bound() -> None:
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"/dev/zero is larger than 1024 KiB"):
        load_config("/dev/zero")
    assert time.perf_counter() - start < 5


def test_a_200_mb_configuration_is_not_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.toml"
    with huge.open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)  # sparse: 200 MB declared, nothing on disk
    with pytest.raises(ConfigError, match=r"huge\.toml is larger than 1024 KiB"):
        load_config(huge)
    just = tmp_path / "just.toml"
    just.write_bytes(b"#" * (MAX_CONFIG_BYTES - 1) + b"\n")  # the bound itself is fine
    assert load_config(just).steps == 1000


# --- class 11: the command line -----------------------------------------------------------------------


def run(argv: list[str], folder: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "minifw", *argv],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,
    )


def one_line_refusal(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "steps in" not in result.stdout


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["train", "--analytic", "--scheme", "central"], ["--analytic: not allowed with --scheme central"]),
        (["train", "--analytic", "--scheme", "five-point"], ["--analytic", "--scheme five-point"]),
        (["demo", "--no-plot", "--plot", "p.png"], ["--no-plot: not allowed with --plot p.png"]),
        (["train", "--config", "/dev/zero"], ["/dev/zero is larger than 1024 KiB"]),
        (["train", "--config", "deep.toml"], ["deep.toml: tables or arrays nested more than 32"]),
        (["train", "--plot", "p.gifx", "--steps", "1"], ["--plot p.gifx", "cannot write a plot as .gifx"]),
        (["train", "--plot", "plot", "--steps", "1"], ["--plot plot", "without a suffix"]),
        (["train", "--plot", "no/such/dir/p.png", "--steps", "1"], ["no/such/dir", "does not exist"]),
        (["demo", "--plot", "no/such/dir/p.png", "--steps", "1"], ["no/such/dir", "does not exist"]),
        (["train", "--resume", "nothing.npz"], ["checkpoint nothing.npz does not exist"]),
    ],
    ids=[
        "analytic and central", "analytic and five-point", "no-plot and plot", "/dev/zero",
        "deep config", "unknown plot format", "plot without suffix", "plot in a missing folder",
        "demo plot in a missing folder", "missing resume",
    ],
)
def test_conflicting_flags_and_hostile_files_are_one_line(
    tmp_path: Path, argv: list[str], fragments: list[str]
) -> None:
    (tmp_path / "deep.toml").write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    before = snapshot(tmp_path)
    one_line_refusal(run(argv, tmp_path), *fragments)
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.toml"]  # no folder made


def test_agreeing_flags_are_not_a_conflict(tmp_path: Path) -> None:
    result = run(["train", "--analytic", "--scheme", "backprop", "--steps", "2", "--quiet"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_a_closed_stderr_costs_the_messages_not_the_run(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "minifw", "train", "--steps", "3", "--hidden-size", "5",
            "--checkpoint", "ck.npz", "--seed", "0"]
    done = subprocess.run(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          stdin=subprocess.DEVNULL, text=True, timeout=120, check=False,
                          close_fds=True, preexec_fn=lambda: os.close(2))
    assert done.returncode == 0, done.stdout
    assert "3 steps in" in done.stdout
    assert (tmp_path / "ck.npz").exists()
    failed = subprocess.run([*argv, "--batch-size", "0"], cwd=tmp_path, stdout=subprocess.PIPE,
                            text=True, timeout=120, check=False, preexec_fn=lambda: os.close(2))
    assert failed.returncode == 2
    assert "internal error" not in failed.stdout


def test_a_closed_pipe_on_stdout_is_a_quiet_end(tmp_path: Path) -> None:
    reader = subprocess.Popen(["head", "-c", "10"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    result = subprocess.run([sys.executable, "-m", "minifw", "seed"], cwd=tmp_path,
                            stdout=reader.stdin, stderr=subprocess.PIPE, text=True, timeout=120,
                            check=False)
    assert reader.stdin is not None
    reader.stdin.close()
    reader.wait()
    assert result.returncode in (0, 141)  # finished before head closed, or told of it quietly
    assert "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr


@pytest.mark.parametrize(
    ("argv", "fragments", "absent"),
    [
        (
            ["train", "--analytic", "--hidden-sizes", "20", "--output", "identity", "--loss",
             "mean-squared", "--learning-rate", "10", "--steps", "500"],
            ["predictions became too large for a finite loss", "stopped with the parameters of",
             "(lower learning_rate=10.0?)"],
            [],
        ),
        (
            # Refused where the weights are drawn, before any step (the model's own check).
            ["train", "--analytic", "--weight-init-std", "1e308", "--steps", "5"],
            ["weight_init_std=1e+308 is too large", "overflow to inf"],
            ["learning_rate"],
        ),
        (
            ["train", "--analytic", "--hidden-sizes", "20", "--weight-init", "1e160", "--steps", "5"],
            # Refused when the model is assembled (its dry run of one row), before any step.
            ["layer 2 (Affine) gives non-finite values", "weights are too large",
             "weight_init=1e+160"],
            ["learning_rate"],
        ),
    ],
    ids=["diverging updates", "non-finite initial weights", "huge initial weights"],
)
def test_divergence_is_one_line_without_numpy_warnings_and_blames_the_right_thing(
    tmp_path: Path, argv: list[str], fragments: list[str], absent: list[str]
) -> None:
    result = run([*argv, "--seed", "0", "--no-progress"], tmp_path)
    one_line_refusal(result, *fragments)
    assert "RuntimeWarning" not in result.stderr
    assert "overflow encountered" not in result.stderr  # numpy's warning
    for word in absent:
        assert word not in result.stderr, result.stderr


def test_an_error_inside_training_changes_nothing_on_disk(tmp_path: Path) -> None:
    first = run(["train", "--steps", "2", "--seed", "0", "--checkpoint", "ck.npz", "--quiet"], tmp_path)
    assert first.returncode == 0, first.stderr
    before = snapshot(tmp_path)
    again = run(["train", "--resume", "ck.npz", "--steps", "3", "--learning-rate", "1e200",
                 "--quiet"], tmp_path)
    one_line_refusal(again, "[optimizer] learning_rate 0.1 there, 1e+200 here")
    assert snapshot(tmp_path) == before


def test_minifw_errors_are_minifw_errors() -> None:
    # The refusals above are the MinifwError family, which the command line turns into one line.
    for error in (CheckpointError, ConfigError, TrainingError, ValidationError):
        assert issubclass(error, MinifwError)
