"""Strict, memory-bounded reading and atomic writing of IDX files, the format MNIST ships in.

An IDX file is a 4-byte magic number `00 00 <type> <ndim>`, then `ndim` big-endian `uint32`
dimensions, then the array's elements, big-endian, in C order. MNIST distributes each file
gzip-compressed; [`read_idx`][minifw.data.idx.read_idx] recognises gzip by its first two bytes
(`1f 8b`), never by the file name, because files saved by hand are often misnamed.

The reader trusts nothing. It streams the file through gzip and reads the header first; the header
fixes the exact number of data bytes to expect, which must not exceed `max_bytes` (and whatever a
caller's `check` demands, such as a data set's image count). Only then is an array of exactly that
size allocated and filled; decompression never runs more than a little past it. So a small `.gz`
that inflates to gigabytes (a "gzip bomb"), a header declaring absurd dimensions, an empty file, an
HTML page saved under a `.gz` name, a truncated or corrupt gzip stream, trailing garbage, an unknown
type code or a header that disagrees with the amount of data each raise an
[`IDXFormatError`][minifw.errors.IDXFormatError] naming the file, what was expected and what
arrived, with memory bounded by the size the header (and the caller) allow.

Examples:
    >>> import numpy as np
    >>> data = encode_idx(np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> data[:4].hex(" "), len(data)
    ('00 00 08 02', 18)
    >>> decode_idx(data)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)

"""

from __future__ import annotations

import gzip
import math
import os
import stat
import struct
import zlib
from collections.abc import Callable
from typing import Any, Final, TypeAlias, final

import attrs
import numpy as np

from minifw._atomic import atomic_write
from minifw.data._checks import as_path, check_limit
from minifw.errors import DataError, DatasetNotFoundError, IDXFormatError, ValidationError
from minifw.typing import AnyArray, ArrayLike

__all__ = [
    "DEFAULT_MAX_BYTES",
    "HeaderCheck",
    "IDXDecoder",
    "IDXHeader",
    "decode_idx",
    "encode_idx",
    "gzip_bytes",
    "read_idx",
    "write_idx",
]

GZIP_MAGIC: Final = b"\x1f\x8b"

DEFAULT_MAX_BYTES: Final = 1 << 28
"""The most data bytes (256 MiB) a file may declare unless the caller allows more.

Full MNIST's largest file holds 47,040,000 bytes of pixels; a header declaring more than this
limit is refused before anything is allocated. Pass `max_bytes=` to read larger files."""

# IDX type code -> big-endian numpy dtype, as defined on Yann LeCun's MNIST page.
_DTYPES: Final[dict[int, np.dtype[Any]]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES: Final = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}
_SUPPORTED: Final = "uint8, int8, int16, int32, float32, float64"

# Fixed gzip settings make write_idx byte-for-byte reproducible: no timestamp, no file name in
# the header, one compression level. The bundled sample's SHA-256 values depend on them.
GZIP_LEVEL: Final = 9

_INFLATE_STEP: Final = 1 << 16  # decompressed bytes produced at a time, a bounded step
_READ_STEP: Final = 1 << 20  # bytes read from a file at a time
_SNIFF: Final = 512  # bytes of a non-IDX file looked at to say what it is instead
# Deflate's best case is 258 bytes from about 2 bits: no gzip stream inflates more than this.
_MAX_INFLATION: Final = 1032
# Extra bytes after the declared data are counted up to this many, so the message can say how
# many there are; beyond it reading stops, however much more a bomb would inflate to.
_EXTRA_COUNTED: Final = 1 << 20


