"""Checkpoints: exact resumption with optimizer state, and a catalogue of damaged files.

Every damaged or hostile file must raise CheckpointError naming the file (and the member, where
there is one), allocate nothing large, and leave the trainer exactly as it was: parameters,
optimizer state, sampler state, history and step count.
"""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from minifw import (
    MNIST,
    SGD,
    AdaGrad,
    Adam,
    Backprop,
    CentralDiff,
    Momentum,
    Nesterov,
    Optimizer,
    RandomChoiceSampler,
    RMSprop,
    ShuffleSampler,
    Trainer,
    TwoLayerNet,
)
from minifw.errors import CheckpointError
from minifw.train.checkpoint import (
    CHECKPOINT_FORMAT,
    LEGACY_FORMAT,
    check_writable,
    read_checkpoint,
)

#: Loading a damaged file may allocate no more than this (the model itself is ~50 KB).
MAX_PEAK_BYTES = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def sample() -> MNIST:
    return MNIST.sample()


def make_trainer(data: MNIST, optimizer: Optimizer | None = None, **overrides: Any) -> Trainer:
    options: dict[str, Any] = {
        "model": TwoLayerNet(hidden_size=3, seed=0),
        "dataset": data,
        "sampler": RandomChoiceSampler(20, seed=0),
        "differentiator": Backprop(),
        "progress": False,
        "eval_every": 2,
        **overrides,
    }
    if "learning_rate" not in overrides:  # learning_rate=r means SGD(r): no optimizer then
        options["optimizer"] = optimizer if optimizer is not None else Adam(0.01)
    return Trainer(**options)


def snapshot(trainer: Trainer) -> dict[str, Any]:
    """Everything a load may change, as bytes and plain values."""
    return {
        "params": {k: v.tobytes() for k, v in trainer.model.params.items()},
        "optimizer": {k: v.tobytes() for k, v in trainer.optimizer.state().items()},
        "sampler": {k: v.tobytes() for k, v in trainer.sampler.state().items()},
        "loss": list(trainer.history.loss),
        "evaluations": list(trainer.history.evaluations),
        "step": trainer.step_count,
    }


# --- exact resumption ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_optimizer",
    [SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam],
    ids=lambda f: f.__name__,
)
def test_three_plus_three_steps_through_a_checkpoint_equal_six(
    sample: MNIST, tmp_path: Path, make_optimizer: Callable[[], Optimizer]
) -> None:
    # Numerical gradients, as in the issue; a small network keeps it quick.
    def trainer() -> Trainer:
        return make_trainer(sample, make_optimizer(), differentiator=CentralDiff())

    straight = trainer()
    straight.fit(6)

    first = trainer()
    first.fit(3, checkpoint=tmp_path / "run.npz")
    resumed = trainer()
    resumed.model.params["W1"][...] = 5.0  # overwritten by the checkpoint
    resumed.load_checkpoint(tmp_path / "run.npz")
    assert resumed.optimizer.steps == 3
    resumed.fit(3)

    for name, value in straight.model.params.items():
        assert resumed.model.params[name].tobytes() == value.tobytes(), name
    straight_state = straight.optimizer.state()
    assert set(resumed.optimizer.state()) == set(straight_state)
    for key, value in resumed.optimizer.state().items():
        assert value.tobytes() == straight_state[key].tobytes(), key
    assert resumed.history.loss == straight.history.loss
    assert resumed.step_count == 6


