"""The IDX decoder: a file's bytes fed in pieces, gzip or not, checked as they arrive.

[`IDXDecoder`][minifw.data.idx_decoder.IDXDecoder] is the engine behind
[`read_idx`][minifw.data.idx.read_idx], [`decode_idx`][minifw.data.idx.decode_idx] and the checks of
downloads. It reads the header first; the header fixes the exact number of data bytes to expect,
which must not exceed `max_bytes` (and whatever the caller's `HeaderCheck` demands). Only then is an
array of exactly that size allocated and filled, and decompression never runs more than a little
past it, so memory stays bounded by what the header (and the caller) allow.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from typing import Any, Final, final

import numpy as np

from minifw._header import ArrayHeader, HeaderCheck
from minifw.errors import IDXFormatError, ValidationError
from minifw.typing import AnyArray

__all__ = ["DEFAULT_MAX_BYTES", "DTYPES", "GZIP_MAGIC", "IDXDecoder", "IDXHeader"]

GZIP_MAGIC: Final = b"\x1f\x8b"

DEFAULT_MAX_BYTES: Final = 1 << 28
"""The most data bytes (256 MiB) a file may declare unless the caller allows more.

Full MNIST's largest file holds 47,040,000 bytes of pixels; a header declaring more than this
limit is refused before anything is allocated. Pass `max_bytes=` to read larger files."""

DTYPES: Final[dict[int, np.dtype[Any]]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX type code -> big-endian numpy dtype, as defined on Yann LeCun's MNIST page."""

IDXHeader = ArrayHeader
"""What an IDX header declares: the element type (native byte order) and the shape."""

_INFLATE_STEP: Final = 1 << 16  # decompressed bytes produced at a time, a bounded step
_SNIFF: Final = 512  # bytes of a non-IDX file looked at to say what it is instead
# Deflate's best case is 258 bytes from about 2 bits: no gzip stream inflates more than this.
_MAX_INFLATION: Final = 1032
# Extra bytes after the declared data are counted up to this many, so the message can say how
# many there are; beyond it reading stops, however much more a bomb would inflate to.
_EXTRA_COUNTED: Final = 1 << 20


def _header_bytes(header: ArrayHeader) -> int:
    """Return the IDX header's own length: 4 bytes of magic number and 4 per dimension."""
    return 4 + 4 * len(header.shape)


