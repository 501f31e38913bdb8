"""Verified, bounded, atomic downloads of IDX data sets into a cache folder.

Each missing file is fetched from the mirrors in order, streamed into a temporary file next to its
final place (never held in memory), checked (complete transfer, published checksum, or a
well-formed IDX file that fits the data set when no checksum is recorded), flushed to disk, and
only then renamed into place by `atomic_write`. The bytes are decoded as
IDX while they arrive (and dropped), so a mirror sending something else (zeros, an HTML page, a
gzip bomb) is cut off soon after: at once without a checksum, 1 MiB later with one (a file that
merely ends damaged is then still reported by its checksum, the clearer message).
Three more limits keep a bad mirror from costing more than the file is worth:

- **size**: a mirror may send at most the file's published size (`IDXFile.size`), or, when none is
  recorded, what the format allows for the data set
  ([`DatasetSpec.max_download`][minifw.data.spec.DatasetSpec.max_download]); one that sends more, or
  announces more in `Content-Length`, is cut off;
- **deadline**: the whole download may take at most `deadline` seconds (default 600);
- **silence**: each read gives up after 30 seconds without data (or the time left, if less).

A failed, oversized or interrupted transfer, an HTML error page served with status 200, or a
checksum mismatch therefore never leaves a file in the cache. When every mirror fails, one
[`DownloadError`][minifw.errors.DownloadError] lists what each mirror did and how to place the files
by hand. A full disk is a [`DataError`][minifw.errors.DataError] naming the file.

Examples:
    >>> from minifw.data import MNIST
    >>> cache_folder(MNIST.spec(), root="/data").as_posix()
    '/data/mnist'

"""

from __future__ import annotations

import functools
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Final, final

from tqdm import tqdm

from minifw._atomic import atomic_write
from minifw.data._checks import as_path, check_flag, check_seconds
from minifw.data.idx_decoder import GZIP_MAGIC, IDXDecoder
from minifw.data.spec import DatasetSpec, IDXFile, check_mirror_url
from minifw.errors import DataError, DownloadError, MinifwError, ValidationError

__all__ = ["DEFAULT_DEADLINE", "ENV_VAR", "cache_folder", "fetch_files"]

ENV_VAR: Final = "MINIFW_DATA"
"""The environment variable naming the base cache folder (read at each call)."""

DEFAULT_DEADLINE: Final = 600.0
"""Seconds a whole download may take unless `deadline=` says otherwise (`None`: no limit)."""

_TIMEOUT: Final = 30.0  # seconds without data before a mirror counts as failed
_CHUNK: Final = 1 << 16
_GRACE: Final = 1 << 20  # bytes a checksummed file may go on after it stops being valid IDX
_USER_AGENT: Final = "minifw (+https://pypi.org/project/minifw/)"


