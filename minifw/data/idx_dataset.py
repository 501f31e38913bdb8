"""The shared loader of data sets stored as four IDX files, such as MNIST.

[`IDXDataset`][minifw.data.idx_dataset.IDXDataset] reads a folder
([`IDXDataset.from_directory`][minifw.data.idx_dataset.IDXDataset.from_directory]) or a verified
download ([`IDXDataset.download`][minifw.data.idx_dataset.IDXDataset.download]), checking that
images and labels agree before building a [`Split`][minifw.data.dataset.Split]. A concrete data set
only says which files it is made of.
"""

from __future__ import annotations

import abc
import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import attrs
import numpy as np

from minifw.data._checks import as_path
from minifw.data.dataset import Dataset, LoadOptions, Split
from minifw.data.download import DEFAULT_DEADLINE, cache_folder, fetch_files
from minifw.data.idx import read_idx
from minifw.data.spec import DatasetSpec, IDXFile, SplitName
from minifw.errors import DataError, DatasetNotFoundError, ValidationError
from minifw.typing import AnyArray

__all__ = ["IDXDataset"]


def _check_split(
    instance: IDXDataset, attribute: attrs.Attribute[Split | None], value: Split | None
) -> None:
    if value is not None and not isinstance(value, Split):
        name = attribute.alias
        raise ValidationError(f"{name} must be a Split or None, got {type(value).__name__}")


@attrs.frozen(eq=False)
class IDXDataset(Dataset):
    """A data set stored as four IDX files (MNIST's format); abstract.

    A concrete data set fills in one hook, [`spec`][minifw.data.idx_dataset.IDXDataset.spec], which
    returns its files, checksums, mirrors and classes as data. Loading
    ([`from_directory`][minifw.data.idx_dataset.IDXDataset.from_directory]) and downloading
    ([`download`][minifw.data.idx_dataset.IDXDataset.download]) are shared.

    Examples:
        Built directly, a data set holds splits given in memory:

        >>> import numpy as np
        >>> from minifw.data import MNIST
        >>> tiny = MNIST(test=Split(x=np.zeros((2, 784), dtype=np.float32), t=np.array([3, 5])))
        >>> len(tiny.test)
        2
        >>> tiny.train
        Traceback (most recent call last):
        ...
        minifw.errors.DatasetNotFoundError: MNIST has no train split: it was built in memory without one

    """

    _train: Split | None = attrs.field(default=None, alias="train", validator=_check_split)
    _test: Split | None = attrs.field(default=None, alias="test", validator=_check_split)
    source: Path | None = attrs.field(default=None, kw_only=True)
    """The folder the splits were read from, or `None` for splits built in memory."""

    @classmethod
    @abc.abstractmethod
    def spec(cls) -> DatasetSpec:
        """Return the data set's files, checksums, mirrors and number of classes."""

    @property
    def train(self) -> Split:
        """The training split; `DatasetNotFoundError` if absent."""
        return self._split("train", self._train)

    @property
    def test(self) -> Split:
        """The test split; `DatasetNotFoundError` if absent."""
        return self._split("test", self._test)

    @property
    def num_classes(self) -> int:
        """The number of classes, from [`spec`][minifw.data.idx_dataset.IDXDataset.spec]."""
        return self.spec().num_classes

    @classmethod
    def from_directory(
        cls,
        path: str | os.PathLike[str],
        *,
        normalize: bool = True,
        flatten: bool = True,
        one_hot: bool = False,
    ) -> Self:
        """Load the data set from a folder holding its IDX files, `.gz` or uncompressed.

        A folder with only one split's two files is usable for that split; asking for the other
        raises [`DatasetNotFoundError`][minifw.errors.DatasetNotFoundError]. Files are accepted
        whenever they are well-formed IDX files (re-compressed copies are fine); checksums apply to
        downloads only. Each file's header is checked against the spec (image shape and type, at
        most the published number of examples) before its data is read, so memory stays bounded by
        what the data set may hold, whatever a damaged or hostile file declares or inflates to.

        Examples:
            >>> import pathlib, tempfile
            >>> from minifw.data import MNIST
            >>> MNIST.from_directory(pathlib.Path(tempfile.mkdtemp()))  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            minifw.errors.DatasetNotFoundError: no MNIST files in ...: looked for train-images-idx3-ubyte.gz, ...

        """
        options = LoadOptions(normalize=normalize, flatten=flatten, one_hot=one_hot)
        return cls._load(cls.spec(), as_path(path, "path"), options=options, verify=False)

    @classmethod
    def download(
        cls,
        root: str | os.PathLike[str] | None = None,
        mirrors: Sequence[str] | None = None,
        *,
        normalize: bool = True,
        flatten: bool = True,
        one_hot: bool = False,
        progress: bool = True,
        deadline: float | None = DEFAULT_DEADLINE,
    ) -> Self:
        """Download the data set into a cache folder unless already there, then load it.

        The folder is `<root>/<spec().name>`; `root` defaults to the `MINIFW_DATA`
        environment variable (read at each call), else `~/.cache/minifw`. Missing files are
        fetched from `mirrors` (default `spec().mirrors`) in order, each checked against its
        published checksum and moved into the folder only when complete and correct. Files
        already in the folder are used as they are.

        A mirror may not send more than the file's published size (or, when none is recorded,
        than the format allows for the data set); it is cut off there and the next one tried.

        Args:
            root: the base cache folder (see above).
            mirrors: base URLs (http, https, ftp or file) tried in order for each file.
            normalize: pixels as float32 in [0, 1] (else raw uint8), as for `sample`.
            flatten: images as `(n, 784)` rows (else `(n, 1, 28, 28)`).
            one_hot: labels as one-hot rows (else class indices).
            progress: show a progress bar on stderr when it is a terminal.
            deadline: seconds the whole download may take (every file, every mirror), default
                600; `None` for no limit. Each network read also gives up after 30 seconds
                without data (or the time left, if less), so a server that sends a byte now and
                then cannot hold the download past the deadline.

        Raises:
            ValidationError: an argument has the wrong type or value (a mirror that is not a
                URL, a deadline that is not a positive number of seconds, ...).
            DownloadError: a file could not be fetched from any mirror, or the deadline passed;
                the message lists each mirror's failure and how to place the files by hand.
            DataError: the cache folder cannot be written (a full disk, no permission).

        Examples:
            >>> import tempfile
            >>> from minifw.data import MNIST
            >>> MNIST.download(root=tempfile.mkdtemp(), mirrors=[])  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            minifw.errors.DownloadError: could not download MNIST file train-images-idx3-ubyte.gz into .../mnist; no mirrors were given. Nothing was written for train-images-idx3-ubyte.gz. To work offline, place the files ... MNIST.sample() works offline: ...

        """
        options = LoadOptions(normalize=normalize, flatten=flatten, one_hot=one_hot)
        spec = cls.spec()
        folder = cache_folder(spec, root)
        chosen = spec.mirrors if mirrors is None else mirrors
        fetch_files(spec, folder, chosen, progress=progress, deadline=deadline)
        return cls._load(spec, folder, options=options, verify=False)

    @classmethod
    def _load(cls, spec: DatasetSpec, folder: Path, *, options: LoadOptions, verify: bool) -> Self:
        """Read both splits of `spec` from `folder`; `verify` checks recorded checksums."""
        if not folder.is_dir():
            raise DatasetNotFoundError(
                f"no {spec.title} folder at {spec.looked_for(folder)}; that path is not a folder"
            )
        train = _read_split(spec, folder, "train", options, verify=verify)
        test = _read_split(spec, folder, "test", options, verify=verify)
        if train is None and test is None:
            raise DatasetNotFoundError(f"no {spec.title} files in {spec.looked_for(folder)}")
        return cls(train=train, test=test, source=folder)

    def _split(self, name: SplitName, split: Split | None) -> Split:
        if split is not None:
            return split
        spec = self.spec()
        if self.source is None:
            raise DatasetNotFoundError(
                f"{spec.title} has no {name} split: it was built in memory without one"
            )
        images, labels = spec.files(name)
        raise DatasetNotFoundError(
            f"{spec.title} has no {name} split: neither {images.gz_name} nor {labels.gz_name} "
            f"(nor their uncompressed forms) is in {self.source}"
        )


