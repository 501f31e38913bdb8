"""Data sets for minifw: MNIST and Fashion-MNIST (a bundled sample, a folder, a verified download).

A data set is a `Dataset` with a training and a test `Split`; the named constructors it offers
(`minifw.data.sources`) are how a configuration or the command line loads it by name.

Examples:
    >>> from minifw.data import MNIST
    >>> ds = MNIST.sample()
    >>> ds.train.x.shape, ds.test.t.shape
    ((4000, 784), (1000,))

"""

from minifw.data.dataset import Dataset, LoadOptions, Split
from minifw.data.download import ENV_VAR, cache_folder
from minifw.data.idx import decode_idx, encode_idx, read_idx, write_idx
from minifw.data.idx_dataset import IDXDataset
from minifw.data.mnist import FASHION_MNIST_SPEC, MNIST, MNIST_SPEC, SAMPLE_SPEC, FashionMNIST
from minifw.data.sources import Bundled, Downloadable, FromDirectory
from minifw.data.spec import Checksum, DatasetSpec, IDXFile

__all__ = [
    "ENV_VAR",
    "FASHION_MNIST_SPEC",
    "MNIST",
    "MNIST_SPEC",
    "SAMPLE_SPEC",
    "Bundled",
    "Checksum",
    "Dataset",
    "DatasetSpec",
    "Downloadable",
    "FashionMNIST",
    "FromDirectory",
    "IDXDataset",
    "IDXFile",
    "LoadOptions",
    "Split",
    "cache_folder",
    "decode_idx",
    "encode_idx",
    "read_idx",
    "write_idx",
]
