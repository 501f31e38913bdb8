"""Reliability catalogue of minifw.data: hostile files, mirrors, URLs, full disks and inputs.

One parametrized test per area. Every case asserts the error type (a MinifwError subclass), that
the message names the input (file, URL or argument), and that nothing changed: files already on
disk keep their bytes, no temporary file is left behind, and user arrays are untouched. Memory
bounds are measured in a child process whose address space is limited to a little above its
baseline, with the peak resident size reported back. Bombs are built at run time in
milliseconds (``_data_helpers.gzip_bomb``); nothing large is committed.
"""

from __future__ import annotations

import errno
import functools
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, final

import attrs
import numpy as np
import pytest
from _data_helpers import (
    MIB,
    SERVED,
    TEST,
    TINY_SPEC,
    LocalServer,
    Reply,
    Tiny,
    Unchecked,
    deflate_zeros,
    endless_images,
    gzip_bomb,
    idx_header,
    local_server,
    snapshot,
    write_folder,
)

import minifw._atomic
from minifw.data import (
    MNIST,
    DatasetSpec,
    IDXDataset,
    IDXFile,
    Split,
    decode_idx,
    encode_idx,
    read_idx,
    write_idx,
)
from minifw.data.idx import DEFAULT_MAX_BYTES, gzip_bytes
from minifw.errors import (
    DataError,
    DownloadError,
    IDXFormatError,
    MinifwError,
    ValidationError,
)

REPO = Path(__file__).resolve().parents[1]
T10K = Path(os.environ.get("MINIFW_MNIST_T10K", REPO.parent / "shared" / "data" / "mnist-t10k"))
TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
BOMB_MIB = 512  # each bomb inflates to at least this many MiB, from about 530 KB
LABELS = np.array([7, 2, 1, 0, 4], dtype=np.uint8)

linux_only = pytest.mark.skipif(
    sys.platform != "linux", reason="measures memory through /proc and resource limits"
)


def _limited(spec: DatasetSpec, *, sized: bool) -> DatasetSpec:
    """``spec`` with the tiny files' example counts and, if ``sized``, their published sizes."""
    counts = {"train": 30, "t10k": 20}

    def limit(file: IDXFile) -> IDXFile:
        count = counts[file.stem.split("-")[0]]
        size = len(SERVED[file.gz_name]) if sized else None
        return attrs.evolve(file, size=size, count=count)

    return attrs.evolve(
        spec,
        train_images=limit(spec.train_images),
        train_labels=limit(spec.train_labels),
        test_images=limit(spec.test_images),
        test_labels=limit(spec.test_labels),
    )


SIZED_SPEC = _limited(TINY_SPEC, sized=True)
COUNTED_SPEC = _limited(TINY_SPEC, sized=False)


@final
@attrs.frozen(eq=False)
class Sized(IDXDataset):
    """The tiny data set with checksums, published sizes and counts, like MNIST's spec."""

    @classmethod
    def spec(cls) -> DatasetSpec:
        return SIZED_SPEC


@final
@attrs.frozen(eq=False)
class Counted(IDXDataset):
    """The tiny data set with checksums and counts but no sizes: downloads capped by the format."""

    @classmethod
    def spec(cls) -> DatasetSpec:
        return COUNTED_SPEC


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


# --- 1. damaged and oversized IDX files, gzip bombs ----------------------------------------------


@functools.cache
def _bomb(header: bytes) -> bytes:
    return gzip_bomb(header, BOMB_MIB)


def _gz_truncated() -> bytes:
    return gzip_bytes(encode_idx(LABELS))[:-6]


def _gz_crc_flipped() -> bytes:
    data = bytearray(gzip_bytes(encode_idx(LABELS)))
    data[-8] ^= 0xFF
    return bytes(data)


@attrs.frozen
class FileCase:
    """A hostile file, how it is read, and what must be said about it."""

    content: Callable[[], bytes]
    reader: str  # "read_idx", or "mnist": MNIST.from_directory with the file as test images
    error: type[MinifwError]
    says: str


