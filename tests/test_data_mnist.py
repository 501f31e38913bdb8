"""MNIST: the bundled sample, folders of files (synthetic and the real MNIST test set)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from _data_helpers import TEST, TRAIN, Tiny, write_folder

from minifw.data import (
    MNIST,
    SAMPLE_SPEC,
    Dataset,
    DatasetSpec,
    FashionMNIST,
    IDXDataset,
    LoadOptions,
    Split,
    encode_idx,
    read_idx,
    write_idx,
)
from minifw.data.mnist import SAMPLE_FOLDER
from minifw.errors import (
    DataError,
    DatasetNotFoundError,
    IDXFormatError,
    IntegrityError,
    ValidationError,
)
from minifw.typing import AnyArray

REPO = Path(__file__).resolve().parents[1]
T10K = Path(os.environ.get("MINIFW_MNIST_T10K", REPO.parent / "shared" / "data" / "mnist-t10k"))
T10K_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


# --- the bundled sample -------------------------------------------------------------------------


def test_sample_with_the_book_defaults() -> None:
    ds = MNIST.sample()
    assert (ds.train.x.shape, ds.test.x.shape) == ((4000, 784), (1000, 784))
    assert ds.train.x.dtype == np.float32
    assert ds.train.x.min() == 0.0
    assert ds.train.x.max() == 1.0
    assert ds.train.t.dtype == np.intp
    assert ds.train.t.shape == (4000,)
    assert (len(ds.train), len(ds.test), ds.num_classes) == (4000, 1000, 10)


def test_sample_is_stratified_400_and_100_per_class() -> None:
    ds = MNIST.sample()
    assert np.bincount(ds.train.t).tolist() == [400] * 10
    assert np.bincount(ds.test.t).tolist() == [100] * 10
    assert ds.train.t[:20].tolist() == list(range(10)) * 2  # interleaved class by class


def test_sample_one_hot() -> None:
    ds = MNIST.sample(normalize=True, one_hot=True)
    assert ds.train.t.shape == (4000, 10)
    assert ds.test.t.shape == (1000, 10)
    assert ds.train.t.dtype == np.float32
    np.testing.assert_array_equal(ds.train.t.sum(axis=1), np.ones(4000))
    np.testing.assert_array_equal(ds.train.t.argmax(axis=1), MNIST.sample().train.t)


def test_sample_raw_and_unflattened() -> None:
    raw = MNIST.sample(normalize=False, flatten=False)
    assert raw.train.x.shape == (4000, 1, 28, 28)
    assert raw.train.x.dtype == np.uint8
    assert int(raw.train.x.max()) == 255
    scaled = MNIST.sample(normalize=True, flatten=True)
    np.testing.assert_array_equal(scaled.test.x, raw.test.x.reshape(1000, 784) / np.float32(255))


def test_sample_images_are_not_the_same_across_splits() -> None:
    raw = MNIST.sample(normalize=False)
    train_rows = {row.tobytes() for row in raw.train.x}
    assert not any(row.tobytes() in train_rows for row in raw.test.x)


def test_sample_files_are_standard_mnist_idx() -> None:
    images = read_idx(SAMPLE_FOLDER / "train-images-idx3-ubyte.gz")
    labels = read_idx(SAMPLE_FOLDER / "t10k-labels-idx1-ubyte.gz")
    assert (images.shape, labels.shape) == ((4000, 28, 28), (1000,))
    assert images.dtype == np.uint8


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLE_FOLDER.glob("*.gz")))
def test_a_tampered_sample_file_fails_its_sha256_check(tmp_path: Path, name: str) -> None:
    copy = Path(shutil.copytree(SAMPLE_FOLDER, tmp_path / "sample"))
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / name).write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as caught:
        MNIST._load(SAMPLE_SPEC, copy, options=LoadOptions(), verify=True)
    assert str(copy / name) in str(caught.value)
    assert "wrong sha256 checksum: expected" in str(caught.value)


def test_an_intact_copy_of_the_sample_passes_the_check(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(SAMPLE_FOLDER, tmp_path / "sample"))
    assert len(MNIST._load(SAMPLE_SPEC, copy, options=LoadOptions(), verify=True).test) == 1000


@pytest.mark.parametrize("option", ["normalize", "flatten", "one_hot"])
def test_options_must_be_booleans(option: str) -> None:
    with pytest.raises(ValidationError, match=f"{option} must be True or False, got {option}=1"):
        MNIST.sample(**{option: 1})  # type: ignore[arg-type]


# --- datasets built in memory -------------------------------------------------------------------


def test_a_dataset_built_in_memory() -> None:
    split = Split(x=np.zeros((2, 784), dtype=np.float32), t=np.array([1, 9]))
    ds = MNIST(train=split)
    assert ds.train is split
    assert isinstance(ds, Dataset)
    assert ds.num_classes == 10
    with pytest.raises(DatasetNotFoundError, match="MNIST has no test split: it was built in memory"):
        _ = ds.test


def test_split_lengths_must_agree() -> None:
    with pytest.raises(ValidationError, match=r"got x.shape=\(3, 784\) and t.shape=\(2,\)"):
        Split(x=np.zeros((3, 784)), t=np.zeros(2))


def test_split_accepts_array_likes() -> None:
    split = Split(x=[[0.0, 1.0]], t=[3])
    assert (split.x.shape, split.t.tolist()) == ((1, 2), [3])


def test_dataset_fields_must_be_splits() -> None:
    with pytest.raises(ValidationError, match="train must be a Split or None, got tuple"):
        MNIST(train=(np.zeros(1), np.zeros(1)))  # type: ignore[arg-type]


def test_idx_dataset_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        IDXDataset()  # type: ignore[abstract]


# --- folders of files ---------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_from_directory_reads_both_splits(tmp_path: Path, gz: bool) -> None:
    folder = write_folder(tmp_path, gz=gz)
    ds = Tiny.from_directory(folder, normalize=False, flatten=False)
    np.testing.assert_array_equal(ds.train.x[:, 0], TRAIN[0])
    np.testing.assert_array_equal(ds.test.t, TEST[1])
    assert ds.source == folder


def test_from_directory_accepts_a_string_path(tmp_path: Path) -> None:
    assert len(Tiny.from_directory(str(write_folder(tmp_path))).train) == 30


def test_a_folder_with_one_split_serves_that_split_only(tmp_path: Path) -> None:
    folder = write_folder(tmp_path, splits=("test",))
    ds = Tiny.from_directory(folder)
    assert len(ds.test) == 20
    with pytest.raises(DatasetNotFoundError) as caught:
        _ = ds.train
    message = str(caught.value)
    assert "Tiny has no train split" in message
    assert "train-images-idx3-ubyte.gz" in message
    assert str(folder) in message


def test_half_a_split_is_an_error_naming_the_missing_file(tmp_path: Path) -> None:
    folder = write_folder(tmp_path)
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"neither train-labels-idx1-ubyte\.gz nor"):
        Tiny.from_directory(folder)


def test_an_empty_folder_says_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as caught:
        MNIST.from_directory(tmp_path)
    message = str(caught.value)
    assert str(tmp_path) in message
    assert "t10k-labels-idx1-ubyte.gz" in message
    assert "MNIST.sample() works offline" in message


def test_a_missing_folder_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="that path is not a folder"):
        MNIST.from_directory(tmp_path / "nowhere")


def _replace(folder: Path, name: str, array: AnyArray) -> None:
    (folder / f"{name}.gz").unlink()
    write_idx(folder / name, array)


def test_images_and_labels_must_have_the_same_count(tmp_path: Path) -> None:
    folder = write_folder(tmp_path)
    _replace(folder, "t10k-labels-idx1-ubyte", TEST[1][:-1])
    with pytest.raises(DataError, match="holds 20 images but t10k-labels-idx1-ubyte holds 19"):
        Tiny.from_directory(folder)


def test_labels_must_lie_in_range(tmp_path: Path) -> None:
    folder = write_folder(tmp_path)
    labels = TEST[1].copy()
    labels[7] = 10
    _replace(folder, "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(DataError, match=r"labels must lie in 0..9, got 10 at index 7"):
        Tiny.from_directory(folder)


def test_negative_labels_are_out_of_range(tmp_path: Path) -> None:
    folder = write_folder(tmp_path)
    _replace(folder, "t10k-labels-idx1-ubyte", TEST[1].astype(np.int8) - 1)
    with pytest.raises(DataError, match="got -1 at index 0"):
        Tiny.from_directory(folder)


@pytest.mark.parametrize(
    ("name", "array", "problem"),
    [
        ("t10k-images-idx3-ubyte", np.zeros((20, 27, 28), np.uint8), r"shape \(20, 27, 28\)"),
        ("t10k-images-idx3-ubyte", np.zeros((20, 784), np.uint8), r"shape \(20, 784\)"),
        ("t10k-images-idx3-ubyte", np.zeros((20, 28, 28), np.float32), "type float32"),
        ("t10k-labels-idx1-ubyte", np.zeros((20, 1), np.uint8), r"labels of shape \(n,\)"),
        ("t10k-labels-idx1-ubyte", np.zeros(20, np.float64), "an integer type"),
    ],
)
def test_files_of_the_wrong_shape_or_type_are_rejected(
    tmp_path: Path, name: str, array: AnyArray, problem: str
) -> None:
    folder = write_folder(tmp_path)
    _replace(folder, name, array)
    with pytest.raises(DataError, match=problem) as caught:
        Tiny.from_directory(folder)
    assert str(folder / name) in str(caught.value)


def test_a_damaged_file_in_a_folder_names_the_file(tmp_path: Path) -> None:
    folder = write_folder(tmp_path)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IDXFormatError, match=f"{path}: the gzip stream is truncated"):
        Tiny.from_directory(folder)


def test_fashion_mnist_is_the_same_machinery(tmp_path: Path) -> None:
    ds = FashionMNIST.from_directory(write_folder(tmp_path), one_hot=True)
    assert ds.train.t.shape == (30, 10)
    spec = FashionMNIST.spec()
    assert spec.name == "fashion-mnist"
    assert spec.train_images.checksum is not None
    assert spec.train_images.checksum.hexdigest == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert spec.mirrors == ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)


def test_mnist_spec_holds_the_published_md5s_and_mirrors() -> None:
    spec = MNIST.spec()
    digests = [f.checksum.hexdigest for f in spec.all_files if f.checksum is not None]
    assert digests == [
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3",
        "ec29112dd5afa0611ce80d1b7f02629c",
    ]
    assert spec.mirrors[:2] == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    )


# --- the real MNIST test set (skipped where it is absent) --------------------------------------

needs_t10k = pytest.mark.skipif(
    not (T10K / "t10k-images-idx3-ubyte.gz").is_file(), reason=f"real MNIST files not in {T10K}"
)


@needs_t10k
def test_real_t10k_images_and_labels() -> None:
    images = read_idx(T10K / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(T10K / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28)
    assert images.dtype == np.uint8
    assert np.bincount(labels).tolist() == T10K_COUNTS
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


@needs_t10k
def test_real_training_labels() -> None:
    labels = read_idx(T10K / "train-labels-idx1-ubyte.gz")
    assert np.bincount(labels).tolist() == TRAIN_COUNTS


@needs_t10k
def test_real_test_split_from_a_folder_without_the_training_images(tmp_path: Path) -> None:
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).symlink_to(T10K / name)
    ds = MNIST.from_directory(tmp_path, one_hot=True)
    assert (ds.test.x.shape, ds.test.t.shape) == ((10000, 784), (10000, 10))
    assert ds.test.t.sum(axis=0).astype(int).tolist() == T10K_COUNTS
    with pytest.raises(DatasetNotFoundError, match=f"MNIST has no train split.* in {tmp_path}"):
        _ = ds.train


@needs_t10k
def test_real_files_decompressed_by_hand_still_load(tmp_path: Path) -> None:
    labels = read_idx(T10K / "t10k-labels-idx1-ubyte.gz")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(encode_idx(labels))
    (tmp_path / "t10k-images-idx3-ubyte.gz").symlink_to(T10K / "t10k-images-idx3-ubyte.gz")
    ds = MNIST.from_directory(tmp_path, normalize=False)
    assert ds.test.t.tolist()[:3] == [7, 2, 1]


@pytest.mark.parametrize(
    ("spec", "sizes"),
    [
        (MNIST.spec(), [9912422, 28881, 1648877, 4542]),
        (FashionMNIST.spec(), [26421880, 29515, 4422102, 5148]),
        (SAMPLE_SPEC, [650371, 58, 163695, 46]),
    ],
)
def test_specs_record_the_published_sizes_and_counts(spec: DatasetSpec, sizes: list[int]) -> None:
    assert [f.size for f in spec.all_files] == sizes
    counts = [4000, 4000, 1000, 1000] if spec is SAMPLE_SPEC else [60000, 60000, 10000, 10000]
    assert [f.count for f in spec.all_files] == counts
    assert spec.max_payload(spec.train_images) == counts[0] * 784
    assert spec.max_payload(spec.train_labels) == counts[1] * 4


def test_the_bundled_files_have_the_recorded_sizes() -> None:
    sizes = [(SAMPLE_FOLDER / f.gz_name).stat().st_size for f in SAMPLE_SPEC.all_files]
    assert sizes == [f.size for f in SAMPLE_SPEC.all_files]


def test_a_subset_of_mnist_in_a_folder_loads(tmp_path: Path) -> None:
    # Counts bound what is accepted; fewer examples than published are fine.
    ds = MNIST.from_directory(write_folder(tmp_path, splits=("test",)), normalize=False)
    assert len(ds.test) == 20
