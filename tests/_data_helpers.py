"""Helpers for the data tests: tiny IDX data sets built in memory, and a local HTTP server."""

from __future__ import annotations

import gzip
import hashlib
import socket
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import final

import attrs
import numpy as np

from minifw.data import Checksum, DatasetSpec, IDXDataset, IDXFile, encode_idx
from minifw.data.idx import gzip_bytes
from minifw.typing import UInt8Array

STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
GZ_NAMES = sorted(f"{stem}.gz" for stem in STEMS.values())


def digits(n: int, seed: int) -> tuple[UInt8Array, UInt8Array]:
    """``n`` random 28x28 uint8 images and labels 0..9 (label i % 10, so every class appears)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


TRAIN = digits(30, seed=1)
TEST = digits(20, seed=2)

# The exact bytes a mirror serves for the tiny data set, by file name.
SERVED = {
    f"{STEMS['train_images']}.gz": gzip_bytes(encode_idx(TRAIN[0])),
    f"{STEMS['train_labels']}.gz": gzip_bytes(encode_idx(TRAIN[1])),
    f"{STEMS['test_images']}.gz": gzip_bytes(encode_idx(TEST[0])),
    f"{STEMS['test_labels']}.gz": gzip_bytes(encode_idx(TEST[1])),
}


def _file(key: str, *, checked: bool) -> IDXFile:
    stem = STEMS[key]
    if not checked:
        return IDXFile(stem)
    return IDXFile(stem, Checksum("md5", hashlib.md5(SERVED[f"{stem}.gz"]).hexdigest()))


def tiny_spec(*, checked: bool = True) -> DatasetSpec:
    """A data set spec for the tiny files, with their MD5s (or without any checksum)."""
    return DatasetSpec(
        name="tiny",
        title="Tiny",
        num_classes=10,
        offline_hint="Tiny.offline() is the offline way.",
        train_images=_file("train_images", checked=checked),
        train_labels=_file("train_labels", checked=checked),
        test_images=_file("test_images", checked=checked),
        test_labels=_file("test_labels", checked=checked),
    )


TINY_SPEC = tiny_spec()
UNCHECKED_SPEC = tiny_spec(checked=False)


@final
@attrs.frozen(eq=False)
class Tiny(IDXDataset):
    """The tiny data set, with MD5s: a concrete IDXDataset is one hook."""

    @classmethod
    def spec(cls) -> DatasetSpec:
        return TINY_SPEC


@final
@attrs.frozen(eq=False)
class Unchecked(IDXDataset):
    """The tiny data set without recorded checksums (downloads are checked as IDX instead)."""

    @classmethod
    def spec(cls) -> DatasetSpec:
        return UNCHECKED_SPEC


def write_folder(folder: Path, *, splits: tuple[str, ...] = ("train", "test"), gz: bool = True) -> Path:
    """Write the tiny data set's files for ``splits`` into ``folder`` (re-compressed or raw)."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train": TRAIN, "test": TEST}
    for split in splits:
        images, labels = arrays[split]
        prefix = "train" if split == "train" else "t10k"
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = encode_idx(array)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                # Level 1, not the mirrors' bytes: placed-by-hand copies differ from downloads.
                (folder / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=1, mtime=1))
            else:
                (folder / name).write_bytes(data)
    return folder


@attrs.frozen
class Reply:
    """What the test server answers for one path.

    With ``forever``, the body is followed by ``forever`` again and again (each piece after
    ``delay`` seconds) until the client hangs up or the server stops; no Content-Length is sent
    unless ``content_length`` is given. A long ``delay`` makes a server that stalls.
    """

    body: bytes
    status: int = 200
    content_type: str = "application/octet-stream"
    content_length: int | None = None  # sent as Content-Length; more than len(body) cuts the transfer
    forever: bytes = b""
    delay: float = 0.0