FILE_CASES = {
    # 512 MiB of zeros behind an honest header: refused unread (256 MiB default limit).
    "bomb-honest-header": FileCase(
        lambda: _bomb(idx_header(0x08, BOMB_MIB * MIB)),
        "read_idx",
        IDXFormatError,
        f"more than the {DEFAULT_MAX_BYTES} allowed (max_bytes={DEFAULT_MAX_BYTES})",
    ),
    # Five labels declared, 512 MiB follow: reading stops 1 MiB past the declared end.
    "bomb-behind-a-small-header": FileCase(
        lambda: _bomb(idx_header(0x08, 5) + LABELS.tobytes()),
        "read_idx",
        IDXFormatError,
        "that is 5 bytes of data, but more than 1048581 bytes follow the header (over 1048576 extra;",
    ),
    # A data set file declaring far more images than the published file holds.
    "bomb-as-mnist-test-images": FileCase(
        lambda: _bomb(idx_header(0x08, 700_000, 28, 28)),
        "mnist",
        IDXFormatError,
        "declares 700000 MNIST images, more than the 10000 in the published",
    ),
    # Declares 200 MiB (within the limit) in 1 KB of gzip: impossible, refused before allocating.
    "gzip-too-small-for-its-header": FileCase(
        lambda: gzip.compress(idx_header(0x08, 200 * MIB) + bytes(1000)),
        "read_idx",
        IDXFormatError,
        "deflate inflates at most 1032-fold",
    ),
    "dims-of-four-billion": FileCase(
        lambda: idx_header(0x0E, 2**32 - 1, 2**32 - 1, 2**32 - 1),
        "read_idx",
        IDXFormatError,
        "shape (4294967295, 4294967295, 4294967295) of float64",
    ),
    "255-dimensions": FileCase(
        lambda: idx_header(0x08, *([2] * 255)),
        "read_idx",
        IDXFormatError,
        f"more than the {DEFAULT_MAX_BYTES} allowed",
    ),
    "raw-file-shorter-than-its-header-says": FileCase(
        lambda: idx_header(0x08, 100_000_000) + bytes(10),
        "read_idx",
        IDXFormatError,
        "but 10 bytes follow the header (99999990 missing)",
    ),
    "trailing-garbage-after-gzip": FileCase(
        lambda: gzip_bytes(encode_idx(LABELS)) + b"garbage",
        "read_idx",
        IDXFormatError,
        "trailing garbage",
    ),
    "second-gzip-member-adds-data": FileCase(
        lambda: gzip_bytes(encode_idx(LABELS)) + gzip_bytes(b"\x00" * 100),
        "read_idx",
        IDXFormatError,
        "but 105 bytes follow the header (100 extra)",
    ),
    "truncated-gzip": FileCase(
        _gz_truncated, "read_idx", IDXFormatError, "the gzip stream is truncated"
    ),
    "crc-mismatch": FileCase(_gz_crc_flipped, "read_idx", IDXFormatError, "CRC-32"),
    "html-page-as-gz": FileCase(
        lambda: b"<!DOCTYPE html><html><body>Not Found</body></html>",
        "read_idx",
        IDXFormatError,
        "it is an HTML page",
    ),
    "empty-file": FileCase(lambda: b"", "read_idx", IDXFormatError, "is empty (0 bytes)"),
    "float64-images-in-an-mnist-folder": FileCase(
        lambda: gzip_bytes(encode_idx(np.zeros((20, 28, 28)))),
        "mnist",
        DataError,
        "expected MNIST images of shape (n, 28, 28) and type uint8, got shape (20, 28, 28)",
    ),
    "more-labels-than-published": FileCase(
        lambda: gzip_bytes(encode_idx(np.zeros(10_001, dtype=np.uint8))),
        "mnist-labels",
        IDXFormatError,
        "declares 10001 MNIST labels, more than the 10000",
    ),
}


