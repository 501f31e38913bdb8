"""Strict, memory-bounded reading and atomic writing of IDX files, the format MNIST ships in.

An IDX file is a 4-byte magic number `00 00 <type> <ndim>`, then `ndim` big-endian `uint32`
dimensions, then the array's elements, big-endian, in C order. MNIST distributes each file
gzip-compressed; [`read_idx`][minifw.data.idx.read_idx] recognises gzip by its first two bytes
(`1f 8b`), never by the file name, because files saved by hand are often misnamed.

The reader trusts nothing. It streams the file through gzip into an
[`IDXDecoder`][minifw.data.idx_decoder.IDXDecoder], which reads the header first; the header fixes
the exact number of data bytes to expect, which must not exceed `max_bytes` (and whatever a
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
import os
import stat
import struct
from typing import Final

import numpy as np

from minifw._atomic import atomic_write
from minifw._header import HeaderCheck
from minifw.data._checks import as_path, check_limit
from minifw.data.idx_decoder import DEFAULT_MAX_BYTES, DTYPES, IDXDecoder, IDXHeader
from minifw.errors import DataError, DatasetNotFoundError, ValidationError
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

_CODES: Final = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}
_SUPPORTED: Final = "uint8, int8, int16, int32, float32, float64"

# Fixed gzip settings make write_idx byte-for-byte reproducible: no timestamp, no file name in
# the header, one compression level. The bundled sample's SHA-256 values depend on them.
GZIP_LEVEL: Final = 9

_READ_STEP: Final = 1 << 20  # bytes read from a file at a time


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
    return header + arr.astype(DTYPES[code], copy=False).tobytes(order="C")


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
