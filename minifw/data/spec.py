"""What an IDX data set is made of, as plain data: file names, checksums, mirrors, classes.

A new data set in the MNIST format (Fashion-MNIST, KMNIST, a test fixture) is one
[`DatasetSpec`][minifw.data.spec.DatasetSpec] value; no loading or downloading code changes.

Examples:
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
    >>> spec.files("test")  # doctest: +NORMALIZE_WHITESPACE
    (IDXFile(stem='t10k-images-idx3-ubyte', checksum=None, size=None, count=None),
     IDXFile(stem='t10k-labels-idx1-ubyte', checksum=None, size=None, count=None))

"""

from __future__ import annotations

import hashlib
import math
import re
import string
import urllib.parse
from pathlib import Path
from typing import Final, Literal, TypeAlias, final

import attrs
import numpy as np

from minifw._validation import positive_int
from minifw.data.idx_decoder import DEFAULT_MAX_BYTES, IDXHeader
from minifw.errors import DataError, IDXFormatError, IntegrityError, ValidationError

__all__ = ["Checksum", "DatasetSpec", "IDXFile", "SplitName", "check_mirror_url"]

SplitName: TypeAlias = Literal["train", "test"]

_HEX_LENGTH: Final = {"md5": 32, "sha256": 64}
_READ_STEP: Final = 1 << 20


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


@final
@attrs.frozen
class Checksum:
    """The expected digest of a file's bytes.

    MD5 identifies the published MNIST files (it is what the mirrors and torchvision publish);
    SHA-256 protects the files bundled with minifw.

    Examples:
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

        Examples:
            >>> Checksum("md5", "0" * 32).new_hash().name
            'md5'

        """
        return hashlib.new(self.algorithm, usedforsecurity=False)

    def matches(self, data: bytes) -> bool:
        """Return whether `data` has this digest."""
        digest = self.new_hash()
        digest.update(data)
        return digest.hexdigest() == self.hexdigest

    def verify(self, data: bytes, *, source: str) -> None:
        """Raise `IntegrityError` naming `source` unless `data` has this digest."""
        digest = self.new_hash()
        digest.update(data)
        self._compare(digest.hexdigest(), len(data), source)

    def verify_file(self, path: Path) -> None:
        """Like `verify` for a file's bytes, read a piece at a time (memory stays small).

        Examples:
            >>> import pathlib, tempfile
            >>> path = pathlib.Path(tempfile.mkdtemp()) / "hello.gz"
            >>> _ = path.write_bytes(b"hello")
            >>> Checksum("md5", "5d41402abc4b2a76b9719d911017c592").verify_file(path)

        """
        digest = self.new_hash()
        size = 0
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(_READ_STEP):
                    digest.update(chunk)
                    size += len(chunk)
        except OSError as err:
            raise DataError(f"{path} cannot be read: {err.strerror or err}") from None
        self._compare(digest.hexdigest(), size, str(path))

    def _compare(self, hexdigest: str, size: int, source: str) -> None:
        if hexdigest != self.hexdigest:
            raise IntegrityError(
                f"{source} has the wrong {self.algorithm} checksum: expected {self.hexdigest}, "
                f"got {hexdigest} ({size} bytes)"
            )


_LABEL_BYTES: Final = 4  # the widest IDX integer type, int32
_GZIP_SLACK: Final = 1 << 16  # gzip header (with a file name) and trailer, and a margin


def _check_stem(instance: IDXFile, attribute: attrs.Attribute[str], value: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value) or value.endswith(".gz"):
        raise ValidationError(
            f"stem must be a plain file name without '.gz' (letters, digits, '.', '_', '-'), "
            f"got stem={value!r}"
        )


@final
@attrs.frozen
class IDXFile:
    """One IDX file of a data set: its name and, optionally, what its published `.gz` is like.

    Attributes:
        stem: the file name without `.gz`.
        checksum: the digest of the published `.gz`. It applies to downloads (and to the
            bundled sample). Files a user places by hand may be re-compressed copies, so they are
            accepted whenever they are well-formed IDX.
        size: the published `.gz`'s length in bytes. A mirror sending more is cut off there;
            without it, downloads are capped by what `count` (or the IDX reader's default
            limit) allows.
        count: the number of examples (images or labels) in the published file. A file whose
            header declares more is refused before its data is read; fewer is fine (a subset).

    Examples:
        >>> f = IDXFile(
        ...     "t10k-labels-idx1-ubyte",
        ...     Checksum("md5", "ec29112dd5afa0611ce80d1b7f02629c"),
        ...     size=4542,
        ...     count=10000,
        ... )
        >>> f.gz_name
        't10k-labels-idx1-ubyte.gz'
        >>> [path.name for path in f.candidates(Path("data"))]
        ['t10k-labels-idx1-ubyte.gz', 't10k-labels-idx1-ubyte']
        >>> IDXFile("labels", size=0)
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: size must be a positive integer, got size=0

    """

    stem: str = attrs.field(validator=_check_stem)
    checksum: Checksum | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Checksum))
    )
    size: int | None = attrs.field(
        default=None, kw_only=True, validator=attrs.validators.optional(positive_int)
    )
    count: int | None = attrs.field(
        default=None, kw_only=True, validator=attrs.validators.optional(positive_int)
    )

    @property
    def gz_name(self) -> str:
        """The compressed file's name, as published and as downloaded into the cache."""
        return f"{self.stem}.gz"

    def candidates(self, folder: Path) -> tuple[Path, Path]:
        """Return the paths where this file may be found in `folder`, `.gz` first."""
        return folder / self.gz_name, folder / self.stem

    def find(self, folder: Path) -> Path | None:
        """Return the first of `candidates` that is a file, or `None`."""
        return next((path for path in self.candidates(folder) if path.is_file()), None)