def _place(folder: Path, case: FileCase) -> tuple[Path, Callable[[], object]]:
    """Write the case's file where its reader looks; return the path and the read call."""
    folder.mkdir()
    if case.reader == "read_idx":
        path = folder / "t10k-labels-idx1-ubyte.gz"
        path.write_bytes(case.content())
        return path, lambda: read_idx(path)
    images, labels = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    images.write_bytes(gzip_bytes(encode_idx(TEST[0])))
    labels.write_bytes(gzip_bytes(encode_idx(TEST[1])))
    path = labels if case.reader == "mnist-labels" else images
    path.write_bytes(case.content())
    return path, lambda: MNIST.from_directory(folder)


@pytest.mark.parametrize("name", FILE_CASES)
def test_hostile_idx_files(tmp_path: Path, name: str) -> None:
    case = FILE_CASES[name]
    path, read = _place(tmp_path / "data", case)
    before = snapshot(tmp_path)
    with pytest.raises(MinifwError) as caught:
        read()
    assert type(caught.value) is case.error, caught.value
    assert str(path) in str(caught.value)
    assert case.says in str(caught.value)
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(not (T10K / "t10k-images-idx3-ubyte.gz").is_file(), reason="no real MNIST")
def test_a_truncated_copy_of_the_real_test_images(tmp_path: Path) -> None:
    real = (T10K / "t10k-images-idx3-ubyte.gz").read_bytes()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(real[: len(real) // 2])
    shutil.copy(T10K / "t10k-labels-idx1-ubyte.gz", tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(IDXFormatError, match="the gzip stream is truncated") as caught:
        MNIST.from_directory(tmp_path)
    assert str(tmp_path / "t10k-images-idx3-ubyte.gz") in str(caught.value)
    assert snapshot(tmp_path) == before


# --- memory bounds, measured in a child process --------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, tracemalloc
    import minifw.data as data

    case = json.loads(sys.argv[1])


    def address_space():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmSize")


    # A little more address space than the process has now: allocating a bomb's size fails.
    limit = address_space() + case["headroom"]
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()  # Python and numpy allocations, to the byte (the RSS peak is coarser)
    try:
        if case["call"] == "read_idx":
            data.read_idx(case["path"])
        elif case["call"] == "from_directory":
            data.MNIST.from_directory(case["path"])
        else:
            data.MNIST.download(case["path"], [case["mirror"]], progress=False, deadline=60)
        outcome = {"error": None, "message": ""}
    except BaseException as err:
        outcome = {"error": type(err).__name__, "message": str(err)}
    outcome["traced_peak"] = tracemalloc.get_traced_memory()[1]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    outcome["growth"] = peak - baseline
    print(json.dumps(outcome))
    """
)


def endless_bomb(*shape: int) -> Reply:
    """A valid gzip stream of an IDX image header of ``shape``, then zeros for ever."""
    start, block = deflate_zeros(idx_header(0x08, *shape))
    return Reply(start, forever=block)


HEADROOM = 256 * MIB  # address space the child may add: half of one bomb
GROWTH_LIMIT = 64 * MIB  # peak allocations and resident size may grow by this: 1/8 of a bomb


def run_bounded(call: str, path: Path, mirror: str = "") -> dict[str, Any]:
    """Run one call in a fresh interpreter with limited address space; return what happened."""
    case = {"call": call, "path": str(path), "mirror": mirror, "headroom": HEADROOM}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(case)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@linux_only
@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("bomb-honest-header", "read_idx"),
        ("bomb-behind-a-small-header", "read_idx"),
        ("bomb-as-mnist-test-images", "from_directory"),
    ],
)
def test_gzip_bombs_stay_within_memory_bounds(tmp_path: Path, name: str, call: str) -> None:
    case = FILE_CASES[name]
    path, _ = _place(tmp_path / "data", case)
    result = run_bounded(call, path if call == "read_idx" else path.parent)
    assert result["error"] == case.error.__name__, result
    assert str(path) in result["message"]
    assert result["growth"] < GROWTH_LIMIT, result
    assert result["traced_peak"] < GROWTH_LIMIT, result


ENDLESS_MNIST: dict[str, tuple[Callable[[], Reply], str]] = {
    # Looks like the real file (header, pixels) for ever: cut off at the published size.
    "endless-images": (
        lambda: endless_images(60_000, 28, 28),
        f"sent more than the {MNIST.spec().train_images.size} bytes expected (the published size)",
    ),
    # Inflates to the declared 47 MB of zeros, then on and on: stops 1 MiB past the end.
    "endless-gzip-bomb": (lambda: endless_bomb(60_000, 28, 28), "reading stopped there"),
    "endless-zeros": (lambda: Reply(b"", forever=bytes(MIB)), "unknown IDX type code 0x00"),
}


@linux_only
@pytest.mark.network
@pytest.mark.parametrize("name", ENDLESS_MNIST)
def test_endless_mirrors_stay_within_memory_bounds(
    server: LocalServer, tmp_path: Path, name: str
) -> None:
    reply, says = ENDLESS_MNIST[name]
    server.routes["/endless/" + TRAIN_IMAGES] = reply()
    mirror = server.mirror("endless")
    result = run_bounded("download", tmp_path, mirror)
    assert result["error"] == "DownloadError", result
    assert f"{mirror}{TRAIN_IMAGES}: " in result["message"]
    assert says in result["message"]
    assert result["growth"] < GROWTH_LIMIT, result
    assert result["traced_peak"] < GROWTH_LIMIT, result
    assert snapshot(tmp_path) == {}


# --- 2. mirrors that never stop, drip, stall or announce too much --------------------------------


@attrs.frozen
class MirrorCase:
    """What a mirror sends for the training images, with which data set, and what must be said."""

    reply: Callable[[], Reply]
    dataset: type[IDXDataset]
    says: str
    deadline: float | None = 60.0


MIRROR_CASES = {
    "endless-images-published-size-known": MirrorCase(
        lambda: endless_images(30, 28, 28),
        Sized,
        f"sent more than the {len(SERVED[TRAIN_IMAGES])} bytes expected (the published size)",
    ),
    "endless-images-size-from-the-format": MirrorCase(
        lambda: endless_images(30, 28, 28),
        Counted,
        f"sent more than the {30 * 784 + 30 * 784 // 100 + 65536} bytes expected (the most the "
        "format allows); cut off after",
    ),
    "endless-zeros-with-checksum": MirrorCase(
        lambda: Reply(b"", forever=bytes(MIB)),
        Tiny,
        "not a valid IDX file (train-images-idx3-ubyte.gz: unknown IDX type code 0x00",
    ),
    "endless-html-with-checksum": MirrorCase(
        lambda: Reply(
            b"<!DOCTYPE html><html>", forever=b"<p>busy</p>" * 999, content_type="text/html"
        ),
        Tiny,
        "(it is an HTML page, perhaps an error page saved under the file's name)",
    ),
    "endless-gzip-bomb-with-checksum": MirrorCase(
        lambda: endless_bomb(30, 28, 28), Tiny, "reading stopped there"
    ),
    "endless-zeros-no-checksum": MirrorCase(
        lambda: Reply(b"", forever=bytes(MIB)),
        Unchecked,
        "not a valid IDX file (train-images-idx3-ubyte.gz: unknown IDX type code 0x00",
    ),
    "endless-gzip-bomb-no-checksum": MirrorCase(
        lambda: endless_bomb(30, 28, 28), Unchecked, "reading stopped there"
    ),
    "content-length-beyond-the-published-size": MirrorCase(
        lambda: Reply(b"", content_length=10**12),
        Sized,
        "Content-Length announces 1000000000000 bytes, more than the",
    ),
    "slow-drip": MirrorCase(
        lambda: Reply(b"\x1f", forever=b"\x8b", delay=0.02),
        Sized,
        "the download deadline of 0.5 s passed (deadline=0.5) after",
        deadline=0.5,
    ),
    "stalls-after-the-headers": MirrorCase(
        lambda: Reply(b"\x1f\x8b", forever=b"x", delay=3600),
        Sized,
        "the download deadline of 0.5 s passed",
        deadline=0.5,
    ),
}


@pytest.mark.network
@pytest.mark.parametrize("name", MIRROR_CASES)
def test_hostile_mirrors(server: LocalServer, tmp_path: Path, name: str) -> None:
    case = MIRROR_CASES[name]
    server.routes["/bad/" + TRAIN_IMAGES] = case.reply()
    mirror = server.mirror("bad")
    cache = write_folder(tmp_path / "tiny", splits=("test",))  # already cached: must stay as is
    before = snapshot(cache)
    with pytest.raises(DownloadError) as caught:
        case.dataset.download(tmp_path, [mirror], progress=False, deadline=case.deadline)
    message = str(caught.value)
    assert f"{mirror}{TRAIN_IMAGES}: " in message
    assert case.says in message
    assert snapshot(cache) == before


# --- 3. mirrors that are not URLs ----------------------------------------------------------------

NOT_URLS: list[Any] = [
    "example.org/mnist/",
    "/home/me/mnist/",
    "C:\\data\\mnist",
    "gopher://example.org/mnist/",
    "data:,hello",
    "http://",
    "http:///mnist/",
    "https://example.org:99999/mnist/",
    "http://[::1/mnist/",
    "http://exa mple.org/mnist/",
    "http://example.org/mnist/\n",
    "file://otherhost/mnist/",
    "https://example.org/mnist/?token=1",
    "",
    None,
    b"http://example.org/mnist/",
    42,
]


@pytest.mark.parametrize("url", NOT_URLS, ids=repr)
@pytest.mark.parametrize("where", ["spec", "download"])
def test_mirrors_that_are_not_urls(tmp_path: Path, url: Any, where: str) -> None:
    mirrors = ["https://example.org/ok/", url]
    call: Callable[[], object] = (
        functools.partial(attrs.evolve, TINY_SPEC, mirrors=tuple(mirrors))
        if where == "spec"
        else functools.partial(Sized.download, tmp_path, mirrors, progress=False)
    )
    with pytest.raises(ValidationError) as caught:
        call()
    assert isinstance(caught.value, MinifwError)
    assert f"got mirrors[1]={url!r}" in str(caught.value)
    assert snapshot(tmp_path) == {}  # nothing created: refused before any folder or request


# --- 4. a disk that fills up ---------------------------------------------------------------------


class _FullFile:
    """A file handle on a disk with ``room`` bytes left: writing more raises ENOSPC."""

    def __init__(self, handle: IO[bytes], room: int) -> None:
        self._handle = handle
        self._room = room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            self._handle.write(data[: self._room])  # a partial write, as a real disk does
            self._room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._handle.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _FullFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


@attrs.frozen
class FullDiskOS:
    """Stands in for the ``os`` module inside ``minifw._atomic``: the disk has ``room`` bytes
    left, or (``at_fsync``) reports that it is full only when the data is flushed to it."""

    room: int
    at_fsync: bool = False

    def fdopen(self, fd: int, mode: str) -> IO[bytes] | _FullFile:
        handle = os.fdopen(fd, mode)
        return handle if self.at_fsync else _FullFile(handle, self.room)

    def fsync(self, fd: int) -> None:
        if self.at_fsync:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.fsync(fd)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


DISK_CASES = {
    "enospc-on-write": FullDiskOS(100),
    "enospc-at-the-first-byte": FullDiskOS(0),
    "enospc-at-fsync": FullDiskOS(10**9, at_fsync=True),
}


@pytest.mark.parametrize("name", DISK_CASES)
@pytest.mark.parametrize("suffix", [".gz", ""])
def test_write_idx_on_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, suffix: str
) -> None:
    target = tmp_path / f"labels-idx1-ubyte{suffix}"
    write_idx(target, LABELS)  # the file a failed write must not destroy
    before = snapshot(tmp_path)
    images = np.arange(4000, dtype=np.uint8).reshape(5, 800)
    copy = images.copy()
    monkeypatch.setattr(minifw._atomic, "os", DISK_CASES[name])
    with pytest.raises(DataError) as caught:
        write_idx(target, images)
    monkeypatch.undo()
    assert f"cannot write IDX file {target}: No space left on device" == str(caught.value)
    assert snapshot(tmp_path) == before
    np.testing.assert_array_equal(images, copy)
    np.testing.assert_array_equal(read_idx(target), LABELS)


_FSIZE_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    import numpy as np
    from minifw.data import write_idx

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
    try:
        write_idx(sys.argv[1], np.arange(5000, dtype=np.uint8))
    except Exception as err:
        print(type(err).__name__, err)
    """
)


@linux_only
def test_write_idx_past_a_real_file_size_limit(tmp_path: Path) -> None:
    target = tmp_path / "labels-idx1-ubyte"
    write_idx(target, LABELS)
    before = snapshot(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _FSIZE_CHILD, str(target)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
        timeout=120,
    )
    assert done.stdout.strip() == f"DataError cannot write IDX file {target}: File too large"
    assert snapshot(tmp_path) == before


@pytest.mark.network
def test_a_download_onto_a_full_disk(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = server.serve("good", SERVED)
    cache = write_folder(tmp_path / "tiny", splits=("test",))
    before = snapshot(cache)
    monkeypatch.setattr(minifw._atomic, "os", FullDiskOS(1000))
    with pytest.raises(DataError) as caught:
        Sized.download(tmp_path, [mirror], progress=False)
    assert type(caught.value) is DataError
    assert str(caught.value) == (
        f"cannot write cache file {cache / TRAIN_IMAGES}: No space left on device"
    )
    assert snapshot(cache) == before


# --- 5. arguments and arrays from users ----------------------------------------------------------


def _ragged() -> Any:
    return [[1, 2], [3]]


@attrs.frozen
class InputCase:
    """A call with one bad argument, and what its message must say."""

    call: Callable[[Path], object]
    says: str


INPUT_CASES = {
    "encode-object-array": InputCase(
        lambda _: encode_idx(np.array([1, "a", None], dtype=object)), "got dtype object"
    ),
    "encode-ragged-list": InputCase(
        lambda _: encode_idx(_ragged()), "array must be a rectangular array of numbers"
    ),
    "encode-strings": InputCase(lambda _: encode_idx(np.array(["7", "2"])), "got dtype <U1"),
    "encode-complex": InputCase(lambda _: encode_idx(np.ones(2, complex)), "got dtype complex128"),
    "encode-structured": InputCase(
        lambda _: encode_idx(np.zeros(2, dtype=[("a", "u1")])), "got dtype [('a', 'u1')]"
    ),
    "encode-scalar": InputCase(lambda _: encode_idx(np.uint8(3)), "got shape ()"),
    "encode-dimension-of-2**32": InputCase(
        lambda _: encode_idx(np.empty((2**32, 0), np.uint8)), "got shape (4294967296, 0)"
    ),
    "write-int64": InputCase(
        lambda tmp: write_idx(tmp / "out-idx1-ubyte.gz", np.arange(3)), "got dtype int64"
    ),
    "read-path-none": InputCase(lambda _: read_idx(None), "got path=None"),  # type: ignore[arg-type]
    "read-path-int": InputCase(lambda _: read_idx(3), "got path=3"),  # type: ignore[arg-type]
    "read-path-nul": InputCase(lambda tmp: read_idx(f"{tmp}/a\x00b"), "NUL character"),
    "read-max-bytes-zero": InputCase(
        lambda tmp: read_idx(tmp / "old-idx1-ubyte.gz", max_bytes=0), "got max_bytes=0"
    ),
    "read-max-bytes-bool": InputCase(
        lambda tmp: read_idx(tmp / "old-idx1-ubyte.gz", max_bytes=True), "got max_bytes=True"
    ),
    "read-max-bytes-float": InputCase(
        lambda tmp: read_idx(tmp / "old-idx1-ubyte.gz", max_bytes=1e9),  # type: ignore[arg-type]
        "got max_bytes=1000000000.0",
    ),
    "decode-a-str": InputCase(
        lambda _: decode_idx("00000801", source="labels"),  # type: ignore[arg-type]
        "data must be the bytes of an IDX file, got str (from labels)",
    ),
    "download-deadline-zero": InputCase(
        lambda tmp: Sized.download(tmp, [], deadline=0), "got deadline=0"
    ),
    "download-deadline-nan": InputCase(
        lambda tmp: Sized.download(tmp, [], deadline=math.nan), "got deadline=nan"
    ),
    "download-deadline-huge-int": InputCase(
        lambda tmp: Sized.download(tmp, [], deadline=10**400), "deadline must be a positive"
    ),
    "download-deadline-str": InputCase(
        lambda tmp: Sized.download(tmp, [], deadline="10"),  # type: ignore[arg-type]
        "got deadline='10'",
    ),
    "download-progress-str": InputCase(
        lambda tmp: Sized.download(tmp, [], progress="yes"),  # type: ignore[arg-type]
        "progress must be True or False, got progress='yes'",
    ),
    "download-root-int": InputCase(
        lambda _: Sized.download(7, []),  # type: ignore[arg-type]
        "root must be a str or os.PathLike",
    ),
    "download-mirrors-a-string": InputCase(
        lambda tmp: Sized.download(tmp, "https://example.org/"),
        "mirrors must be a list of base URLs",
    ),
    "from-directory-path-none": InputCase(
        lambda _: MNIST.from_directory(None),  # type: ignore[arg-type]
        "got path=None",
    ),
    "idx-file-size-zero": InputCase(lambda _: IDXFile("x", size=0), "got size=0"),
    "idx-file-count-bool": InputCase(lambda _: IDXFile("x", count=True), "got count=True"),
    "spec-mirrors-a-string": InputCase(
        lambda _: attrs.evolve(TINY_SPEC, mirrors="https://example.org/"),  # type: ignore[arg-type]
        "mirrors must be a list or tuple of base URLs",
    ),
    "split-x-nan": InputCase(
        lambda _: Split(x=np.array([[0.5, np.nan]]), t=[1]),
        "x must be finite, got 1 nan or inf values (the first, nan, at flat index 1)",
    ),
    "split-x-inf": InputCase(
        lambda _: Split(x=np.array([[np.inf], [0.0]]), t=[1, 2]), "x must be finite"
    ),
    "split-t-nan": InputCase(
        lambda _: Split(x=np.zeros((2, 3)), t=np.array([np.nan, 1.0])), "t must be finite"
    ),
    "split-x-strings": InputCase(
        lambda _: Split(x=np.array([["a"]]), t=[1]), "x must hold numbers"
    ),
    "split-x-objects": InputCase(
        lambda _: Split(x=np.array([[object()]]), t=[1]), "got dtype object"
    ),
    "split-x-ragged": InputCase(
        lambda _: Split(x=_ragged(), t=[1, 2]),
        "x must be a rectangular array of numbers",
    ),
    "split-t-3d": InputCase(
        lambda _: Split(x=np.zeros((2, 3)), t=np.zeros((2, 1, 1))), "got t.shape=(2, 1, 1)"
    ),
}


@pytest.mark.parametrize("name", INPUT_CASES)
def test_bad_arguments_and_arrays(tmp_path: Path, name: str) -> None:
    write_idx(tmp_path / "old-idx1-ubyte.gz", LABELS)
    before = snapshot(tmp_path)
    with pytest.raises(ValidationError) as caught:
        INPUT_CASES[name].call(tmp_path)
    assert isinstance(caught.value, MinifwError)
    assert INPUT_CASES[name].says in str(caught.value)
    assert snapshot(tmp_path) == before


def test_a_failed_write_keeps_the_users_array_and_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "labels-idx1-ubyte.gz"
    write_idx(target, LABELS)
    before = snapshot(tmp_path)
    bad = np.arange(3)  # int64: not an IDX type
    with pytest.raises(ValidationError, match="got dtype int64"):
        write_idx(target, bad)
    assert bad.tolist() == [0, 1, 2]
    assert snapshot(tmp_path) == before