def cache_folder(spec: DatasetSpec, root: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder `<base>/<spec.name>` that caches the data set's files.

    `base` is `root` if given, else `$MINIFW_DATA` if set, else `~/.cache/minifw`.
    The environment variable is read at call time, so setting it after import works.

    Examples:
        >>> import os
        >>> from minifw.data import FashionMNIST
        >>> os.environ["MINIFW_DATA"] = "/srv/datasets"
        >>> cache_folder(FashionMNIST.spec()).as_posix()
        '/srv/datasets/fashion-mnist'
        >>> del os.environ["MINIFW_DATA"]

    """
    if root is not None:
        base = as_path(root, "root")
    elif os.environ.get(ENV_VAR):
        base = as_path(os.environ[ENV_VAR], f"${ENV_VAR}")
    else:
        base = Path.home() / ".cache" / "minifw"
    return base.expanduser() / spec.name


def fetch_files(
    spec: DatasetSpec,
    folder: Path,
    mirrors: Sequence[str],
    *,
    progress: bool = True,
    deadline: float | None = DEFAULT_DEADLINE,
) -> None:
    """Download into `folder` each file of `spec` that is not already there.

    A file counts as present when `folder` holds it compressed (`.gz`) or not; present files
    are not checked here (files placed by hand may be re-compressed copies), but loading them
    rejects anything that is not well-formed IDX.

    Args:
        spec: the data set: file names, checksums, sizes, counts.
        folder: where the files go.
        mirrors: base URLs (http, https, ftp or file), tried in order for each file.
        progress: show a progress bar on stderr when it is a terminal.
        deadline: seconds the whole call may take, or `None` for no limit.

    Raises:
        ValidationError: `mirrors` is not a sequence of URLs, or `deadline` or `progress`
            has the wrong type or value.
        DownloadError: a file could not be fetched from any mirror, or the deadline passed.
        DataError: `folder` cannot be created or written (a full disk, no permission).

    Examples:
        Any URL scheme of http, https, ftp and file works as a mirror; here a local folder (the
        bundled sample, whose spec records SHA-256 values) stands in for a web server:

        >>> import pathlib, tempfile
        >>> from minifw.data.mnist import SAMPLE_FOLDER, SAMPLE_SPEC
        >>> folder = pathlib.Path(tempfile.mkdtemp()) / "mnist-sample"
        >>> fetch_files(SAMPLE_SPEC, folder, [SAMPLE_FOLDER.as_uri()], progress=False)
        >>> sorted(path.name for path in folder.iterdir())  # doctest: +NORMALIZE_WHITESPACE
        ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz',
         'train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz']
        >>> fetch_files(SAMPLE_SPEC, folder, ["www.example.org/mnist/"])
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: mirrors[0] must be an http, https, ftp or file URL such as 'https://example.org/mnist/', got mirrors[0]='www.example.org/mnist/' (no scheme; a local folder is written file:///path/to/folder/)

    """
    bases = _check_mirrors(mirrors)
    show = check_flag(progress, "progress")
    clock = _Deadline(check_seconds(deadline, "deadline"))
    folder = as_path(folder, "folder")
    missing = [file for file in spec.all_files if file.find(folder) is None]
    if not missing:
        return
    # The folders this call creates; a failed download removes those it left empty.
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create the cache folder {folder}: {err.strerror or err}") from None
    try:
        _fetch_missing(spec, folder, missing, bases, clock, show)
    except BaseException:
        for path in created:  # deepest first; a folder holding anything stays
            try:
                path.rmdir()
            except OSError:
                break
        raise


def _fetch_missing(
    spec: DatasetSpec,
    folder: Path,
    missing: list[IDXFile],
    bases: list[str],
    clock: _Deadline,
    show: bool,
) -> None:
    """Fetch each missing file from the first mirror that delivers it, or raise DownloadError."""
    for file in missing:
        failures: list[str] = []
        for base in bases:
            url = base + file.gz_name
            try:
                _fetch(url, folder / file.gz_name, spec, file, clock=clock, progress=show)
                break
            except _MirrorError as failure:
                failures.append(f"{url}: {failure}")
                if clock.expired():  # no time left for the other mirrors either
                    raise DownloadError(_all_failed(spec, folder, file, failures)) from None
        else:
            raise DownloadError(_all_failed(spec, folder, file, failures))


class _MirrorError(Exception):
    """One mirror did not deliver a good file; the message says what arrived instead."""


@final
class _Deadline:
    """The time left of an overall `deadline` (`None`: unlimited), on a monotonic clock."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._end = None if seconds is None else time.monotonic() + seconds

    def left(self) -> float | None:
        return None if self._end is None else self._end - time.monotonic()

    def expired(self) -> bool:
        left = self.left()
        return left is not None and left <= 0

    def timeout(self) -> float:
        """Seconds one network operation may wait: the silence limit, or the time left."""
        left = self.left()
        return _TIMEOUT if left is None else max(0.001, min(_TIMEOUT, left))

    def check(self, received: int) -> None:
        if self.expired():
            raise _MirrorError(
                f"the download deadline of {self.seconds:g} s passed (deadline={self.seconds:g}) "
                f"after {received} bytes of this file; pass a larger deadline in seconds, or "
                "deadline=None for no limit"
            )


def _check_mirrors(mirrors: Sequence[str]) -> list[str]:
    # A bare string is a sequence of characters: refuse it rather than try "h", "t", "t", ...
    bases = _as_list(mirrors)
    if bases is None:
        raise ValidationError(
            "mirrors must be a list of base URLs (non-empty strings) such as "
            f"['https://example.org/mnist/'], got mirrors={mirrors!r}"
        )
    checked = [check_mirror_url(url, f"mirrors[{i}]") for i, url in enumerate(bases)]
    return [m if m.endswith("/") else m + "/" for m in checked]


def _as_list(mirrors: object) -> list[object] | None:
    if isinstance(mirrors, str | bytes) or not isinstance(mirrors, Iterable):
        return None
    return list(mirrors)


def _fetch(
    url: str, dest: Path, spec: DatasetSpec, file: IDXFile, *, clock: _Deadline, progress: bool
) -> None:
    clock.check(0)
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=clock.timeout())
    except urllib.error.HTTPError as err:
        err.close()
        raise _MirrorError(f"HTTP error {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        clock.check(0)
        raise _MirrorError(f"cannot connect ({err.reason})") from None
    except (OSError, http.client.HTTPException, ValueError) as err:
        clock.check(0)
        raise _MirrorError(f"request failed ({type(err).__name__}: {err})") from None
    with response:
        transfer = _Transfer(spec, file, response.headers.get("Content-Type") or "unknown")
        length = _content_length(response.headers.get("Content-Length"))
        if length is not None and length > transfer.limit:
            raise _MirrorError(
                f"Content-Length announces {length} bytes, more than the {transfer.limit} "
                f"expected ({transfer.why}); nothing was downloaded"
            )
        # A failed check raises inside the block: the partial file is removed, never renamed.
        with atomic_write(dest, error=DataError, what="cache file") as out:
            _stream(response, out, transfer, length, clock, dest.name, progress=progress)
            transfer.finish(length)


def _stream(
    response: Any,
    out: BinaryIO,
    transfer: _Transfer,
    length: int | None,
    clock: _Deadline,
    label: str,
    *,
    progress: bool,
) -> None:
    """Copy the body to `out` a piece at a time, checking each piece as it arrives."""
    # read1 returns after one network read, so the size and deadline are checked between small
    # pieces; read(n) would wait for all n bytes, however slowly they drip in.
    read = getattr(response, "read1", None) or response.read
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
                chunk = read(_CHUNK)
            except (OSError, http.client.HTTPException) as err:
                clock.check(transfer.received)
                raise _MirrorError(
                    f"transfer interrupted after {transfer.received} bytes "
                    f"({type(err).__name__}: {err})"
                ) from None
            if not chunk:
                break
            transfer.add(chunk)
            out.write(chunk)
            bar.update(len(chunk))
            clock.check(transfer.received)


@final
class _Transfer:
    """What one mirror sent for one file so far: its size, first bytes, digest and IDX check."""

    def __init__(self, spec: DatasetSpec, file: IDXFile, content_type: str) -> None:
        self.file = file
        self.content_type = content_type
        self.limit = spec.max_download(file)
        self.why = "the published size" if file.size is not None else "the most the format allows"
        self.received = 0
        self.head = b""
        self._digest = file.checksum.new_hash() if file.checksum is not None else None
        # The bytes are also decoded as IDX while they stream past (nothing is kept), so a mirror
        # sending garbage or a bomb is cut off early, long before the size limit.
        self._decoder = IDXDecoder(
            file.gz_name,
            max_bytes=spec.max_payload(file),
            check=functools.partial(spec.check_header, file),
            keep=False,
        )
        self._invalid = ""  # why the bytes are not a valid IDX file, once the decoder says so
        self._invalid_at = 0

    def add(self, chunk: bytes) -> None:
        if self.received + len(chunk) > self.limit:
            raise _MirrorError(
                f"sent more than the {self.limit} bytes expected ({self.why}); cut off after "
                f"{self.received + len(chunk)} bytes of {self._kind()} "
                f"(Content-Type: {self.content_type})"
            )
        if len(self.head) < 64:
            self.head += chunk[: 64 - len(self.head)]
        self.received += len(chunk)
        if self._digest is not None:
            self._digest.update(chunk)
        if not self._invalid:
            try:
                self._decoder.feed(chunk)
            except MinifwError as err:
                self._invalid, self._invalid_at = str(err), self.received
        # With a checksum, a damaged file is reported by its checksum once it ends (the clearer
        # message); a mirror that goes on sending after its bytes stopped being IDX is cut off.
        grace = 0 if self._digest is None else _GRACE
        if self._invalid and self.received - self._invalid_at >= grace:
            raise _MirrorError(f"not a valid IDX file ({self._invalid}); got {self.describe()}")

    def finish(self, length: int | None) -> None:
        if length is not None and self.received != length:
            raise _MirrorError(
                f"transfer interrupted: expected {length} bytes (Content-Length), "
                f"got {self.received}"
            )
        checksum = self.file.checksum
        if checksum is not None and self._digest is not None:
            if self._digest.hexdigest() != checksum.hexdigest:
                raise _MirrorError(
                    f"wrong {checksum.algorithm} checksum: expected {checksum.hexdigest}, "
                    f"got {self._digest.hexdigest()} for {self.describe()}"
                )
            return
        try:
            self._decoder.finish()
        except MinifwError as err:
            raise _MirrorError(f"not a valid IDX file ({err}); got {self.describe()}") from None

    def describe(self) -> str:
        return f"{self.received} bytes of {self._kind()} (Content-Type: {self.content_type})"

    def _kind(self) -> str:
        head = self.head.lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")) or "html" in self.content_type:
            return "an HTML page, not the gzip file"
        if self.head[:2] == GZIP_MAGIC:
            return "gzip data"
        return f"data starting {self.head[:4].hex(' ') or '(nothing)'}"


def _content_length(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _all_failed(spec: DatasetSpec, folder: Path, file: IDXFile, failures: list[str]) -> str:
    # One line (the command line shows errors on one): each mirror and what went wrong there.
    tried = "; ".join(f"({n}) {failure}" for n, failure in enumerate(failures, 1))
    names = ", ".join(f.gz_name for f in spec.all_files)
    text = (
        f"could not download {spec.title} file {file.gz_name} into {folder}; "
        f"{'every mirror failed: ' + tried if failures else 'no mirrors were given'}. "
        f"Nothing was written for {file.gz_name}. To work offline, place the files {names} "
        f"(compressed or not) in {folder} by hand; that folder is <root>/{spec.name}, where "
        f"<root> is the root= argument, else ${ENV_VAR}, else ~/.cache/minifw. "
        "A folder holding them can also be loaded directly with from_directory(path)."
    )
    return f"{text} {spec.offline_hint}" if spec.offline_hint else text