def _check_image_shape(
    instance: DatasetSpec, attribute: attrs.Attribute[tuple[int, ...]], value: tuple[int, ...]
) -> None:
    if not value or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in value):
        raise ValidationError(
            f"image_shape must be a non-empty tuple of positive integers, got image_shape={value!r}"
        )


_SCHEMES: Final = ("http", "https", "ftp", "file")
_EXAMPLE_URL: Final = "'https://example.org/mnist/'"


def check_mirror_url(url: object, name: str = "mirror") -> str:
    """Return `url` if it can serve as a mirror: an http, https, ftp or file URL of a folder.

    File names are appended to it, so it may not carry a query or a fragment. `name` is how
    the argument is called in the error message.

    Examples:
        >>> check_mirror_url("https://example.org/mnist/")
        'https://example.org/mnist/'
        >>> check_mirror_url("example.org/mnist/", "mirrors[0]")
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: mirrors[0] must be an http, https, ftp or file URL such as 'https://example.org/mnist/', got mirrors[0]='example.org/mnist/' (no scheme; a local folder is written file:///path/to/folder/)
        >>> check_mirror_url("gopher://example.org/", "mirror")
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: mirror must be an http, https, ftp or file URL such as 'https://example.org/mnist/', got mirror='gopher://example.org/' (unsupported scheme 'gopher')

    """
    if not isinstance(url, str) or not url:
        raise ValidationError(
            f"{name} must be a non-empty URL string such as {_EXAMPLE_URL}, got {name}={url!r}"
        )
    problem = _url_problem(url)
    if problem:
        raise ValidationError(
            f"{name} must be an http, https, ftp or file URL such as {_EXAMPLE_URL}, "
            f"got {name}={url!r} ({problem})"
        )
    return url


