"""Atomic file writes: a temporary file in the target's folder, flushed, then renamed over it.

A failure at any point (an exception inside the `with` block, a full disk) leaves the previous
file, if any, untouched and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from minifw.errors import MinifwError

__all__ = ["atomic_write"]


def _default_mode() -> int:
    """Return the mode `open` gives a new file: 0o666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(
    target: Path, *, error: type[MinifwError] = MinifwError, what: str = "file"
) -> Iterator[BinaryIO]:
    """Yield a binary handle whose content replaces `target` when the block succeeds.

    An `OSError` becomes `error` naming `what` and the path; other exceptions pass through
    (after the temporary file is removed). The file gets the usual mode (0o666 less the umask),
    not the owner-only mode of a temporary file.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.bin"
        >>> with atomic_write(path) as handle:
        ...     _ = handle.write(b"done")
        >>> path.read_bytes()
        b'done'

    """
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    except OSError as err:
        raise error(f"cannot write {what} {target}: {err.strerror or err}") from err
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates files readable by their owner only; give the file the usual mode.
        os.chmod(tmp, _default_mode())
        os.replace(tmp, target)
    except OSError as err:
        raise error(f"cannot write {what} {target}: {err.strerror or err}") from err
    finally:
        tmp.unlink(missing_ok=True)
