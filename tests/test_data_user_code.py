"""Written as a user would: new data sets from the public API (also type-checked by mypy), and
the how-to's data sets, registered and chosen by name through a configuration and the CLI."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import final

import attrs
import numpy as np
import pytest
from _data_helpers import GZ_NAMES, TEST, listing, write_folder

from minifw.app import registry
from minifw.app.cli import main
from minifw.app.config import TrainConfig
from minifw.app.registry import REGISTRY, Part
from minifw.data import Checksum, Dataset, DatasetSpec, IDXDataset, IDXFile, Split
from minifw.data.sources import Bundled, Downloadable, FromDirectory


def md5(stem: str, digest: str) -> IDXFile:
    return IDXFile(stem, Checksum("md5", digest))


# The example from docs/data.md, verbatim.
KMNIST_SPEC = DatasetSpec(
    name="kmnist",
    title="KMNIST",
    train_images=md5("train-images-idx3-ubyte", "bdb82020997e1d708af4cf47b453dcf7"),
    train_labels=md5("train-labels-idx1-ubyte", "e144d726b3acfaa3e44228e80efcd344"),
    test_images=md5("t10k-images-idx3-ubyte", "5c965bf0a639b31b8f53240b1b52f4d7"),
    test_labels=md5("t10k-labels-idx1-ubyte", "7320c461ea6c1c855c0b718fb2a4b134"),
    num_classes=10,
    mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
)


@final
@attrs.frozen(eq=False)
class KMNIST(IDXDataset):
    @classmethod
    def spec(cls) -> DatasetSpec:
        return KMNIST_SPEC


def class_balance(ds: Dataset) -> list[int]:
    """Code written against the abstract Dataset works for any data set."""
    counts: list[int] = np.bincount(ds.test.t, minlength=ds.num_classes).tolist()
    return counts


def test_a_new_idx_data_set_is_a_spec_and_a_hook(tmp_path: Path) -> None:
    ds: KMNIST = KMNIST.from_directory(write_folder(tmp_path), normalize=False)
    assert class_balance(ds) == [2] * 10
    np.testing.assert_array_equal(ds.test.x.reshape(20, 28, 28), TEST[0])


def test_a_data_set_in_memory_for_a_test() -> None:
    x = np.zeros((4, 784), dtype=np.float32)
    ds = KMNIST(train=Split(x, np.array([0, 1, 2, 3])), test=Split(x, np.array([3, 3, 3, 3])))
    assert class_balance(ds) == [0, 0, 0, 4, 0, 0, 0, 0, 0, 0]


# --- docs/howto/new-dataset.md, followed as written ----------------------------------------------

HOWTO = Path(__file__).resolve().parents[1] / "docs" / "howto" / "new-dataset.md"


def _howto_file(defines: str) -> str:
    """The how-to's code block (a whole file) that defines the class `defines`."""
    blocks: list[str] = re.findall(r"```python\n(.*?)```", HOWTO.read_text(encoding="utf-8"), re.S)
    return next(block for block in blocks if f"\nclass {defines}(" in block)


@pytest.fixture
def howto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, type[Dataset]]]:
    """The how-to's two files, as modules of one's own (`howto_kmnist`, `howto_squares`)."""
    modules = {name: f"howto_{name.lower()}" for name in ("KMNIST", "Squares")}
    for name, module in modules.items():
        (tmp_path / f"{module}.py").write_text(_howto_file(name), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield {name: getattr(importlib.import_module(m), name) for name, m in modules.items()}
    finally:
        for module in modules.values():
            sys.modules.pop(module, None)


@pytest.fixture
def registered(howto: dict[str, type[Dataset]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The how-to's one registration line for each, as if written in minifw.app.registry."""
    kind = REGISTRY["data"]
    parts = (Part(howto["KMNIST"], "kmnist"), Part(howto["Squares"], "squares"))
    monkeypatch.setitem(registry._KINDS, "data", attrs.evolve(kind, parts=(*kind.parts, *parts)))


def test_the_howto_offers_what_it_says(howto: dict[str, type[Dataset]]) -> None:
    assert issubclass(howto["KMNIST"], FromDirectory)
    assert issubclass(howto["KMNIST"], Downloadable)
    assert not issubclass(howto["KMNIST"], Bundled)
    assert issubclass(howto["Squares"], Bundled)
    assert not issubclass(howto["Squares"], FromDirectory | Downloadable)


@pytest.mark.usefixtures("registered")
def test_a_registered_idx_data_set_by_name(
    howto: dict[str, type[Dataset]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_folder(tmp_path / "kmnist-files")
    raw = {"data": {"name": "KMNIST", "source": "directory", "path": str(folder)}}
    dataset = TrainConfig.from_dict(raw).build_dataset()
    assert type(dataset) is howto["KMNIST"]
    np.testing.assert_array_equal(dataset.test.x.reshape(20, 28, 28) * 255, TEST[0])
    # The full data set from the cache: the files are there, so nothing connects.
    cache = write_folder(tmp_path / "cache" / "kmnist")
    before = listing(cache)
    argv = ["train", "--data", "kmnist", "--data-root", str(tmp_path / "cache"), "--quiet"]
    assert main([*argv, "--steps", "2", "--hidden-size", "3"]) == 0
    assert "2 steps in" in capsys.readouterr().out
    assert listing(cache) == before


@pytest.mark.usefixtures("registered")
def test_a_registered_data_set_made_in_code_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--data", "squares", "--steps", "100", "--learning-rate", "0.5", "--quiet"]
    assert main([*argv, "--hidden-size", "10", "--seed", "0", "--batch-size", "50"]) == 0
    out = capsys.readouterr().out
    assert "final step 100: train accuracy 1.0000, test accuracy 1.0000" in out
    dataset = TrainConfig.from_dict({"data": {"name": "Squares"}}).build_dataset()
    assert (len(dataset.train), len(dataset.test), dataset.num_classes) == (200, 100, 2)


def test_a_data_set_of_your_own_needs_no_registration(
    howto: dict[str, type[Dataset]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "Squares" not in REGISTRY["data"].names
    raw = {"data": {"name": "howto_squares:Squares"}}
    assert type(TrainConfig.from_dict(raw).build_dataset()) is howto["Squares"]
    cache = write_folder(tmp_path / "kmnist")
    argv = ["train", "--data", "howto_kmnist:KMNIST", "--data-root", str(tmp_path), "--quiet"]
    assert main([*argv, "--steps", "1", "--hidden-size", "3"]) == 0
    assert "1 step in" in capsys.readouterr().out
    assert listing(cache) == sorted(GZ_NAMES)
