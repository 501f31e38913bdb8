"""What an IDX data set is made of, as plain data: file names, checksums, mirrors, classes.

A new data set in the MNIST format (Fashion-MNIST, KMNIST, a test fixture) is one
:class:`DatasetSpec` value; no loading or downloading code changes.

>>> spec = DatasetSpec(
...     name="tiny",
...     title="Tiny",
...     train_images=IDXFile("train-images-idx3-ubyte"),
...     train_labels=IDXFile("train-labels-idx1-ubyte"),
...     test_images=IDXFile("t10k-images-idx3-ubyte"),
...     test_labels=IDXFile("t10k-labels-idx1-ubyte"),
...     num_classes=3,
...     image_shape=(2, 2),
... )
>>> spec.files("test")
(IDXFile(stem='t10k-images-idx3-ubyte', checksum=None), IDXFile(stem='t10k-labels-idx1-ubyte', checksum=None))
"""

from __future__ import annotations

import hashlib
import re
import string
from pathlib import Path
from typing import Final, Literal, TypeAlias

import attrs

from minifw.errors import IntegrityError, ValidationError

__all__ = ["Checksum", "DatasetSpec", "IDXFile", "SplitName"]

SplitName: TypeAlias = Literal["train", "test"]

_HEX_LENGTH: Final = {"md5": 32, "sha256": 64}


def _lower_hex(value: str) -> str:
    return value.lower()


def _check_algorithm(instance: Checksum, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in _HEX_LENGTH:
        raise ValidationError(f"algorithm must be 'md5' or 'sha256', got algorithm={value!r}")


def _check_digest(instance: Checksum, attribute: attrs.Attribute[str], value: str) -> None:
    length = _HEX_LENGTH.get(instance.algorithm, 0)
    if len(value) != length or not set(value) <= set(string.hexdigits):
        raise ValidationError(
            f"hexdigest must be {length} hexadecimal digits for {instance.algorithm}, "
            f"got hexdigest={value!r}"
        )


@attrs.frozen
class Checksum:
    """The expected digest of a file's bytes.

    MD5 identifies the published MNIST files (it is what the mirrors and torchvision publish);
    SHA-256 protects the files bundled with minifw.

    >>> payload = b"hello"
    >>> Checksum("md5", "5d41402abc4b2a76b9719d911017c592").matches(payload)
    True
    >>> Checksum("sha256", "00" * 32).verify(payload, source="hello.gz")
    Traceback (most recent call last):
    ...
    minifw.errors.IntegrityError: hello.gz has the wrong sha256 checksum: expected 0000000000000000000000000000000000000000000000000000000000000000, got 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 (5 bytes)
    """

    algorithm: Literal["md5", "sha256"] = attrs.field(validator=_check_algorithm)
    hexdigest: str = attrs.field(converter=_lower_hex, validator=_check_digest)

    def new_hash(self) -> hashlib._Hash:
        """Return an empty hash object of this algorithm, to feed bytes into while streaming.

        >>> Checksum("md5", "0" * 32).new_hash().name
        'md5'
        """
        return hashlib.new(self.algorithm, usedforsecurity=False)

    def matches(self, data: bytes) -> bool:
        """Return whether ``data`` has this digest."""
        digest = self.new_hash()
        digest.update(data)
        return digest.hexdigest() == self.hexdigest

    def verify(self, data: bytes, *, source: str) -> None:
        """Raise :class:`IntegrityError` naming ``source`` unless ``data`` has this digest."""
        digest = self.new_hash()
        digest.update(data)
        if digest.hexdigest() != self.hexdigest:
            raise IntegrityError(
                f"{source} has the wrong {self.algorithm} checksum: expected {self.hexdigest}, "
                f"got {digest.hexdigest()} ({len(data)} bytes)"
            )


def _check_stem(instance: IDXFile, attribute: attrs.Attribute[str], value: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value) or value.endswith(".gz"):
        raise ValidationError(
            f"stem must be a plain file name without '.gz' (letters, digits, '.', '_', '-'), "
            f"got stem={value!r}"
        )


@attrs.frozen
class IDXFile:
    """One IDX file of a data set: its name and, optionally, the checksum of its published ``.gz``.

    The checksum applies to downloads (and to the bundled sample). Files a user places by hand
    may be re-compressed copies, so they are accepted whenever they are well-formed IDX.

    >>> f = IDXFile("t10k-labels-idx1-ubyte", Checksum("md5", "ec29112dd5afa0611ce80d1b7f02629c"))
    >>> f.gz_name
    't10k-labels-idx1-ubyte.gz'
    >>> [path.name for path in f.candidates(Path("data"))]
    ['t10k-labels-idx1-ubyte.gz', 't10k-labels-idx1-ubyte']
    """

    stem: str = attrs.field(validator=_check_stem)
    checksum: Checksum | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Checksum))
    )

    @property
    def gz_name(self) -> str:
        """The compressed file's name, as published and as downloaded into the cache."""
        return f"{self.stem}.gz"

    def candidates(self, folder: Path) -> tuple[Path, Path]:
        """Return the paths where this file may be found in ``folder``, ``.gz`` first."""
        return folder / self.gz_name, folder / self.stem

    def find(self, folder: Path) -> Path | None:
        """Return the first of :meth:`candidates` that is a file, or ``None``."""
        return next((path for path in self.candidates(folder) if path.is_file()), None)