def test_the_file_holds_the_optimizer_state(sample: MNIST, tmp_path: Path) -> None:
    trainer = make_trainer(sample)
    trainer.fit(2)
    path = trainer.save_checkpoint(tmp_path / "ck.npz")
    with np.load(path, allow_pickle=False) as data:
        assert str(data["format"]) == CHECKPOINT_FORMAT == "minifw-checkpoint-2"
        assert int(data["step"]) == 2
        assert int(data["optimizer.step"]) == 2
        np.testing.assert_array_equal(data["optimizer.m.W1"], trainer.optimizer.state()["m.W1"])
        meta = json.loads(str(data["meta"]))
        files = set(data.files)
    assert meta["optimizer"] == {
        "type": "Adam",
        "repr": "Adam(learning_rate=0.01, beta1=0.9, beta2=0.999, eps=1e-07)",
    }
    assert meta["sampler"] == "RandomChoiceSampler"
    assert {"optimizer.v.b2", "param.b2", "history.loss", "sampler.rng"} <= files
    with zipfile.ZipFile(path) as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}


def test_a_checkpoint_before_any_step_resumes(sample: MNIST, tmp_path: Path) -> None:
    path = make_trainer(sample).save_checkpoint(tmp_path / "zero.npz")
    resumed = make_trainer(sample)
    resumed.load_checkpoint(path)
    assert resumed.step_count == 0
    assert resumed.optimizer.state() == {"step": 0}


def test_changed_hyperparameters_are_allowed(sample: MNIST, tmp_path: Path) -> None:
    # Lowering the learning rate on resume is common; the state carries over.
    first = make_trainer(sample)
    first.fit(2)
    first.save_checkpoint(tmp_path / "ck.npz")
    resumed = make_trainer(sample, Adam(0.001))
    resumed.load_checkpoint(tmp_path / "ck.npz")
    assert resumed.optimizer.steps == 2
    assert resumed.learning_rate == 0.001


# --- the earlier format ----------------------------------------------------------------------


def write_legacy(trainer: Trainer, path: Path) -> None:
    """Write what minifw 0.1.0 wrote (minifw-checkpoint-1: no optimizer state)."""
    meta = {
        "model": type(trainer.model).__name__,
        "sampler": type(trainer.sampler).__name__,
        "shapes": {k: list(v.shape) for k, v in trainer.model.params.items()},
        "learning_rate": trainer.learning_rate,
    }
    arrays: dict[str, Any] = {
        "format": np.array(LEGACY_FORMAT),
        "meta": np.array(json.dumps(meta)),
        "step": np.array(trainer.step_count, dtype=np.int64),
    }
    arrays.update({f"param.{k}": v for k, v in trainer.model.params.items()})
    arrays.update({f"history.{k}": v for k, v in trainer.history.to_arrays().items()})
    arrays.update({f"sampler.{k}": v for k, v in trainer.sampler.state().items()})
    np.savez(path, allow_pickle=False, **arrays)


def test_a_legacy_checkpoint_resumes_sgd_exactly(sample: MNIST, tmp_path: Path) -> None:
    straight = make_trainer(sample, learning_rate=0.5)
    straight.fit(6)
    first = make_trainer(sample, learning_rate=0.5)
    first.fit(3)
    write_legacy(first, tmp_path / "old.npz")
    resumed = make_trainer(sample, learning_rate=0.5)
    resumed.load_checkpoint(tmp_path / "old.npz")
    assert resumed.optimizer.steps == 3
    resumed.fit(3)
    for name, value in straight.model.params.items():
        assert resumed.model.params[name].tobytes() == value.tobytes(), name
    assert resumed.history.loss == straight.history.loss


def test_a_legacy_checkpoint_cannot_resume_a_stateful_optimizer(
    sample: MNIST, tmp_path: Path
) -> None:
    old = make_trainer(sample, learning_rate=0.5)
    old.fit(2)
    write_legacy(old, tmp_path / "old.npz")
    trainer = make_trainer(sample, Momentum())
    before = snapshot(trainer)
    with pytest.raises(
        CheckpointError,
        match="is a minifw-checkpoint-1 file, which holds no optimizer state: it can resume a "
        "trainer with SGD, not one with Momentum",
    ):
        trainer.load_checkpoint(tmp_path / "old.npz")
    assert snapshot(trainer) == before


# --- a catalogue of damaged and hostile files ------------------------------------------------


def npy_bytes(value: Any) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=True)
    return buffer.getvalue()