def _url_problem(url: str) -> str:
    """Say what makes `url` unusable as a mirror, or return `""`."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return "it contains spaces or control characters; percent-encode them"
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises for a port that is not a number in 0..65535
    except ValueError as err:
        return f"not a valid URL: {err}"
    scheme = parts.scheme.lower()
    if not scheme:
        return "no scheme; a local folder is written file:///path/to/folder/"
    if scheme not in _SCHEMES:
        return f"unsupported scheme {parts.scheme!r}"
    if "://" not in url:
        return f"expected '//' after '{parts.scheme}:'"
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return f"a file URL names a local path, not the host {parts.netloc!r}"
        if not parts.path:
            return "no path"
    elif not parts.hostname:
        return "no host"
    if parts.query or parts.fragment:
        return "file names are appended to it, so it cannot have a query or fragment"
    return ""


def _to_mirrors(value: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    # A bare string is a sequence of characters: refuse it rather than try "h", "t", "t", ...
    if isinstance(value, str | bytes) or not isinstance(value, tuple | list):
        raise ValidationError(
            f"mirrors must be a list or tuple of base URLs such as [{_EXAMPLE_URL}], "
            f"got mirrors={value!r}"
        )
    return tuple(value)


def _check_mirrors(
    instance: DatasetSpec, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    for index, url in enumerate(value):
        check_mirror_url(url, f"mirrors[{index}]")


@final
@attrs.frozen
class DatasetSpec:
    """The files, checksums, mirrors and classes of one IDX data set.

    Attributes:
        name: the cache subfolder, e.g. `"mnist"` (files go to `<root>/<name>/`).
        title: the name used in messages, e.g. `"MNIST"`.
        train_images, train_labels, test_images, test_labels: the four files.
        num_classes: labels must lie in `0 .. num_classes - 1`.
        image_shape: the shape of one image, e.g. `(28, 28)`.
        mirrors: base URLs tried in order; each file is fetched from `mirror + file.gz_name`.
            Each must be an http, https, ftp or file URL (checked here, at construction).
        offline_hint: a sentence added to "not found" errors, e.g. where to get data offline.

    Examples:
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
    num_classes: int = attrs.field(validator=positive_int)
    image_shape: tuple[int, ...] = attrs.field(default=(28, 28), validator=_check_image_shape)
    mirrors: tuple[str, ...] = attrs.field(
        default=(), converter=_to_mirrors, validator=_check_mirrors
    )
    offline_hint: str = ""

    def files(self, split: SplitName) -> tuple[IDXFile, IDXFile]:
        """Return the `(images, labels)` files of `split`."""
        if split == "train":
            return self.train_images, self.train_labels
        return self.test_images, self.test_labels

    @property
    def all_files(self) -> tuple[IDXFile, ...]:
        """The four files, training split first."""
        return (*self.files("train"), *self.files("test"))

    def kind(self, file: IDXFile) -> Literal["images", "labels"]:
        """Say whether `file` is one of this data set's image files or label files.

        Examples:
            >>> from minifw.data import MNIST
            >>> MNIST.spec().kind(MNIST.spec().test_labels)
            'labels'

        """
        if file in (self.train_images, self.test_images):
            return "images"
        if file in (self.train_labels, self.test_labels):
            return "labels"
        raise ValidationError(f"file must be one of the {self.title} files, got {file!r}")

    def max_payload(self, file: IDXFile) -> int:
        """Return the most data bytes (after the header) `file` may declare; more is refused.

        `file.count` examples of one uint8 image each, or of one label of at most 4 bytes
        (IDX's widest integer); without a count, the IDX reader's default limit.

        Examples:
            >>> from minifw.data import MNIST
            >>> MNIST.spec().max_payload(MNIST.spec().train_images)
            47040000

        """
        if file.count is None:
            return DEFAULT_MAX_BYTES
        if self.kind(file) == "images":
            return file.count * math.prod(self.image_shape)
        return file.count * _LABEL_BYTES

    def max_download(self, file: IDXFile) -> int:
        """Return the most bytes a mirror may send for `file`: its published size, if recorded.

        Otherwise a generous bound from the format: the most data the file may hold, plus its
        header, plus what gzip adds to data it cannot compress (far below 1%).

        Examples:
            >>> from minifw.data import MNIST
            >>> MNIST.spec().max_download(MNIST.spec().train_images)
            9912422

        """
        if file.size is not None:
            return file.size
        payload = self.max_payload(file)
        return payload + payload // 100 + _GZIP_SLACK

    def check_header(self, file: IDXFile, header: IDXHeader, source: str) -> None:
        """Refuse, before its data is read, a `file` whose header does not fit this data set.

        Images must be uint8 of `image_shape`, labels one integer per example, and neither
        may hold more examples than `file.count`.

        Examples:
            >>> import numpy as np
            >>> from minifw.data import MNIST
            >>> spec = MNIST.spec()
            >>> spec.check_header(spec.test_labels, IDXHeader(np.dtype(np.uint8), (10**9,)), "x.gz")
            Traceback (most recent call last):
            ...
            minifw.errors.IDXFormatError: x.gz: the header declares 1000000000 MNIST labels, more than the 10000 in the published t10k-labels-idx1-ubyte; nothing was read past the header

        """
        kind = self.kind(file)
        if kind == "images" and (
            header.dtype != np.dtype(np.uint8) or header.shape[1:] != self.image_shape
        ):
            expected = ", ".join(map(str, ("n", *self.image_shape)))
            raise DataError(
                f"{source}: expected {self.title} images of shape ({expected}) and type uint8, "
                f"got shape {header.shape} and type {header.dtype}"
            )
        if kind == "labels" and (len(header.shape) != 1 or header.dtype.kind not in "ui"):
            raise DataError(
                f"{source}: expected {self.title} labels of shape (n,) and an integer type, "
                f"got shape {header.shape} and type {header.dtype}"
            )
        if file.count is not None and header.shape[0] > file.count:
            raise IDXFormatError(
                f"{source}: the header declares {header.shape[0]} {self.title} {kind}, more "
                f"than the {file.count} in the published {file.stem}; nothing was read past "
                "the header"
            )

    def looked_for(self, folder: Path) -> str:
        """Say where the files were looked for, under which names, and what works offline.

        Examples:
            >>> from minifw.data import FashionMNIST
            >>> FashionMNIST.spec().looked_for(Path("data"))
            'data: looked for train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (each may also be uncompressed, without .gz)'

        """
        names = ", ".join(file.gz_name for file in self.all_files)
        text = f"{folder}: looked for {names} (each may also be uncompressed, without .gz)"
        return f"{text}. {self.offline_hint}" if self.offline_hint else text