@final
@attrs.frozen
class IDXHeader:
    """What an IDX header declares: the element type and the shape, hence the data's size.

    `dtype` is in native byte order (the order [`read_idx`][minifw.data.idx.read_idx] returns).

    Examples:
        >>> header = IDXHeader(np.dtype(np.uint8), (10000, 28, 28))
        >>> header.nbytes, header.header_bytes
        (7840000, 16)
        >>> header.describe()
        'shape (10000, 28, 28) of uint8'

    """

    dtype: np.dtype[Any]
    shape: tuple[int, ...]

    @property
    def header_bytes(self) -> int:
        """The header's own length: 4 bytes of magic number and 4 per dimension."""
        return 4 + 4 * len(self.shape)

    @property
    def nbytes(self) -> int:
        """The number of data bytes after the header: elements times the element size."""
        return math.prod(self.shape) * self.dtype.itemsize

    def describe(self) -> str:
        """Say the shape and element type, as error messages quote them."""
        return f"shape {self.shape} of {self.dtype}"


HeaderCheck: TypeAlias = Callable[[IDXHeader, str], None]
"""A caller's check of a header (and the file's name), run before any data is read; it raises
a [`DataError`][minifw.errors.DataError] to refuse the file."""


def read_idx(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    check: HeaderCheck | None = None,
) -> AnyArray:
    """Read an IDX file, gzip-compressed or not, into a native-endian array.

    Memory stays bounded by the declared data size, which may not exceed `max_bytes`: a header
    announcing more is refused before anything is allocated, and decompression stops a little
    past the declared size, so a gzip bomb costs neither memory nor much time.

    Args:
        path: the file. Compression is detected from its first bytes, not from its name.
        max_bytes: the most data bytes (after the header) the file may declare.
        check: called with the header and the file's name before any data is read; raise a
            [`DataError`][minifw.errors.DataError] in it to refuse the file (data sets check their
            image shape and count this way).

    Returns:
        A writable array with the file's shape and element type (`uint8` for MNIST).

    Raises:
        DatasetNotFoundError: no file at `path`.
        IDXFormatError: the file is not a well-formed IDX file, or declares more than
            `max_bytes`; the message says why.
        DataError: the file exists but cannot be read (permissions, a directory, ...).

    Examples:
        >>> import numpy as np, pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte.gz"
        >>> write_idx(path, np.array([7, 2, 1], dtype=np.uint8))
        >>> read_idx(path)
        array([7, 2, 1], dtype=uint8)
        >>> read_idx(path, max_bytes=2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        minifw.errors.IDXFormatError: .../labels-idx1-ubyte.gz: the header declares shape (3,) of uint8, that is 3 bytes of data, more than the 2 allowed (max_bytes=2); nothing was read past the header
        >>> _ = path.write_bytes(b"<!DOCTYPE html><html>Not Found</html>")
        >>> read_idx(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        minifw.errors.IDXFormatError: .../labels-idx1-ubyte.gz is not an IDX file: ...HTML page...

    """
    file = as_path(path, "path")
    limit = check_limit(max_bytes, "max_bytes")
    try:
        with file.open("rb") as handle:
            status = os.fstat(handle.fileno())
            size = status.st_size if stat.S_ISREG(status.st_mode) else None
            decoder = IDXDecoder(str(file), max_bytes=limit, check=check, size=size)
            while chunk := handle.read(_READ_STEP):
                decoder.feed(chunk)
    except FileNotFoundError:
        raise DatasetNotFoundError(f"{file}: no such file") from None
    except OSError as err:
        raise DataError(f"{file} cannot be read: {err.strerror or err}") from None
    decoder.finish()
    return decoder.array()


