"""Verified, atomic downloads of IDX data sets into a cache folder.

Each missing file is fetched from the mirrors in order into a temporary file next to its final
place, checked (complete transfer, published checksum, or well-formed IDX when no checksum is
recorded), flushed to disk, and only then renamed into place with :func:`os.replace`. A failed or
interrupted transfer, an HTML error page served with status 200, or a checksum mismatch therefore
never leaves a file in the cache. When every mirror fails, one :class:`~minifw.errors.DownloadError`
lists what each mirror did and how to place the files by hand.

>>> from minifw.data import MNIST
>>> cache_folder(MNIST.spec(), root="/data").as_posix()
'/data/mnist'
"""

from __future__ import annotations

import http.client
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Final, Protocol

from tqdm import tqdm

from minifw._atomic import atomic_write
from minifw.data.idx import GZIP_MAGIC, decode_idx
from minifw.data.spec import DatasetSpec, IDXFile
from minifw.errors import DataError, DownloadError, MinifwError, ValidationError

__all__ = ["ENV_VAR", "cache_folder", "fetch_files"]

ENV_VAR: Final = "MINIFW_DATA"
"""The environment variable naming the base cache folder (read at each call)."""

_TIMEOUT: Final = 30.0  # seconds without data before a mirror counts as failed
_CHUNK: Final = 1 << 16
_USER_AGENT: Final = "minifw (+https://pypi.org/project/minifw/)"