@final
class IDXDecoder:
    """Decode an IDX file fed in pieces, gzip or not, never holding more than its header declares.

    Feed the file's bytes in any pieces with [`feed`][minifw.data.idx_decoder.IDXDecoder.feed], then
    call [`finish`][minifw.data.idx_decoder.IDXDecoder.finish], which checks that the file ended where
    it should and returns the header; [`array`][minifw.data.idx_decoder.IDXDecoder.array] then gives
    the data. With
    `keep=False` the data is checked and dropped (nothing is allocated), to validate a file while it
    streams past.

    Errors are raised as early as the bytes allow: a wrong header before any data is read, extra
    data as soon as a little of it has inflated. When the input's total length is known, pass it
    as `size`: a header that length cannot satisfy is then refused before anything is
    allocated (exactly, for uncompressed input; by deflate's 1032-fold limit, for gzip).

    Examples:
        >>> from minifw.data.idx import encode_idx, gzip_bytes
        >>> data = gzip_bytes(encode_idx(np.array([7, 2, 1], dtype=np.uint8)))
        >>> decoder = IDXDecoder("labels.gz")
        >>> for start in range(0, len(data), 8):
        ...     decoder.feed(data[start : start + 8])
        >>> decoder.finish()
        ArrayHeader(dtype=dtype('uint8'), shape=(3,))
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
        self._gzip: _Gunzip | None = None  # the gzip layer, once the first bytes say gzip
        self._told = False  # whether the first bytes have said gzip or not
        self._inflated = 0  # IDX bytes (decompressed, if gzip) seen so far
        self._head = bytearray()
        self._header: ArrayHeader | None = None
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
        if not self._told:
            if self._start or len(data) < 2:  # the first two bytes arrive in pieces
                self._start += data
                if len(self._start) < 2:
                    return
                data, self._start = bytes(self._start), bytearray()
            self._told = True
            if bytes(data[:2]) == GZIP_MAGIC:
                self._gzip = _Gunzip(self._source, self._take)
        if self._gzip is not None:
            self._gzip.feed(data)
        else:
            self._take(data)

    def finish(self) -> ArrayHeader:
        """Check that the file ended exactly where its header says, and return the header."""
        if self._result is not None:  # finished already: the data is in native order
            return ArrayHeader(self._result.dtype, self._result.shape)
        if not self._told:  # fewer than two bytes: not gzip
            if self._fed == 0:
                raise IDXFormatError(f"{self._source} is empty (0 bytes); expected an IDX file")
            self._told = True
            self._take(bytes(self._start))
        if self._gzip is not None:
            self._gzip.finish(self._fed)
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
        if code not in DTYPES:
            known = ", ".join(f"0x{c:02X}" for c in DTYPES)
            raise IDXFormatError(
                f"{self._source}: unknown IDX type code 0x{code:02X}; known codes: {known}"
            )
        if ndim == 0:
            raise IDXFormatError(
                f"{self._source}: the header declares 0 dimensions; expected at least 1"
            )
        return 4 + 4 * ndim

    def _begin(self) -> ArrayHeader:
        """Check the complete header, then make room for exactly the data it declares."""
        if self._head[:2] != b"\x00\x00":
            raise self._not_idx()
        wire = DTYPES[self._head[2]]
        shape = struct.unpack_from(f">{self._head[3]}I", self._head, 4)
        header = ArrayHeader(wire.newbyteorder("="), shape)
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

    def _check_size(self, header: ArrayHeader) -> None:
        """Refuse, before allocating, a header the input's known length cannot satisfy."""
        if self._size is None:
            return
        if self._gzip is None:
            actual = self._size - _header_bytes(header)
            if actual != header.nbytes:
                raise self._size_mismatch(header, actual)
        elif header.nbytes > self._size * _MAX_INFLATION:
            raise IDXFormatError(
                f"{self._source}: the header announces {header.describe()}, that is "
                f"{header.nbytes} bytes of data, but {self._size} bytes of gzip cannot hold "
                f"that much (deflate inflates at most {_MAX_INFLATION}-fold); the file is "
                "truncated or its header damaged"
            )

    def _fill(self, header: ArrayHeader, view: memoryview) -> None:
        room = header.nbytes - self._filled
        used = min(room, len(view))
        if used:
            if self._buffer is not None:
                self._buffer[self._filled : self._filled + used] = view[:used]
            self._filled += used
        self._extra += len(view) - used
        if self._extra > _EXTRA_COUNTED:
            raise self._size_mismatch(header)

    def _size_mismatch(self, header: ArrayHeader, actual: int | None = None) -> IDXFormatError:
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


@final
class _Gunzip:
    """The gzip layer of a decoder: members inflated one after another, a bounded step at a time.

    Each piece of inflated data goes to `out` as soon as it is made, so the decoder can refuse a
    bomb after its header; `finish` refuses a stream cut short or followed by something else.
    """

    def __init__(self, source: str, out: Callable[[bytes], None]) -> None:
        self._source = source
        self._out = out
        self._member: Any = None  # the zlib decompressor of the gzip member being read
        self._between = bytearray()  # bytes after a finished member, until they say what

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Inflate the next compressed bytes, refusing anything but gzip members."""
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

    def finish(self, fed: int) -> None:
        """Refuse a stream that ends inside a member (`fed` compressed bytes) or after garbage."""
        if self._member is not None:
            raise IDXFormatError(
                f"{self._source}: the gzip stream is truncated ({fed} compressed bytes "
                "end before the stream does); the file is incomplete, download or copy it again"
            )
        if self._between:
            raise self._garbage()

    def _inflate_member(self, data: bytes | bytearray | memoryview) -> bytes:
        """Inflate `data` a bounded step at a time; return what follows the member's end."""
        member = self._member
        try:
            while True:
                out = member.decompress(data, _INFLATE_STEP)
                self._out(out)
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
