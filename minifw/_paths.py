"""File paths as minifw takes them: a `str` or an `os.PathLike` naming a file, never bytes or "".

Every function that reads or writes a file minifw manages (checkpoints, plots, configuration
files) checks its path here first, so `b"run.npz"`, `123` or `""` is one clear error naming the
argument instead of a `TypeError` from deep inside, or a file called `.`.

Examples:
    >>> check_path("runs/a.npz", "checkpoint")
    PosixPath('runs/a.npz')
    >>> check_path(b"a.npz", "checkpoint")
    Traceback (most recent call last):
    ...
    minifw.errors.ValidationError: checkpoint must be a path (a str or an os.PathLike), got checkpoint=b'a.npz'
    >>> check_path("", "checkpoint")
    Traceback (most recent call last):
    ...
    minifw.errors.ValidationError: checkpoint must name a file, got checkpoint=''

"""

from __future__ import annotations

import os
from pathlib import Path

from minifw.errors import MinifwError, ValidationError

__all__ = ["check_path"]


def check_path(path: object, name: str, error: type[MinifwError] = ValidationError) -> Path:
    """Return `path` as a `Path` if it is a `str` or an `os.PathLike` of text naming a file.

    Raises `error` naming `name` for anything else: bytes (minifw's messages and file names
    are text), other types, an empty string, and a name with a NUL character.
    """
    text = os.fspath(path) if isinstance(path, str | os.PathLike) else None
    if not isinstance(text, str):
        raise error(f"{name} must be a path (a str or an os.PathLike), got {name}={path!r}")
    if not text.strip():
        raise error(f"{name} must name a file, got {name}={text!r}")
    if "\0" in text:
        raise error(f"{name} must not contain a NUL character, got {name}={text!r}")
    return Path(text)