def cache_folder(spec: DatasetSpec, root: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder ``<base>/<spec.name>`` that caches the data set's files.

    ``base`` is ``root`` if given, else ``$MINIFW_DATA`` if set, else ``~/.cache/minifw``.
    The environment variable is read at call time, so setting it after import works.

    >>> import os
    >>> from minifw.data import FashionMNIST
    >>> os.environ["MINIFW_DATA"] = "/srv/datasets"
    >>> cache_folder(FashionMNIST.spec()).as_posix()
    '/srv/datasets/fashion-mnist'
    >>> del os.environ["MINIFW_DATA"]
    """
    if root is not None:
        base = Path(root)
    elif os.environ.get(ENV_VAR):
        base = Path(os.environ[ENV_VAR])
    else:
        base = Path.home() / ".cache" / "minifw"
    return base.expanduser() / spec.name


def fetch_files(
    spec: DatasetSpec, folder: Path, mirrors: Sequence[str], *, progress: bool = True
) -> None:
    """Download into ``folder`` each file of ``spec`` that is not already there.

    A file counts as present when ``folder`` holds it compressed (``.gz``) or not; present files
    are not checked here (files placed by hand may be re-compressed copies), but loading them
    rejects anything that is not well-formed IDX.

    Raises:
        ValidationError: ``mirrors`` is not a sequence of URL strings.
        DownloadError: a file could not be fetched from any mirror.
        DataError: ``folder`` cannot be created or written.

    Any URL scheme urllib knows works as a mirror; here a local folder (the bundled sample,
    whose spec records SHA-256 values) stands in for a web server:

    >>> import pathlib, tempfile
    >>> from minifw.data.mnist import SAMPLE_FOLDER, SAMPLE_SPEC
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "mnist-sample"
    >>> fetch_files(SAMPLE_SPEC, folder, [SAMPLE_FOLDER.as_uri()], progress=False)
    >>> sorted(path.name for path in folder.iterdir())  # doctest: +NORMALIZE_WHITESPACE
    ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz',
     'train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz']

    """
    bases = _check_mirrors(mirrors)
    missing = [file for file in spec.all_files if file.find(folder) is None]
    if not missing:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create the cache folder {folder}: {err.strerror or err}") from None
    for file in missing:
        failures: list[str] = []
        for base in bases:
            url = base + file.gz_name
            try:
                _fetch(url, folder / file.gz_name, file, progress=progress)
                break
            except _MirrorError as failure:
                failures.append(f"  - {url}: {failure}")
        else:
            raise DownloadError(_all_failed(spec, folder, file, failures))


class _MirrorError(Exception):
    """One mirror did not deliver a good file; the message says what arrived instead."""


def _check_mirrors(mirrors: Sequence[str]) -> list[str]:
    # A bare string is a sequence of characters: refuse it rather than try "h", "t", "t", ...
    bases = [] if isinstance(mirrors, str | bytes) else list(mirrors)
    if isinstance(mirrors, str | bytes) or not all(isinstance(m, str) and m for m in bases):
        raise ValidationError(
            "mirrors must be a list of base URLs (non-empty strings) such as "
            f"['https://example.org/mnist/'], got mirrors={mirrors!r}"
        )
    return [m if m.endswith("/") else m + "/" for m in bases]


def _fetch(url: str, dest: Path, file: IDXFile, *, progress: bool) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT)
    except urllib.error.HTTPError as err:
        err.close()
        raise _MirrorError(f"HTTP error {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise _MirrorError(f"cannot connect ({err.reason})") from None
    except (OSError, http.client.HTTPException, ValueError) as err:
        raise _MirrorError(f"request failed ({type(err).__name__}: {err})") from None
    with response:
        length = _content_length(response.headers.get("Content-Length"))
        content_type = response.headers.get("Content-Type") or "unknown"
        # A failed check raises inside the block: the partial file is removed, never renamed.
        with atomic_write(dest, error=DataError, what="cache file") as out:
            data = _stream(response, out, length, dest.name, progress=progress)
            _check_payload(data, length, file, content_type)


class _Body(Protocol):
    def read(self, amt: int, /) -> bytes: ...


def _stream(
    response: _Body, out: BinaryIO, length: int | None, label: str, *, progress: bool
) -> bytes:
    """Copy the body to ``out`` and return it (files are at most tens of MB)."""
    chunks: list[bytes] = []
    received = 0
    stderr = sys.stderr  # None under pythonw; the bar only makes sense on a terminal
    show = progress and stderr is not None and stderr.isatty()
    with tqdm(
        total=length,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        file=stderr,
        disable=not show,
        leave=False,
    ) as bar:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (OSError, http.client.HTTPException) as err:
                raise _MirrorError(
                    f"transfer interrupted after {received} bytes ({type(err).__name__}: {err})"
                ) from None
            if not chunk:
                break
            out.write(chunk)
            chunks.append(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    return b"".join(chunks)


def _check_payload(data: bytes, length: int | None, file: IDXFile, content_type: str) -> None:
    if length is not None and len(data) != length:
        raise _MirrorError(
            f"transfer interrupted: expected {length} bytes (Content-Length), got {len(data)}"
        )
    arrived = _describe(data, content_type)
    if file.checksum is not None:
        digest = file.checksum.new_hash()
        digest.update(data)
        if digest.hexdigest() != file.checksum.hexdigest:
            raise _MirrorError(
                f"wrong {file.checksum.algorithm} checksum: expected {file.checksum.hexdigest}, "
                f"got {digest.hexdigest()} for {arrived}"
            )
        return
    try:  # no published checksum: at least insist on a well-formed IDX file
        decode_idx(data, source=file.gz_name)
    except MinifwError as err:
        raise _MirrorError(f"not a valid IDX file ({err}); got {arrived}") from None


def _describe(data: bytes, content_type: str) -> str:
    head = data[:64].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or "html" in content_type:
        kind = "an HTML page, not the gzip file"
    elif data[:2] == GZIP_MAGIC:
        kind = "gzip data"
    else:
        kind = f"data starting {data[:4].hex(' ') or '(nothing)'}"
    return f"{len(data)} bytes of {kind} (Content-Type: {content_type})"


def _content_length(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _all_failed(spec: DatasetSpec, folder: Path, file: IDXFile, failures: list[str]) -> str:
    tried = "\n".join(failures) if failures else "  (no mirrors were given)"
    names = ", ".join(f.gz_name for f in spec.all_files)
    text = (
        f"could not download {spec.title} file {file.gz_name} into {folder}; every mirror "
        f"failed:\n{tried}\n"
        f"Nothing was written for {file.gz_name}. To work offline, place the files {names} "
        f"(compressed or not) in {folder} by hand; that folder is <root>/{spec.name}, where "
        f"<root> is the root= argument, else ${ENV_VAR}, else ~/.cache/minifw. "
        "A folder holding them can also be loaded directly with from_directory(path)."
    )
    return f"{text} {spec.offline_hint}" if spec.offline_hint else text
