"""Where a data set can come from: its named constructors, one `Protocol` each.

A configuration (`[data] source = ...`) and the command line (`--data`) load a data set class by
asking it for one of three constructors; a class offers those that make sense for it, and only
those. [`Bundled`][minifw.data.sources.Bundled] is `sample()`, what ships with the code (no files,
no network); [`FromDirectory`][minifw.data.sources.FromDirectory] is `from_directory(path)`, files
you have; [`Downloadable`][minifw.data.sources.Downloadable] is `download(root)`, the full data set
in a cache folder, fetched once. Each takes the options of the book's `load_mnist`: `normalize`,
`flatten` and `one_hot`.

Examples:
    >>> from minifw.data import MNIST, FashionMNIST
    >>> issubclass(MNIST, Bundled), issubclass(FashionMNIST, Bundled)
    (True, False)
    >>> issubclass(FashionMNIST, FromDirectory), issubclass(FashionMNIST, Downloadable)
    (True, True)

"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

from minifw.data.dataset import Dataset

__all__ = ["Bundled", "Downloadable", "FromDirectory"]


@runtime_checkable
class Bundled(Protocol):
    """A data set class that ships with its code: `sample()` needs no files and no network.

    MNIST's 5,000 bundled digits are one; a data set made in code (a test's, a toy problem's) is
    another.
    """

    @classmethod
    def sample(
        cls, *, normalize: bool = True, flatten: bool = True, one_hot: bool = False
    ) -> Dataset:
        """Return the data set that comes with the code."""
        ...


@runtime_checkable
class FromDirectory(Protocol):
    """A data set class that reads its files from a folder you name."""

    @classmethod
    def from_directory(
        cls,
        path: str | os.PathLike[str],
        *,
        normalize: bool = True,
        flatten: bool = True,
        one_hot: bool = False,
    ) -> Dataset:
        """Return the data set whose files are in `path`."""
        ...


@runtime_checkable
class Downloadable(Protocol):
    """A data set class that keeps its files in a cache folder and fetches the missing ones once.

    `root` is the cache's base folder (`None`: `$MINIFW_DATA`, else `~/.cache/minifw`); files
    already there are used without touching the network.
    """

    @classmethod
    def download(
        cls,
        root: str | os.PathLike[str] | None = None,
        *,
        normalize: bool = True,
        flatten: bool = True,
        one_hot: bool = False,
        progress: bool = True,
    ) -> Dataset:
        """Return the data set from the cache under `root`, downloading what is missing."""
        ...
