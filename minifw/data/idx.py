"""Strict reading and writing of IDX files, the format MNIST ships in.

An IDX file is a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim`` big-endian ``uint32``
dimensions, then the array's elements, big-endian, in C order. MNIST distributes each file
gzip-compressed; :func:`read_idx` recognises gzip by its first two bytes (``1f 8b``), never by the
file name, because files saved by hand are often misnamed.

The reader trusts nothing: an empty file, an HTML page saved under a ``.gz`` name, a truncated gzip
stream, an unknown type code or a header that disagrees with the amount of data each raise an
:class:`~minifw.errors.IDXFormatError` that names the file and the problem.

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
import struct
import zlib
from pathlib import Path
from typing import Final

import numpy as np

from minifw.errors import DataError, DatasetNotFoundError, IDXFormatError, ValidationError
from minifw.typing import AnyArray, ArrayLike

__all__ = ["decode_idx", "encode_idx", "gzip_bytes", "read_idx", "write_idx"]

GZIP_MAGIC: Final = b"\x1f\x8b"

# IDX type code -> big-endian numpy dtype, as defined on Yann LeCun's MNIST page.
_DTYPES: Final[dict[int, np.dtype[np.generic]]] = {
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


def read_idx(path: str | os.PathLike[str]) -> AnyArray:
    """Read an IDX file, gzip-compressed or not, into a native-endian array.

    Args:
        path: the file. Compression is detected from its first bytes, not from its name.

    Returns:
        A writable array with the file's shape and element type (``uint8`` for MNIST).

    Raises:
        DatasetNotFoundError: no file at ``path``.
        IDXFormatError: the file is not a well-formed IDX file; the message says why.
        DataError: the file exists but cannot be read (permissions, a directory, ...).

    >>> import numpy as np, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte.gz"
    >>> write_idx(path, np.array([7, 2, 1], dtype=np.uint8))
    >>> read_idx(path)
    array([7, 2, 1], dtype=uint8)
    >>> _ = path.write_bytes(b"<!DOCTYPE html><html>Not Found</html>")
    >>> read_idx(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    minifw.errors.IDXFormatError: .../labels-idx1-ubyte.gz is not an IDX file: ...HTML page...

    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetNotFoundError(f"{path}: no such file") from None
    except OSError as err:
        raise DataError(f"{path} cannot be read: {err.strerror or err}") from None
    return decode_idx(data, source=str(path))


def decode_idx(data: bytes, *, source: str = "<bytes>") -> AnyArray:
    """Decode the bytes of an IDX file (gzip-compressed or not) into an array.

    Args:
        data: the file's content.
        source: the name used in error messages, usually the file's path.

    Raises:
        IDXFormatError: ``data`` is not a well-formed IDX file.

    >>> decode_idx(bytes.fromhex("00000d01 00000001 3f800000"))
    array([1.], dtype=float32)
    >>> decode_idx(bytes.fromhex("00000801 00000003 0102"), source="labels")
    Traceback (most recent call last):
    ...
    minifw.errors.IDXFormatError: labels: the header announces shape (3,) of uint8, that is 3 bytes of data, but 2 bytes follow the header (1 missing)

    """
    if not data:
        raise IDXFormatError(f"{source} is empty (0 bytes); expected an IDX file")
    if data[:2] == GZIP_MAGIC:
        data = _gunzip(data, source)
        if not data:
            raise IDXFormatError(f"{source} is an empty gzip stream; expected an IDX file in it")
    return _parse(data, source)


def encode_idx(array: ArrayLike) -> bytes:
    """Encode an array as the (uncompressed) bytes of an IDX file.

    Args:
        array: at least one dimension, each below 2**32, of dtype uint8, int8, int16, int32,
            float32 or float64.

    Raises:
        ValidationError: the array cannot be stored as IDX.

    >>> encode_idx([[1, 2]])
    Traceback (most recent call last):
    ...
    minifw.errors.ValidationError: array must have dtype uint8, int8, int16, int32, float32, float64, got dtype int64

    """
    arr = np.asarray(array)
    code = _CODES.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise ValidationError(f"array must have dtype {_SUPPORTED}, got dtype {arr.dtype}")
    if arr.ndim < 1 or arr.ndim > 255:
        raise ValidationError(f"array must have 1 to 255 dimensions, got shape {arr.shape}")
    if any(size >= 2**32 for size in arr.shape):
        raise ValidationError(f"array dimensions must be below 2**32, got shape {arr.shape}")
    header = struct.pack(f">2xBB{arr.ndim}I", code, arr.ndim, *arr.shape)
    return header + arr.astype(_DTYPES[code], copy=False).tobytes(order="C")


def write_idx(path: str | os.PathLike[str], array: ArrayLike) -> None:
    """Write an array as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    The gzip stream is reproducible: no timestamp and no file name in its header, compression
    level 9, so the same array always gives the same bytes.

    >>> import hashlib, numpy as np, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_idx(folder / "a.gz", np.zeros((2, 2), dtype=np.uint8))
    >>> write_idx(folder / "b.gz", np.zeros((2, 2), dtype=np.uint8))
    >>> (folder / "a.gz").read_bytes() == (folder / "b.gz").read_bytes()
    True
    """
    path = Path(path)
    data = encode_idx(array)
    if path.name.endswith(".gz"):
        data = gzip_bytes(data)
    path.write_bytes(data)


def gzip_bytes(data: bytes) -> bytes:
    """Compress ``data`` with the fixed, reproducible gzip settings :func:`write_idx` uses.

    >>> gzip_bytes(b"")[:4].hex(" ")
    '1f 8b 08 00'
    """
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def _gunzip(data: bytes, source: str) -> bytes:
    try:
        return gzip.decompress(data)
    except EOFError:
        raise IDXFormatError(
            f"{source}: the gzip stream is truncated ({len(data)} compressed bytes end before "
            "the stream does); the file is incomplete, download or copy it again"
        ) from None
    except (OSError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise IDXFormatError(f"{source}: corrupt gzip stream ({err})") from None


def _parse(data: bytes, source: str) -> AnyArray:
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise IDXFormatError(
            f"{source} is not an IDX file: expected the magic number 00 00 <type> <ndim>, "
            f"got {data[:4].hex(' ')}{_looks_like(data)}"
        )
    code, ndim = data[2], data[3]
    dtype = _DTYPES.get(code)
    if dtype is None:
        known = ", ".join(f"0x{c:02X}" for c in _DTYPES)
        raise IDXFormatError(f"{source}: unknown IDX type code 0x{code:02X}; known codes: {known}")
    if ndim == 0:
        raise IDXFormatError(f"{source}: the header declares 0 dimensions; expected at least 1")
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise IDXFormatError(
            f"{source}: the header declares {ndim} dimensions, which needs {offset} header "
            f"bytes, but the file has only {len(data)}"
        )
    shape = struct.unpack_from(f">{ndim}I", data, 4)
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - offset
    if actual != expected:
        native = dtype.newbyteorder("=")
        problem = (
            f"{expected - actual} missing" if actual < expected else f"{actual - expected} extra"
        )
        raise IDXFormatError(
            f"{source}: the header announces shape {shape} of {native}, that is {expected} bytes "
            f"of data, but {actual} bytes follow the header ({problem})"
        )
    flat = np.frombuffer(data, dtype=dtype, offset=offset)
    return flat.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def _looks_like(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return " (it is an HTML page, perhaps an error page saved under the file's name)"
    if head.startswith(b"<"):
        return " (it looks like a markup document, not binary data)"
    if data[:2] == GZIP_MAGIC:
        return " (gzip data inside gzip data: the file was compressed twice)"
    if data[:4] == b"PK\x03\x04":
        return " (it is a zip archive; extract it first)"
    return ""