def decode_idx(
    data: bytes,
    *,
    source: str = "<bytes>",
    max_bytes: int = DEFAULT_MAX_BYTES,
    check: HeaderCheck | None = None,
) -> AnyArray:
    """Decode the bytes of an IDX file (gzip-compressed or not) into an array.

    Args:
        data: the file's content.
        source: the name used in error messages, usually the file's path.
        max_bytes: the most data bytes (after the header) the file may declare.
        check: called with the header and `source` before any data is decoded (see
            [`read_idx`][minifw.data.idx.read_idx]).

    Raises:
        IDXFormatError: `data` is not a well-formed IDX file.

    Examples:
        >>> decode_idx(bytes.fromhex("00000d01 00000001 3f800000"))
        array([1.], dtype=float32)
        >>> decode_idx(bytes.fromhex("00000801 00000003 0102"), source="labels")
        Traceback (most recent call last):
        ...
        minifw.errors.IDXFormatError: labels: the header announces shape (3,) of uint8, that is 3 bytes of data, but 2 bytes follow the header (1 missing)

    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValidationError(
            f"data must be the bytes of an IDX file, got {type(data).__name__} (from {source})"
        )
    if isinstance(data, memoryview):
        data = data.tobytes()
    limit = check_limit(max_bytes, "max_bytes")
    decoder = IDXDecoder(source, max_bytes=limit, check=check, size=len(data))
    decoder.feed(data)
    decoder.finish()
    return decoder.array()


def encode_idx(array: ArrayLike) -> bytes:
    """Encode an array as the (uncompressed) bytes of an IDX file.

    Args:
        array: at least one dimension, each below 2**32, of dtype uint8, int8, int16, int32,
            float32 or float64. Non-finite floats are stored as they are (IDX holds them).

    Raises:
        ValidationError: the array cannot be stored as IDX.

    Examples:
        >>> encode_idx([[1, 2]])
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: array must have dtype uint8, int8, int16, int32, float32, float64, got dtype int64
        >>> encode_idx([[1], [2, 3]])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: array must be a rectangular array of numbers, got a list that numpy cannot turn into one (...)

    """
    try:
        arr = np.asarray(array)
    except (ValueError, TypeError, OverflowError) as err:
        raise ValidationError(
            "array must be a rectangular array of numbers, got a "
            f"{type(array).__name__} that numpy cannot turn into one ({err})"
        ) from None
    code = _CODES.get(arr.dtype.newbyteorder("=")) if arr.dtype.fields is None else None
    if code is None:
        raise ValidationError(f"array must have dtype {_SUPPORTED}, got dtype {arr.dtype}")
    if arr.ndim < 1 or arr.ndim > 255:
        raise ValidationError(f"array must have 1 to 255 dimensions, got shape {arr.shape}")
    if any(size >= 2**32 for size in arr.shape):
        raise ValidationError(f"array dimensions must be below 2**32, got shape {arr.shape}")
    header = struct.pack(f">2xBB{arr.ndim}I", code, arr.ndim, *arr.shape)
    return header + arr.astype(_DTYPES[code], copy=False).tobytes(order="C")


def write_idx(path: str | os.PathLike[str], array: ArrayLike) -> None:
    """Write an array as an IDX file, gzip-compressed when `path` ends in `.gz`; atomically.

    The file is written to a temporary file beside `path`, flushed to disk and only then
    renamed over `path`: a full disk or an interruption leaves any previous file untouched
    and no temporary file behind. The gzip stream is reproducible: no timestamp and no file name
    in its header, compression level 9, so the same array always gives the same bytes.

    Raises:
        ValidationError: the array cannot be stored as IDX (see
            [`encode_idx`][minifw.data.idx.encode_idx]).
        DataError: the file cannot be written (the message names it and the system's reason).

    Examples:
        >>> import hashlib, numpy as np, pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> write_idx(folder / "a.gz", np.zeros((2, 2), dtype=np.uint8))
        >>> write_idx(folder / "b.gz", np.zeros((2, 2), dtype=np.uint8))
        >>> (folder / "a.gz").read_bytes() == (folder / "b.gz").read_bytes()
        True

    """
    target = as_path(path, "path")
    data = encode_idx(array)
    if target.name.endswith(".gz"):
        data = gzip_bytes(data)
    with atomic_write(target, error=DataError, what="IDX file") as out:
        out.write(data)


def gzip_bytes(data: bytes) -> bytes:
    """Compress `data` with the fixed, reproducible gzip settings `write_idx` uses.

    Examples:
        >>> gzip_bytes(b"")[:4].hex(" ")
        '1f 8b 08 00'

    """
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


@final
class IDXDecoder:
    """Decode an IDX file fed in pieces, gzip or not, never holding more than its header declares.

    The engine behind [`read_idx`][minifw.data.idx.read_idx],
    [`decode_idx`][minifw.data.idx.decode_idx] and the checks of downloads: feed the file's bytes in
    any pieces with [`feed`][minifw.data.idx.IDXDecoder.feed], then call
    [`finish`][minifw.data.idx.IDXDecoder.finish], which checks that the file ended where it should
    and returns the header; [`array`][minifw.data.idx.IDXDecoder.array] then gives the data. With
    `keep=False` the data is checked and dropped (nothing is allocated), to validate a file while it
    streams past.

    Errors are raised as early as the bytes allow: a wrong header before any data is read, extra
    data as soon as a little of it has inflated. When the input's total length is known, pass it
    as `size`: a header that length cannot satisfy is then refused before anything is
    allocated (exactly, for uncompressed input; by deflate's 1032-fold limit, for gzip).

    Examples:
        >>> data = gzip_bytes(encode_idx(np.array([7, 2, 1], dtype=np.uint8)))
        >>> decoder = IDXDecoder("labels.gz")
        >>> for start in range(0, len(data), 8):
        ...     decoder.feed(data[start : start + 8])
        >>> decoder.finish()
        IDXHeader(dtype=dtype('uint8'), shape=(3,))
        >>> decoder.array()
        array([7, 2, 1], dtype=uint8)

    """

    def __init__(
        self,
        source: str,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        check: HeaderCheck | None = None,
        keep: bool = True,
        size: int | None = None,
    ) -> None:
        self._source = source
        self._size = size
        self._max_bytes = max_bytes
        self._check = check
        self._keep = keep
        self._fed = 0  # bytes of the file fed so far
        self._start = bytearray()  # the first bytes, until there are two to tell gzip by
        self._gzip: bool | None = None
        self._member: Any = None  # the zlib decompressor of the gzip member being read
        self._between = bytearray()  # bytes after a finished gzip member, until they say what
        self._inflated = 0  # IDX bytes (decompressed, if gzip) seen so far
        self._head = bytearray()
        self._header: IDXHeader | None = None
        self._wire: np.dtype[Any] = np.dtype(">u1")  # the element type as stored (big-endian)
        self._data: AnyArray | None = None
        self._buffer: memoryview | None = None
        self._filled = 0
        self._extra = 0
        self._result: AnyArray | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Take the next bytes of the file; raise as soon as they show it is not what it should be."""
        if not data:
            return
        self._fed += len(data)
        if self._gzip is None:
            if self._start or len(data) < 2:  # the first two bytes arrive in pieces
                self._start += data
                if len(self._start) < 2:
                    return
                data, self._start = bytes(self._start), bytearray()
            self._gzip = bytes(data[:2]) == GZIP_MAGIC
        if self._gzip:
            self._inflate(data)
        else:
            self._take(data)

    def finish(self) -> IDXHeader:
        """Check that the file ended exactly where its header says, and return the header."""
        if self._result is not None:  # finished already: the data is in native order
            return IDXHeader(self._result.dtype, self._result.shape)
        if self._gzip is None:  # fewer than two bytes: not gzip
            if self._fed == 0:
                raise IDXFormatError(f"{self._source} is empty (0 bytes); expected an IDX file")
            self._gzip = False
            self._take(bytes(self._start))
        if self._gzip:
            if self._member is not None:
                raise IDXFormatError(
                    f"{self._source}: the gzip stream is truncated ({self._fed} compressed bytes "
                    "end before the stream does); the file is incomplete, download or copy it again"
                )
            if self._between:
                raise self._garbage()
            if self._inflated == 0:
                raise IDXFormatError(
                    f"{self._source} is an empty gzip stream; expected an IDX file in it"
                )
        header = self._header
        if header is None:
            raise self._incomplete_header()
        if self._filled < header.nbytes or self._extra:
            raise self._size_mismatch(header)
        if self._data is not None:
            if not self._wire.isnative:
                self._data.byteswap(inplace=True)  # big-endian bytes -> native values, in place
            self._result = self._data.reshape(header.shape)
        return header

    def array(self) -> AnyArray:
        """Return the decoded array (after `finish`; only when built with `keep=True`)."""
        if self._result is None:
            why = "it was built with keep=False" if not self._keep else "finish() was not called"
            raise ValidationError(f"IDXDecoder for {self._source} holds no array: {why}")
        return self._result

    # --- gzip -------------------------------------------------------------------------------

    def _inflate(self, data: bytes | bytearray | memoryview) -> None:
        while data:
            if self._member is None:  # a new member starts here, or the file should have ended
                self._between += data
                if len(self._between) < 2:
                    return
                if self._between[:2] != GZIP_MAGIC:
                    raise self._garbage()
                data, self._between = bytes(self._between), bytearray()
                self._member = zlib.decompressobj(wbits=31)
            data = self._inflate_member(data)

    def _inflate_member(self, data: bytes | bytearray | memoryview) -> bytes:
        """Inflate `data` a bounded step at a time; return what follows the member's end."""
        member = self._member
        try:
            while True:
                out = member.decompress(data, _INFLATE_STEP)
                self._take(out)
                if member.eof:
                    self._member = None
                    return bytes(member.unused_data)
                data = member.unconsumed_tail
                # A full step may leave output pending inside zlib even with no input left.
                if not data and len(out) < _INFLATE_STEP:
                    return b""
        except zlib.error as err:
            raise IDXFormatError(
                f"{self._source}: corrupt gzip stream ({_zlib_problem(err)})"
            ) from None

    def _garbage(self) -> IDXFormatError:
        start = bytes(self._between[:4]).hex(" ")
        return IDXFormatError(
            f"{self._source}: data follows the end of the gzip stream that is not gzip data "
            f"(it starts {start}); expected the file to end there (trailing garbage)"
        )

    # --- IDX --------------------------------------------------------------------------------

    def _take(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        self._inflated += len(view)
        header = self._header
        while header is None:
            wanted = self._header_wanted()
            if len(self._head) >= wanted:
                header = self._begin()
                break
            if not view:
                return
            needed = wanted - len(self._head)
            self._head += view[:needed]
            view = view[needed:]
        if view:
            self._fill(header, view)

    def _header_wanted(self) -> int:
        """How many header bytes are needed, judging by those already there (raise if bad)."""
        head = self._head
        if len(head) < 4:
            return 4
        if head[:2] != b"\x00\x00":
            return _SNIFF  # not IDX: look a little further, to say what the file is instead
        code, ndim = head[2], head[3]
        if code not in _DTYPES:
            known = ", ".join(f"0x{c:02X}" for c in _DTYPES)
            raise IDXFormatError(
                f"{self._source}: unknown IDX type code 0x{code:02X}; known codes: {known}"
            )
        if ndim == 0:
            raise IDXFormatError(
                f"{self._source}: the header declares 0 dimensions; expected at least 1"
            )
        return 4 + 4 * ndim

    def _begin(self) -> IDXHeader:
        """Check the complete header, then make room for exactly the data it declares."""
        if self._head[:2] != b"\x00\x00":
            raise self._not_idx()
        wire = _DTYPES[self._head[2]]
        shape = struct.unpack_from(f">{self._head[3]}I", self._head, 4)
        header = IDXHeader(wire.newbyteorder("="), shape)
        if self._check is not None:
            self._check(header, self._source)
        if header.nbytes > self._max_bytes:
            raise IDXFormatError(
                f"{self._source}: the header declares {header.describe()}, that is "
                f"{header.nbytes} bytes of data, more than the {self._max_bytes} allowed "
                f"(max_bytes={self._max_bytes}); nothing was read past the header"
            )
        self._check_size(header)
        self._header, self._wire = header, wire
        if self._keep:
            # Exactly the declared size, known to be within the limits: the only big allocation.
            self._data = np.empty(math.prod(shape), dtype=header.dtype)
            self._buffer = self._data.data.cast("B")
        return header

    def _check_size(self, header: IDXHeader) -> None:
        """Refuse, before allocating, a header the input's known length cannot satisfy."""
        if self._size is None:
            return
        if not self._gzip:
            actual = self._size - header.header_bytes
            if actual != header.nbytes:
                raise self._size_mismatch(header, actual)
        elif header.nbytes > self._size * _MAX_INFLATION:
            raise IDXFormatError(
                f"{self._source}: the header announces {header.describe()}, that is "
                f"{header.nbytes} bytes of data, but {self._size} bytes of gzip cannot hold "
                f"that much (deflate inflates at most {_MAX_INFLATION}-fold); the file is "
                "truncated or its header damaged"
            )

    def _fill(self, header: IDXHeader, view: memoryview) -> None:
        room = header.nbytes - self._filled
        used = min(room, len(view))
        if used:
            if self._buffer is not None:
                self._buffer[self._filled : self._filled + used] = view[:used]
            self._filled += used
        self._extra += len(view) - used
        if self._extra > _EXTRA_COUNTED:
            raise self._size_mismatch(header)

    def _size_mismatch(self, header: IDXHeader, actual: int | None = None) -> IDXFormatError:
        """Say how the data after the header (`actual` bytes, else those seen) is off."""
        expected = header.nbytes
        if actual is None and self._extra > _EXTRA_COUNTED:
            follow = f"more than {expected + _EXTRA_COUNTED} bytes follow the header"
            problem = f"over {_EXTRA_COUNTED} extra; reading stopped there"
        else:
            actual = self._filled + self._extra if actual is None else actual
            follow = f"{actual} bytes follow the header"
            problem = (
                f"{expected - actual} missing"
                if actual < expected
                else f"{actual - expected} extra"
            )
        return IDXFormatError(
            f"{self._source}: the header announces {header.describe()}, that is {expected} "
            f"bytes of data, but {follow} ({problem})"
        )

    def _not_idx(self) -> IDXFormatError:
        head = bytes(self._head)
        return IDXFormatError(
            f"{self._source} is not an IDX file: expected the magic number 00 00 <type> <ndim>, "
            f"got {head[:4].hex(' ')}{_looks_like(head)}"
        )

    def _incomplete_header(self) -> IDXFormatError:
        head = self._head
        if len(head) < 4 or head[:2] != b"\x00\x00":
            return self._not_idx()
        wanted = 4 + 4 * head[3]
        return IDXFormatError(
            f"{self._source}: the header declares {head[3]} dimensions, which needs {wanted} "
            f"header bytes, but the file has only {len(head)}"
        )


def _zlib_problem(err: zlib.error) -> str:
    text = str(err)
    if "incorrect data check" in text:
        return f"the CRC-32 of the data does not match: the file is damaged; zlib: {text}"
    if "incorrect length check" in text:
        return f"the recorded length does not match: the file is damaged; zlib: {text}"
    return f"zlib: {text}"


def _looks_like(data: bytes) -> str:
    head = data[:_SNIFF].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return " (it is an HTML page, perhaps an error page saved under the file's name)"
    if head.startswith(b"<"):
        return " (it looks like a markup document, not binary data)"
    if data[:2] == GZIP_MAGIC:
        return " (gzip data inside gzip data: the file was compressed twice)"
    if data[:4] == b"PK\x03\x04":
        return " (it is a zip archive; extract it first)"
    return ""
