"""A checkpoint's `.npz` archive, opened strictly and read one member at a time.

[`NpzArchive`][minifw.train.archive.NpzArchive] is the file layer under
[`read_checkpoint`][minifw.train.checkpoint.read_checkpoint]: it refuses what is not a plain
`np.savez` archive (a lone `.npy` file, a damaged zip directory, a member that is compressed, named
twice or not an array), and it reads a member only after its `.npy` header has passed the caller's
`HeaderCheck` and its declared size agrees with that header. What the members must hold is the
checkpoint's business, not this module's.

Examples:
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from minifw.errors import CheckpointError
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.npz"
    >>> np.savez(path, step=np.array(3))
    >>> def int64_scalar(header, where):
    ...     if header.dtype != np.int64 or header.shape != ():
    ...         raise CheckpointError(f"{where} must be an int64 scalar")
    >>> with NpzArchive.open(path) as archive:
    ...     sorted(archive.members), int(archive.read("step", int64_scalar))
    (['step'], 3)

"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Final, final

import numpy as np

from minifw._header import ArrayHeader, HeaderCheck
from minifw.errors import CheckpointError
from minifw.typing import AnyArray

__all__ = ["NpzArchive"]

# numpy's own limit on the size of a `.npy` header.
_MAX_HEADER: Final = 10_000


@final
class NpzArchive:
    """An open `.npz` file and its members by name (without `.npy`); a context manager.

    Open one with [`open`][minifw.train.archive.NpzArchive.open]. Every error is a
    [`CheckpointError`][minifw.errors.CheckpointError] naming the file and, where there is one,
    the member.
    """

    def __init__(self, source: Path, archive: zipfile.ZipFile) -> None:
        self.source = source
        self._archive = archive
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in archive.infolist():
            self._add(info)

    @classmethod
    def open(cls, source: Path) -> NpzArchive:
        """Open `source` and list its members, refusing anything but a plain `np.savez` archive."""
        if not source.exists():
            raise CheckpointError(f"checkpoint {source} does not exist")
        if source.is_dir():
            raise CheckpointError(f"checkpoint {source} is a folder, not a .npz file")
        start = b""
        try:
            with source.open("rb") as handle:
                start = handle.read(6)
            archive = zipfile.ZipFile(source)
        except Exception as err:  # a damaged directory makes zipfile raise almost anything
            if start == b"\x93NUMPY":
                raise CheckpointError(
                    f"{source} is a single .npy array, not a minifw checkpoint (.npz archive)"
                ) from err
            raise CheckpointError(
                f"{source} is not a minifw checkpoint (.npz archive): {err}"
            ) from err
        try:
            return cls(source, archive)
        except BaseException:
            archive.close()
            raise

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self._archive.close()

    def where(self, member: str | None) -> str:
        """Return how messages name the file, or one of its members (ending in a comma)."""
        return f"{self.source}" if member is None else f"{self.source}, member {member!r},"

    def fail(self, member: str | None, text: str) -> CheckpointError:
        """Return the error saying `text` about the file, or about one of its members."""
        return CheckpointError(f"{self.where(member)} {text}")

    def header(self, name: str) -> tuple[ArrayHeader, int]:
        """Return the header of member `name` and where its data starts, reading only the header."""
        info = self.members.get(name)
        if info is None:
            raise self.fail(name, "is missing")
        try:
            with self._archive.open(info) as stream:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    header = np.lib.format.read_array_header_1_0(stream, _MAX_HEADER)
                elif version == (2, 0):
                    header = np.lib.format.read_array_header_2_0(stream, _MAX_HEADER)
                else:
                    raise ValueError(f".npy format version {version} is not supported")
                offset = stream.tell()
        except Exception as err:  # a damaged header makes numpy's parser raise almost anything
            raise self.fail(name, f"is damaged or not an .npy array ({err!r})") from err
        shape, _fortran, dtype = header
        if dtype.hasobject:
            raise self.fail(name, "holds Python objects (pickled), which minifw never loads")
        return ArrayHeader(dtype, tuple(shape)), offset

    def read(self, name: str, check: HeaderCheck) -> AnyArray:
        """Check member `name`'s header and declared size, then read it (its CRC checked)."""
        header, offset = self.header(name)
        check(header, self.where(name))
        info = self.members[name]
        expected = offset + header.nbytes
        if info.file_size != expected:
            raise self.fail(
                name,
                f"declares {info.file_size} bytes but its header ({header.dtype}, shape "
                f"{header.shape}) means {expected}",
            )
        try:
            raw = self._archive.read(info)
            array: AnyArray = np.lib.format.read_array(
                io.BytesIO(raw), allow_pickle=False, max_header_size=_MAX_HEADER
            )
        except Exception as err:  # CRC mismatch, truncation, or whatever numpy's reader raises
            raise self.fail(name, f"is damaged ({err!r})") from err
        return array

    def _add(self, info: zipfile.ZipInfo) -> None:
        name = info.filename.removesuffix(".npy")
        if not info.filename.endswith(".npy") or not name:
            raise self.fail(info.filename, "is not an .npy array (unknown member)")
        if name in self.members:
            raise self.fail(name, "appears twice in the archive")
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise self.fail(
                name,
                f"is compressed (method {info.compress_type}, {info.compress_size} bytes "
                f"declaring {info.file_size}); minifw checkpoints store members "
                "uncompressed (np.savez)",
            )
        self.members[name] = info