def _check_positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(
            f"{attribute.name} must be a positive integer, got {attribute.name}={value!r}"
        )


def _check_image_shape(
    instance: DatasetSpec, attribute: attrs.Attribute[tuple[int, ...]], value: tuple[int, ...]
) -> None:
    if not value or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in value):
        raise ValidationError(
            f"image_shape must be a non-empty tuple of positive integers, got image_shape={value!r}"
        )


def _to_mirrors(value: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class DatasetSpec:
    """The files, checksums, mirrors and classes of one IDX data set.

    Attributes:
        name: the cache subfolder, e.g. ``"mnist"`` (files go to ``<root>/<name>/``).
        title: the name used in messages, e.g. ``"MNIST"``.
        train_images, train_labels, test_images, test_labels: the four files.
        num_classes: labels must lie in ``0 .. num_classes - 1``.
        image_shape: the shape of one image, e.g. ``(28, 28)``.
        mirrors: base URLs tried in order; each file is fetched from ``mirror + file.gz_name``.
        offline_hint: a sentence added to "not found" errors, e.g. where to get data offline.

    >>> from minifw.data import MNIST
    >>> MNIST.spec().train_images.stem, MNIST.spec().num_classes, MNIST.spec().image_shape
    ('train-images-idx3-ubyte', 10, (28, 28))

    """

    name: str = attrs.field(validator=attrs.validators.matches_re(r"[a-z0-9][a-z0-9._-]*"))
    title: str
    train_images: IDXFile
    train_labels: IDXFile
    test_images: IDXFile
    test_labels: IDXFile
    num_classes: int = attrs.field(validator=_check_positive)
    image_shape: tuple[int, ...] = attrs.field(default=(28, 28), validator=_check_image_shape)
    mirrors: tuple[str, ...] = attrs.field(default=(), converter=_to_mirrors)
    offline_hint: str = ""

    def files(self, split: SplitName) -> tuple[IDXFile, IDXFile]:
        """Return the ``(images, labels)`` files of ``split``."""
        if split == "train":
            return self.train_images, self.train_labels
        return self.test_images, self.test_labels

    @property
    def all_files(self) -> tuple[IDXFile, ...]:
        """The four files, training split first."""
        return (*self.files("train"), *self.files("test"))

    def looked_for(self, folder: Path) -> str:
        """Say where the files were looked for, under which names, and what works offline.

        >>> from minifw.data import FashionMNIST
        >>> FashionMNIST.spec().looked_for(Path("data"))
        'data: looked for train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (each may also be uncompressed, without .gz)'
        """
        names = ", ".join(file.gz_name for file in self.all_files)
        text = f"{folder}: looked for {names} (each may also be uncompressed, without .gz)"
        return f"{text}. {self.offline_hint}" if self.offline_hint else text
