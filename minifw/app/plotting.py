r"""Plots of training written to files, in the format the file's suffix names (needs the `plot` extra: matplotlib).

[`History.plot`][minifw.train.history.History.plot] draws the figure;
[`plot_history`][minifw.app.plotting.plot_history] writes it, atomically, as PNG, JPEG, SVG, PDF
or any other format matplotlib knows by the suffix (`.png`, `.jpg`, `.svg`, `.pdf`, ...). A
suffix it does not know, no suffix, or a folder that does not exist is refused before anything
is drawn ([`check_plot_path`][minifw.app.plotting.check_plot_path]); no folder is created.

Examples:
    >>> from minifw.train.trainer import Evaluation, History
    >>> import tempfile, pathlib
    >>> history = History(loss=[2.3, 2.0, 1.5, 1.2], evaluations=[Evaluation(2, 0.5, 0.45), Evaluation(4, 0.7, 0.66)])
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> plot_history(history, folder / "history.png").read_bytes()[:4]
    b'\x89PNG'
    >>> plot_history(history, folder / "history.jpg").read_bytes()[:3]   # JPEG, as the name says
    b'\xff\xd8\xff'
    >>> plot_history(history, folder / "history.txt")
    Traceback (most recent call last):
    ...
    minifw.errors.ConfigError: cannot write a plot as .txt; the suffix names the format, one of ..., .png, ...

"""

from __future__ import annotations

import os
from pathlib import Path

from minifw._atomic import atomic_write
from minifw._paths import check_path
from minifw.errors import ConfigError, NotSupportedError
from minifw.train.history import History

__all__ = ["check_plot_path", "matplotlib_available", "plot_formats", "plot_history"]


def matplotlib_available() -> bool:
    """Return whether matplotlib can be imported (the `plot` extra is installed).

    Examples:
        >>> isinstance(matplotlib_available(), bool)
        True

    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_formats() -> dict[str, str]:
    """Return the formats matplotlib writes, by suffix (`"png"`: `"Portable Network Graphics"`)."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError as err:
        raise NotSupportedError("plotting needs matplotlib: pip install 'minifw[plot]'") from err
    return dict(FigureCanvasBase.get_supported_filetypes())


def check_plot_path(path: str | os.PathLike[str]) -> tuple[Path, str]:
    """Return the plot's path and its format (from the suffix), or refuse them.

    A [`ConfigError`][minifw.errors.ConfigError] for a suffix matplotlib cannot write or a
    folder that does not exist.
    """
    target = check_path(path, "plot", ConfigError)
    fmt = target.suffix.lower().removeprefix(".")
    formats = plot_formats()
    if fmt not in formats:
        named = f"as .{fmt}" if fmt else "without a suffix"
        known = ", ".join(f".{name}" for name in sorted(formats))
        raise ConfigError(
            f"cannot write a plot {named}; the suffix names the format, one of {known}"
        )
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write plot {target}: the folder {target.parent} does not exist")
    return target, fmt


def plot_history(history: History, path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Draw the loss of every step and the accuracy of each evaluation into a file; return its path.

    The figure is [`History.plot`][minifw.train.history.History.plot]'s; the format is the one the
    suffix names ([`check_plot_path`][minifw.app.plotting.check_plot_path]). The file is written
    atomically.
    """
    target, fmt = check_plot_path(path)
    figure = history.plot(title=title)
    with atomic_write(target, error=ConfigError, what="plot", create_folder=False) as handle:
        figure.savefig(handle, format=fmt, dpi=100)
    return target
