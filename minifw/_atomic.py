"""Atomic file writes: a temporary file in the target's folder, flushed, then renamed over it.

A failure at any point (an exception inside the `with` block, a full disk, Ctrl-C) leaves the
previous file, if any, untouched and no temporary file behind. A process killed outright
(`kill -9`, a power cut) cannot clean up after itself: its temporary file stays. So the
temporary names carry the writer's process id (`.run.npz.<pid>.<random>.part`), and every later
write of the same file removes those of writers that no longer run (and any older than a day),
never one another live process is still writing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from minifw.errors import MinifwError

__all__ = ["atomic_write", "remove_stale", "temporary_name_prefix"]

# A temporary file older than this is stale whoever wrote it (no write takes a day).
_STALE_SECONDS = 24 * 3600


def _default_mode() -> int:
    """Return the mode `open` gives a new file: 0o666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def temporary_name_prefix(target: Path) -> str:
    """Return the prefix of this process's temporary files for `target`: `.<name>.<pid>.`.

    Examples:
        >>> import os
        >>> temporary_name_prefix(Path("runs/a.npz")) == f".a.npz.{os.getpid()}."
        True

    """
    return f".{target.name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return False
    return True


def remove_stale(target: Path, suffixes: tuple[str, ...] = (".part", ".probe")) -> list[Path]:
    """Remove the temporary files of earlier writes of `target` whose writer is gone; return them.

    A temporary file is stale when the process whose id it carries no longer runs, or when it
    is older than a day. This process's own are never touched (they are in use or already
    removed). Errors (a file removed meanwhile, a read-only folder) are ignored.

    Examples:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / ".run.npz.999999999.x1.part").write_bytes(b"half a file")
        >>> [p.name for p in remove_stale(folder / "run.npz")]
        ['.run.npz.999999999.x1.part']

    """
    removed: list[Path] = []
    own = temporary_name_prefix(target)
    try:
        candidates = list(target.parent.glob(f".{target.name}.*"))
    except OSError:
        return removed
    now = time.time()
    for path in candidates:
        if not path.name.endswith(suffixes) or path.name.startswith(own):
            continue
        pid_text = path.name[len(target.name) + 2 :].split(".", 1)[0]
        try:
            gone = not (pid_text.isdigit() and _alive(int(pid_text)))
            if gone or now - path.stat().st_mtime > _STALE_SECONDS:
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def atomic_write(
    target: Path,
    *,
    error: type[MinifwError] = MinifwError,
    what: str = "file",
    create_folder: bool = True,
) -> Iterator[BinaryIO]:
    """Yield a binary handle whose content replaces `target` when the block succeeds.

    An `OSError` becomes `error` naming `what` and the path; other exceptions pass through
    (after the temporary file is removed). The file gets the usual mode (0o666 less the umask),
    not the owner-only mode of a temporary file. The folder is created if needed, unless
    `create_folder` is False (then a missing folder is an `error`). The temporary files of
    earlier writes whose writer was killed are removed
    ([`remove_stale`][minifw._atomic.remove_stale]).

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
        if create_folder:
            folder.mkdir(parents=True, exist_ok=True)
        elif not folder.is_dir():
            raise FileNotFoundError(2, f"the folder {folder} does not exist")
        remove_stale(target)
        fd, name = tempfile.mkstemp(
            prefix=temporary_name_prefix(target), suffix=".part", dir=folder
        )
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
