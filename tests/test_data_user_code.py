"""Written as a user would: a new IDX data set from the public API (also type-checked by mypy)."""

from __future__ import annotations

from pathlib import Path
from typing import final

import attrs
import numpy as np
from _data_helpers import TEST, write_folder

from minifw.data import Checksum, Dataset, DatasetSpec, IDXDataset, IDXFile, Split


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