def _read_split(
    spec: DatasetSpec, folder: Path, split: SplitName, options: LoadOptions, *, verify: bool
) -> Split | None:
    """Read one split's image and label files; `None` when neither file is present."""
    images_file, labels_file = spec.files(split)
    images_path, labels_path = images_file.find(folder), labels_file.find(folder)
    if images_path is None and labels_path is None:
        return None
    if images_path is None or labels_path is None:
        missing = images_file if images_path is None else labels_file
        raise DatasetNotFoundError(
            f"{spec.title} {split} split in {folder} is incomplete: one of its two files is "
            f"there but neither {missing.gz_name} nor {missing.stem} is"
        )
    images = _read_file(spec, images_file, images_path, verify=verify)
    labels = _read_file(spec, labels_file, labels_path, verify=verify)
    _check_labels(labels, labels_path, spec)
    if len(images) != len(labels):
        raise DataError(
            f"{spec.title} {split} split: {images_path.name} holds {len(images)} images but "
            f"{labels_path.name} holds {len(labels)} labels (in {folder})"
        )
    return options.apply(images, labels, num_classes=spec.num_classes)


def _read_file(spec: DatasetSpec, file: IDXFile, path: Path, *, verify: bool) -> AnyArray:
    """Read one file, its header checked against `spec` before any data is read."""
    if verify and file.checksum is not None:
        file.checksum.verify_file(path)
    check = functools.partial(spec.check_header, file)
    return read_idx(path, max_bytes=spec.max_payload(file), check=check)


def _check_labels(labels: AnyArray, path: Path, spec: DatasetSpec) -> None:
    # Shape and type were checked on the header (DatasetSpec.check_header); the values now.
    bad = np.flatnonzero((labels < 0) | (labels >= spec.num_classes))
    if bad.size:
        raise DataError(
            f"{path}: labels must lie in 0..{spec.num_classes - 1}, got {labels[bad[0]]} at "
            f"index {bad[0]} ({bad.size} labels out of range)"
        )
