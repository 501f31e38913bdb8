"""The IDX reader and writer: round trips, byte layout, and a clear error for every damaged file."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minifw.data import decode_idx, encode_idx, read_idx, write_idx
from minifw.data.idx import IDXDecoder, IDXHeader, gzip_bytes
from minifw.errors import (
    DataError,
    DatasetNotFoundError,
    IDXFormatError,
    MinifwError,
    ValidationError,
)
from minifw.typing import AnyArray

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
LABELS = np.array([7, 2, 1, 0, 4], dtype=np.uint8)
VALID = encode_idx(LABELS)


def idx_arrays() -> st.SearchStrategy[AnyArray]:
    return hnp.arrays(
        dtype=st.sampled_from(DTYPES),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    )


def test_mnist_label_file_layout() -> None:
    # magic 0x00000801, then the count, then one byte per label (LeCun's format description)
    assert bytes.fromhex("00000801 00000005") + bytes([7, 2, 1, 0, 4]) == VALID


def test_multibyte_values_are_big_endian() -> None:
    data = encode_idx(np.array([1, -2], dtype=np.int16))
    assert data == bytes.fromhex("00000b01 00000002 0001 fffe")
    decoded = decode_idx(data)
    assert decoded.dtype == np.dtype(np.int16)  # native byte order
    assert decoded.dtype.isnative
    assert decoded.tolist() == [1, -2]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
def test_file_round_trip(tmp_path: Path, dtype: type, name: str) -> None:
    array: AnyArray = (np.arange(24) - 3).reshape(2, 3, 4).astype(dtype)
    write_idx(tmp_path / name, array)
    is_gzip = (tmp_path / name).read_bytes()[:2] == b"\x1f\x8b"
    assert is_gzip == name.endswith(".gz")
    back = read_idx(tmp_path / name)
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)
    back[0, 0, 0] = 1  # the result is a writable array, not a view of the file's bytes


def test_gzip_is_detected_by_content_not_by_name(tmp_path: Path) -> None:
    (tmp_path / "plain-but-named.gz").write_bytes(VALID)
    (tmp_path / "compressed-but-named.idx").write_bytes(gzip.compress(VALID))
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-but-named.gz"), LABELS)
    np.testing.assert_array_equal(read_idx(tmp_path / "compressed-but-named.idx"), LABELS)


def test_written_gzip_is_reproducible() -> None:
    assert gzip_bytes(VALID) == gzip_bytes(VALID)
    assert gzip_bytes(VALID)[4:8] == b"\x00\x00\x00\x00"  # mtime 0
    assert gzip_bytes(VALID)[3] == 0  # no FNAME flag: no file name in the header


@given(idx_arrays(), st.booleans())
def test_random_arrays_round_trip(array: AnyArray, compress: bool) -> None:
    data = encode_idx(array)
    back = decode_idx(gzip_bytes(data) if compress else data)
    assert back.shape == array.shape
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "is empty (0 bytes)"),
        (b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "it is an HTML page"),
        (gzip.compress(VALID)[:-12], "gzip stream is truncated"),
        (gzip.compress(VALID)[:15], "gzip stream is truncated"),
        (gzip.compress(VALID)[:-8] + b"\x00\x00\x00\x00" + gzip.compress(VALID)[-4:], "CRC"),
        (gzip.compress(b""), "empty gzip stream"),
        (b"\x1f\x8b", "gzip stream is truncated"),
        (b"PK\x03\x04" + VALID, "zip archive"),
        (gzip.compress(gzip.compress(VALID)), "the file was compressed twice"),
        (b"\x00\x01\x08\x01" + VALID[4:], "expected the magic number 00 00 <type> <ndim>"),
        (b"\x00\x00", "expected the magic number"),
        (b"\x00\x00\x0a\x01" + VALID[4:], "unknown IDX type code 0x0A"),
        (b"\x00\x00\x08\x00", "declares 0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "needs 16 header bytes, but the file has only 8"),
        (VALID[:-2], "but 3 bytes follow the header (2 missing)"),
        (VALID + b"\x00", "but 6 bytes follow the header (1 extra)"),
        (encode_idx(np.zeros((2, 2), np.float32))[:-1], "of float32, that is 16 bytes"),
    ],
)
def test_damaged_files_raise_a_clear_idx_format_error(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(IDXFormatError) as caught:
        read_idx(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_html_page_saved_as_gz_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"\n  <html><head><title>Error</title></head></html>")
    with pytest.raises(IDXFormatError, match="HTML page, perhaps an error page"):
        read_idx(path)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="no such file"):
        read_idx(tmp_path / "absent.gz")


def test_a_folder_is_not_readable_as_a_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot be read"):
        read_idx(tmp_path)


@pytest.mark.parametrize(
    ("array", "problem"),
    [
        (np.zeros(3, dtype=np.int64), "got dtype int64"),
        (np.zeros(3, dtype=bool), "got dtype bool"),
        (np.float32(1.0), "1 to 255 dimensions"),
        ([1.5, 2.5], None),  # lists work: float64
    ],
)
def test_writer_rejects_what_idx_cannot_hold(array: object, problem: str | None) -> None:
    if problem is None:
        assert decode_idx(encode_idx(array)).tolist() == [1.5, 2.5]  # type: ignore[arg-type]
        return
    with pytest.raises(ValidationError, match=problem):
        encode_idx(array)  # type: ignore[arg-type]


def _valid_file(compress: bool) -> bytes:
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    return gzip_bytes(encode_idx(images)) if compress else encode_idx(images)


@settings(max_examples=300)
@given(
    compress=st.booleans(),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4),
    keep=st.one_of(st.none(), st.integers(0, 100)),
)
def test_random_corruption_never_escapes_as_anything_but_minifw_error(
    compress: bool, flips: list[tuple[int, int]], keep: int | None
) -> None:
    data = bytearray(_valid_file(compress))
    for position, mask in flips:
        data[position % len(data)] ^= mask
    damaged = bytes(data if keep is None else data[:keep])
    try:
        array = decode_idx(damaged, source="damaged.gz")
    except MinifwError:
        return
    # The damage happened to leave a well-formed file: the result must still be consistent.
    assert isinstance(array, np.ndarray)
    assert array.ndim == damaged_ndim(damaged)
    assert array.flags.writeable


def damaged_ndim(data: bytes) -> int:
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return int(struct.unpack(">B", raw[3:4])[0])


@given(idx_arrays(), st.booleans(), st.integers(1, 40))
def test_feeding_any_pieces_decodes_the_same(array: AnyArray, compress: bool, step: int) -> None:
    data = encode_idx(array)
    data = gzip_bytes(data) if compress else data
    decoder = IDXDecoder("pieces")
    for start in range(0, len(data), step):
        decoder.feed(data[start : start + step])
    header = decoder.finish()
    assert (header.shape, header.dtype) == (array.shape, array.dtype)
    np.testing.assert_array_equal(decoder.array(), array)


def test_a_file_split_across_gzip_members_reads_whole() -> None:
    # `cat a.gz b.gz` is one valid gzip file holding both contents, as gunzip reads it.
    assert decode_idx(gzip_bytes(VALID[:6]) + gzip_bytes(VALID[6:])).tolist() == LABELS.tolist()


def test_max_bytes_is_inclusive(tmp_path: Path) -> None:
    write_idx(tmp_path / "x.gz", LABELS)
    assert read_idx(tmp_path / "x.gz", max_bytes=5).tolist() == LABELS.tolist()
    with pytest.raises(IDXFormatError, match=r"that is 5 bytes of data, more than the 4 allowed"):
        read_idx(tmp_path / "x.gz", max_bytes=4)


def test_the_header_check_runs_before_any_data_is_read() -> None:
    seen: list[IDXHeader] = []

    def refuse(header: IDXHeader, source: str) -> None:
        seen.append(header)
        raise DataError(f"{source}: no, thanks")

    with pytest.raises(DataError, match="labels: no, thanks"):
        decode_idx(VALID[:8], source="labels", check=refuse)  # the header alone: data is missing
    assert seen == [IDXHeader(np.dtype(np.uint8), (5,))]


def test_a_decoder_that_keeps_nothing_still_checks_everything() -> None:
    decoder = IDXDecoder("labels", keep=False)
    decoder.feed(VALID + b"\x00")
    with pytest.raises(IDXFormatError, match=r"\(1 extra\)"):
        decoder.finish()
    with pytest.raises(ValidationError, match="built with keep=False"):
        decoder.array()


def test_finish_twice_gives_the_same_array() -> None:
    decoder = IDXDecoder("twice")
    decoder.feed(encode_idx(np.array([1, -2], dtype=np.int16)))
    assert decoder.finish() == decoder.finish()
    assert decoder.array().tolist() == [1, -2]