def npy_header_only(shape: tuple[int, ...], descr: str = "<f8", data: bytes = b"") -> bytes:
    """An .npy header declaring ``shape`` followed by only ``data``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue() + data


def members_of(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist()}


def write_members(
    path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED
) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def good_file(sample: MNIST, tmp_path_factory: pytest.TempPathFactory) -> Path:
    trainer = make_trainer(sample, sampler=ShuffleSampler(20, seed=0))
    trainer.fit(3)
    return trainer.save_checkpoint(tmp_path_factory.mktemp("good") / "good.npz")


@pytest.fixture
def victim(sample: MNIST) -> Trainer:
    """A trainer with a state of its own, to be left untouched by every failed load."""
    trainer = make_trainer(sample, sampler=ShuffleSampler(20, seed=1))
    trainer.model.params["b1"][...] = 0.25
    trainer.fit(2)
    return trainer


def assert_refused(trainer: Trainer, path: Path, *fragments: str) -> CheckpointError:
    before = snapshot(trainer)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as info:
            trainer.load_checkpoint(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    assert peak < MAX_PEAK_BYTES, f"loading allocated {peak} bytes"
    assert snapshot(trainer) == before
    return info.value


def replace(members: dict[str, bytes], name: str, data: bytes | None) -> dict[str, bytes]:
    changed = dict(members)
    if data is None:
        del changed[f"{name}.npy"]
    else:
        changed[f"{name}.npy"] = data
    return changed


def test_the_good_file_loads(victim: Trainer, good_file: Path) -> None:
    victim.load_checkpoint(good_file)
    assert victim.step_count == 3


MISSING = [
    "format",
    "meta",
    "step",
    "param.b2",
    "optimizer.step",
    "optimizer.m.W1",
    "sampler.rng",
    "sampler.order",
    "history.loss",
    "history.eval_step",
    "history.test_accuracy",
]


@pytest.mark.parametrize("member", MISSING)
def test_a_missing_member(victim: Trainer, good_file: Path, tmp_path: Path, member: str) -> None:
    path = write_members(tmp_path / "ck.npz", replace(members_of(good_file), member, None))
    if member == "param.b2":
        assert_refused(victim, path, "holds parameters", "but the model has")
    elif member == "optimizer.m.W1":
        assert_refused(victim, path, "'optimizer.*'", "lacks 'm.W1'")
    else:
        assert_refused(victim, path, f"member {member!r}", "is missing")


# (member, replacement npy bytes, fragments of the message)
DAMAGED: list[tuple[str, bytes, tuple[str, ...]]] = [
    ("meta", npy_bytes("{not json"), ("member 'meta'", "is not JSON")),
    ("meta", npy_bytes("[1, 2]"), ("member 'meta'", "must be a JSON object, got list")),
    ("meta", npy_bytes(json.dumps({"model": "TwoLayerNet"})), ("member 'meta'", "lacks 'sampler'")),
    ("meta", npy_bytes(np.zeros(3)), ("member 'meta'", "must be a text scalar, got float64")),
    ("format", npy_bytes("minifw-checkpoint-9"), ("member 'format'", "is 'minifw-checkpoint-9'")),
    ("format", npy_bytes("x" * 100_000), ("member 'format'", "declares 100000 characters")),
    ("step", npy_bytes("3"), ("member 'step'", "must be an int64 scalar, got <U1")),
    ("step", npy_bytes(3.0), ("member 'step'", "must be an int64 scalar, got float64")),
    ("step", npy_bytes(np.int64(-1)), ("member 'step'", "must be between 0 and 2**62, got -1")),
    (
        "param.W1",
        npy_bytes(np.full((784, 3), "1.0")),
        ("member 'param.W1'", "must hold float64 numbers, got <U3"),
    ),
    (
        "param.W1",
        npy_bytes(np.full((784, 3), None, dtype=object)),
        ("member 'param.W1'", "holds Python objects"),
    ),
    (
        "param.W1",
        npy_bytes(np.zeros((784, 3), dtype=np.float32)),
        ("member 'param.W1'", "got float32"),
    ),
    (
        "param.b1",
        npy_bytes(np.array([0.0, np.nan, 0.0])),
        ("member 'param.b1'", "holds non-finite values"),
    ),
    ("param.W1", npy_header_only((10**12,)), ("holds parameters", "'W1': (1000000000000,)")),
    (
        "param.b1",
        npy_header_only((3,), data=b"\0" * 8),
        ("member 'param.b1'", "declares 136 bytes but its header (float64, shape (3,)) means 152"),
    ),
    (
        "optimizer.v.W2",
        npy_header_only((10**12,)),
        ("member 'optimizer.v.W2'", "declares shape (1000000000000,), expected (3, 10)"),
    ),
    ("optimizer.step", npy_bytes(np.int64(0)), ("'optimizer.*'", "has step 0 but holds arrays")),
    (
        "history.loss",
        npy_header_only((10**12,)),
        ("member 'history.loss'", "declares shape (1000000000000,), expected (3,)"),
    ),
    (
        "history.loss",
        npy_bytes(np.zeros(5)),
        ("member 'history.loss'", "declares shape (5,), expected (3,)"),
    ),
    (
        "history.eval_step",
        npy_bytes(np.array([2, 2])),
        ("member 'history.eval_step'", "must increase"),
    ),
    ("history.eval_step", npy_bytes(np.array([9])), ("member 'history.eval_step'", "outside 0..3")),
    (
        "history.train_accuracy",
        npy_bytes(np.array([1.5, 0.1])),
        ("member 'history.train_accuracy'", "outside [0, 1]"),
    ),
    (
        "sampler.order",
        npy_header_only((10**9,), "<i8"),
        ("member 'sampler.order'", "more than 8000 entries"),
    ),
    (
        "sampler.rng",
        npy_bytes(np.zeros(2)),
        ("member 'sampler.rng'", "must be like this sampler's state"),
    ),
    (
        "sampler.rng",
        npy_header_only((), "<U100000000"),
        ("member 'sampler.rng'", "declares 100000000 characters"),
    ),
]


def test_a_sampler_state_the_sampler_rejects(
    victim: Trainer, good_file: Path, tmp_path: Path
) -> None:
    # The checkpoint checks the state's form; its meaning is the sampler's own load_state's.
    members = replace(members_of(good_file), "sampler.order", npy_bytes(np.array([1.5])))
    path = write_members(tmp_path / "ck.npz", members)
    assert_refused(victim, path, "member 'sampler.order'", "must be like this sampler's state")


def test_a_negative_sampler_position(victim: Trainer, good_file: Path, tmp_path: Path) -> None:
    members = replace(members_of(good_file), "sampler.position", npy_bytes(np.array(-5)))
    path = write_members(tmp_path / "ck.npz", members)
    assert_refused(victim, path, "sampler state this sampler rejects")


@pytest.mark.parametrize(
    ("member", "data", "fragments"),
    DAMAGED,
    ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(DAMAGED)],
)
def test_a_damaged_member(
    victim: Trainer,
    good_file: Path,
    tmp_path: Path,
    member: str,
    data: bytes,
    fragments: tuple[str, ...],
) -> None:
    path = write_members(tmp_path / "ck.npz", replace(members_of(good_file), member, data))
    assert_refused(victim, path, *fragments)


def test_an_unknown_member(victim: Trainer, good_file: Path, tmp_path: Path) -> None:
    members = {**members_of(good_file), "evil.npy": npy_bytes(np.zeros(1))}
    path = write_members(tmp_path / "ck.npz", members)
    assert_refused(victim, path, "member 'evil'", "unknown member")
    members = {**members_of(good_file), "readme.txt": b"hello"}
    path = write_members(tmp_path / "ck2.npz", members)
    assert_refused(victim, path, "member 'readme.txt'", "is not an .npy array")


def test_a_member_twice(victim: Trainer, good_file: Path, tmp_path: Path) -> None:
    path = write_members(tmp_path / "ck.npz", members_of(good_file))
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as archive:
        archive.writestr("step.npy", npy_bytes(np.int64(1)))
    assert_refused(victim, path, "member 'step'", "appears twice")


def test_a_member_that_inflates_to_hundreds_of_mib(
    victim: Trainer, good_file: Path, tmp_path: Path
) -> None:
    # 256 MiB of zeros deflate to about 256 KB; the zip declares the inflated size.
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members_of(good_file).items():
            if name != "history.loss.npy":
                archive.writestr(name, data)
        with archive.open("history.loss.npy", "w", force_zip64=True) as stream:
            stream.write(npy_header_only((32 * 1024 * 1024,)))
            chunk = bytes(1024 * 1024)
            for _ in range(256):
                stream.write(chunk)
    assert path.stat().st_size < 2 * 1024 * 1024
    assert_refused(victim, path, "member 'format'", "is compressed", "uncompressed (np.savez)")


def test_a_compressed_checkpoint_is_refused(
    victim: Trainer, good_file: Path, tmp_path: Path
) -> None:
    path = write_members(tmp_path / "small.npz", members_of(good_file), zipfile.ZIP_DEFLATED)
    assert_refused(victim, path, "is compressed (method 8")


@pytest.mark.parametrize("keep", [0, 10, 100, 1000, -200, -1])
def test_a_truncated_file(victim: Trainer, good_file: Path, tmp_path: Path, keep: int) -> None:
    data = good_file.read_bytes()
    path = tmp_path / "cut.npz"
    path.write_bytes(data[:keep])
    assert_refused(victim, path, "is not a minifw checkpoint (.npz archive)")


def test_a_flipped_byte_anywhere(victim: Trainer, good_file: Path, tmp_path: Path) -> None:
    # Bytes flipped in turn: either a CheckpointError that changes nothing, or (for bytes zip
    # does not check, such as timestamps) the very same content.
    data = bytearray(good_file.read_bytes())
    good = make_trainer(MNIST.sample(), sampler=ShuffleSampler(20, seed=1))
    good.load_checkpoint(good_file)
    expected = snapshot(good)
    path = tmp_path / "flipped.npz"
    refused = 0
    # Every 97th byte, and every 7th of the last 1500 (the directory and the last members).
    positions = sorted({*range(0, len(data), 97), *range(len(data) - 1500, len(data), 7)})
    for position in positions:
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        path.write_bytes(damaged)
        before = snapshot(victim)
        try:
            victim.load_checkpoint(path)
        except CheckpointError as err:
            message = str(err)
            refused += 1
        else:
            assert snapshot(victim) == expected, f"byte {position} changed the content"
            continue
        assert str(path) in message
        assert snapshot(victim) == before
    assert refused > 0.9 * len(positions)


def test_a_flipped_byte_in_a_parameter_names_it(
    victim: Trainer, good_file: Path, tmp_path: Path
) -> None:
    data = bytearray(good_file.read_bytes())
    with zipfile.ZipFile(good_file) as archive:
        info = archive.getinfo("param.W2.npy")
    # The member's data follows its local header (30 bytes, the name, the extra field).
    with good_file.open("rb") as handle:
        handle.seek(info.header_offset + 26)
        lengths = handle.read(4)
    start = (
        info.header_offset
        + 30
        + int.from_bytes(lengths[:2], "little")
        + int.from_bytes(lengths[2:], "little")
    )
    data[start + info.file_size - 3] ^= 0x01
    path = tmp_path / "flipped.npz"
    path.write_bytes(data)
    assert_refused(victim, path, "member 'param.W2'", "is damaged", "Bad CRC-32")


def test_a_plain_npy_file(victim: Trainer, tmp_path: Path) -> None:
    path = tmp_path / "params.npz"
    np.save(path, np.zeros(3))
    (tmp_path / "params.npz.npy").rename(path)
    assert_refused(victim, path, "is a single .npy array, not a minifw checkpoint")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "is not a minifw checkpoint"), (b"not a zip file", "is not a minifw checkpoint")],
)
def test_not_a_zip(victim: Trainer, tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    assert_refused(victim, path, fragment)


def test_a_folder_or_nothing(victim: Trainer, tmp_path: Path) -> None:
    assert_refused(victim, tmp_path, "is a folder")
    assert_refused(victim, tmp_path / "missing.npz", "does not exist")


def test_another_optimizer_is_refused(victim: Trainer, good_file: Path, sample: MNIST) -> None:
    trainer = make_trainer(sample, Momentum(), sampler=ShuffleSampler(20, seed=1))
    assert_refused(
        trainer, good_file, "was saved with the optimizer Adam but this trainer uses Momentum"
    )


def test_another_sampler_is_refused(good_file: Path, sample: MNIST) -> None:
    trainer = make_trainer(sample)
    assert_refused(trainer, good_file, "was saved with a ShuffleSampler but this trainer uses")


def test_another_model_is_refused(good_file: Path, sample: MNIST) -> None:
    trainer = make_trainer(
        sample, model=TwoLayerNet(hidden_size=4, seed=0), sampler=ShuffleSampler(20, seed=1)
    )
    assert_refused(trainer, good_file, "holds parameters", "but the model has", "'W1': (784, 4)")


def test_read_checkpoint_changes_nothing(victim: Trainer, good_file: Path) -> None:
    before = snapshot(victim)
    checkpoint = read_checkpoint(
        good_file,
        model=victim.model,
        sampler=victim.sampler,
        optimizer=victim.optimizer,
        train_size=len(victim.dataset.train),
    )
    assert checkpoint.step == 3
    assert checkpoint.format == CHECKPOINT_FORMAT
    assert sorted(checkpoint.optimizer)[:3] == ["m.W1", "m.W2", "m.b1"]
    assert snapshot(victim) == before


# --- writing -----------------------------------------------------------------------------------


def test_check_writable(tmp_path: Path) -> None:
    assert check_writable(tmp_path / "new" / "run.npz") == tmp_path / "new" / "run.npz"
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == []
    with pytest.raises(CheckpointError, match="it is a folder"):
        check_writable(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*file/run.npz"):
        check_writable(tmp_path / "file" / "run.npz")


def test_fit_checks_the_checkpoint_path_before_training(sample: MNIST, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    trainer = make_trainer(sample)
    before = snapshot(trainer)
    with pytest.raises(CheckpointError, match="cannot write checkpoint"):
        trainer.fit(5, checkpoint=tmp_path / "file" / "run.npz")
    assert snapshot(trainer) == before


def test_non_finite_values_are_never_saved(sample: MNIST, tmp_path: Path) -> None:
    trainer = make_trainer(sample)
    trainer.history.loss.append(float("nan"))
    with pytest.raises(
        CheckpointError, match=r"refusing to save non-finite values in history\.loss"
    ):
        trainer.save_checkpoint(tmp_path / "ck.npz")
    assert not (tmp_path / "ck.npz").exists()


def test_a_history_that_could_not_be_loaded_is_not_saved(sample: MNIST, tmp_path: Path) -> None:
    trainer = make_trainer(sample)
    trainer.fit(2)
    trainer.history.loss.pop()
    with pytest.raises(CheckpointError, match="the history holds 1 losses for 2 steps"):
        trainer.save_checkpoint(tmp_path / "ck.npz")
    trainer.history.loss.append(2.0)
    trainer.history.evaluations.append(trainer.history.evaluations[-1])
    with pytest.raises(CheckpointError, match=r"evaluation steps \[2, 2\] do not increase"):
        trainer.save_checkpoint(tmp_path / "ck.npz")
    assert not (tmp_path / "ck.npz").exists()