@attrs.define
class LocalServer:
    """A threaded HTTP server on 127.0.0.1 answering from ``routes`` (404 for anything else)."""

    port: int
    routes: dict[str, Reply] = attrs.field(factory=dict)
    requests: list[str] = attrs.field(factory=list)
    stopping: threading.Event = attrs.field(factory=threading.Event)
    sent: dict[str, int] = attrs.field(factory=dict)  # bytes of `forever` sent, by path

    def mirror(self, name: str) -> str:
        """A mirror base URL whose files are ``routes[f"/{name}/<file>"]``."""
        return f"http://127.0.0.1:{self.port}/{name}/"

    def serve(self, name: str, files: dict[str, bytes]) -> str:
        """Serve ``files`` (file name -> bytes) under the mirror ``name``; return its URL."""
        for file_name, body in files.items():
            self.routes[f"/{name}/{file_name}"] = Reply(body)
        return self.mirror(name)


@contextmanager
def local_server() -> Iterator[LocalServer]:
    """Start a :class:`LocalServer` on a free port; stop it (and its threads) on exit."""
    state = LocalServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            reply = state.routes.get(self.path)
            if reply is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            length = len(reply.body) if reply.content_length is None else reply.content_length
            if reply.content_length is not None or not reply.forever:
                self.send_header("Content-Length", str(length))
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(reply.body)
                while reply.forever and not state.stopping.is_set():
                    if reply.delay and state.stopping.wait(reply.delay):
                        break
                    self.wfile.write(reply.forever)
                    state.sent[self.path] = state.sent.get(self.path, 0) + len(reply.forever)
            except OSError:  # the client hung up, as it should on an endless body
                pass

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def refused_mirror() -> str:
    """A URL on a port nothing listens on (bound then closed), so connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def listing(folder: Path) -> list[str]:
    """Every entry of ``folder`` (hidden temporary files included), sorted; [] if absent."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


MIB = 1 << 20
_GZIP_HEADER = bytes.fromhex("1f8b 0800 00000000 02ff")  # deflate, no name, mtime 0, level 9


def idx_header(code: int, *shape: int) -> bytes:
    """The header of an IDX file with element type ``code`` (0x08 is uint8) and ``shape``."""
    return struct.pack(f">2xBB{len(shape)}I", code, len(shape), *shape)


def gzip_stream(prefix: bytes, fill: bytes, *, level: int = 9) -> tuple[bytes, bytes]:
    """The start of a gzip stream holding ``prefix``, and a block that inflates to ``fill``.

    Each piece ends in a full flush, so the block can be repeated any number of times (a server
    may send it forever). With ``fill`` zeros it is a "gzip bomb" made in milliseconds; with
    random ``fill`` and ``level=0``, a stream that looks like real data for as long as it goes.
    """
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    start = _GZIP_HEADER + packer.compress(prefix) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(fill) + packer.flush(zlib.Z_FULL_FLUSH)
    return start, block


def deflate_zeros(prefix: bytes) -> tuple[bytes, bytes]:
    """:func:`gzip_stream` of ``prefix`` then blocks of 1 MiB of zeros (about 1 KB each)."""
    return gzip_stream(prefix, bytes(MIB))


def endless_images(*shape: int) -> Reply:
    """A reply that looks like a real image file (IDX header, random pixels) and never ends."""
    pixels = np.random.default_rng(0).integers(0, 256, 1 << 16, dtype=np.uint8).tobytes()
    start, block = gzip_stream(idx_header(0x08, *shape), pixels, level=0)
    return Reply(start, forever=block)


def gzip_bomb(prefix: bytes, zeros_mib: int) -> bytes:
    """A complete, valid gzip file of ``prefix`` then ``zeros_mib`` MiB of zeros (about 1 KB each)."""
    start, block = deflate_zeros(prefix)
    crc = zlib.crc32(prefix)
    zeros = bytes(MIB)
    for _ in range(zeros_mib):
        crc = zlib.crc32(zeros, crc)
    size = (len(prefix) + zeros_mib * MIB) & 0xFFFFFFFF
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty last block
    return start + block * zeros_mib + final + struct.pack("<II", crc, size)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) and its bytes; {} if absent."""
    if not folder.exists():
        return {}
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
