"""How [`Trainer.fit`][minifw.train.trainer.Trainer.fit] reports while it runs.

A terminal gets a progress bar (tqdm) that redraws itself in place. Jupyter gets tqdm's notebook
widget, a bar in the cell's output that updates in place ([`Notebook`][minifw.train.progress.Notebook];
it needs ipywidgets, the `notebook` extra; without it, plain lines on the cell's standard output,
not on the standard error a notebook tints as an error). A file or a pipe (a CI log,
`minifw demo > out.txt`) would fill up with a terminal bar's redraws, one carriage return each,
so it gets plain lines instead: one every `interval` seconds (5 by default) and one at the end,
never a carriage return. Quiet mode writes nothing. A report whose stream fails (closed, its
reader gone) falls silent; training goes on.

The mode is one of `"auto"` (the widget in Jupyter, else the bar when the stream is a terminal,
plain lines otherwise), `"bar"`, `"notebook"`, `"lines"` and `"quiet"`; `True` means `"auto"`
and `False` means `"quiet"`, which is what the Trainer's `progress` field takes.

Examples:
    >>> import io
    >>> clock = iter(range(0, 100, 2)).__next__          # a fake clock: 2 s per reading
    >>> out = io.StringIO()
    >>> with Lines(total=6, stream=out, clock=clock) as progress:
    ...     for loss in [2.3, 2.2, 2.1, 2.0, 1.9, 1.8]:
    ...         progress.update(loss)
    >>> print(out.getvalue(), end="")
    3/6 steps (50%), loss 2.1000, 0.5 steps/s, 6 s elapsed, about 6 s left
    6/6 steps (100%), loss 1.8000, 0.5 steps/s, 12 s elapsed

"""

from __future__ import annotations

import abc
import importlib.util
import sys
import time
from collections.abc import Callable
from typing import Any, Literal, TextIO, TypeAlias, final

import attrs
from tqdm import tqdm

from minifw._validation import COUNT, POSITIVE_FLOAT, Check, one_of

__all__ = [
    "PROGRESS",
    "Bar",
    "Lines",
    "Notebook",
    "Progress",
    "ProgressMode",
    "Quiet",
    "in_notebook",
    "progress_for",
]

ProgressMode: TypeAlias = bool | Literal["auto", "bar", "notebook", "lines", "quiet"]
"""What the Trainer's `progress` field and [`progress_for`][minifw.train.progress.progress_for] take."""

PROGRESS: Check = one_of(True, False, "auto", "bar", "notebook", "lines", "quiet")
"""The check of a [`ProgressMode`][minifw.train.progress.ProgressMode]."""

# What a failing stream raises: closed (ValueError), gone (OSError), None (AttributeError).
_STREAM_ERRORS = (OSError, ValueError, AttributeError)


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (an IPython shell with a kernel).

    Only an IPython already imported is asked: a plain script never imports it.

    Examples:
        >>> in_notebook()   # a doctest is not a notebook
        False

    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _has_widgets() -> bool:
    return importlib.util.find_spec("ipywidgets") is not None




@attrs.define
class Progress(abc.ABC):
    """Reports a run of `total` steps: one `update` per step, `note` for events.

    Use it as a context manager, or call [`close`][minifw.train.progress.Progress.close] at the end.
    """

    total: int = attrs.field(validator=COUNT)
    _failed: bool = attrs.field(default=False, init=False, repr=False)

    def _safely(self, write: Callable[[], object]) -> None:
        """Run one write of the report; if its stream fails, the report is quiet from then on."""
        if self._failed:
            return
        try:
            write()
        except _STREAM_ERRORS:
            self._failed = True

    @abc.abstractmethod
    def update(self, loss: float) -> None:
        """Record one more step, whose loss was `loss`."""

    @abc.abstractmethod
    def note(self, text: str) -> None:
        """Report an event (such as an evaluation) on a line of its own."""

    @abc.abstractmethod
    def close(self) -> None:
        """Finish the report."""

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@final
@attrs.define
class Quiet(Progress):
    """Reports nothing.

    Examples:
        >>> with Quiet(total=3) as progress:
        ...     progress.update(2.3)

    """

    def update(self, loss: float) -> None:
        """Do nothing."""

    def note(self, text: str) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""


@final
@attrs.define
class Bar(Progress):
    r"""A tqdm progress bar on `stream` (`sys.stderr` when None), the loss in its postfix.

    For terminals: it redraws itself in place with carriage returns.

    Examples:
        >>> import io
        >>> out = io.StringIO()
        >>> with Bar(total=2, stream=out) as bar:
        ...     bar.update(2.3)
        ...     bar.update(2.2)
        >>> "\r" in out.getvalue(), "2/2" in out.getvalue()
        (True, True)

    """

    stream: TextIO | None = attrs.field(default=None, kw_only=True)
    _bar: Any = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        def start() -> None:
            self._bar = tqdm(
                total=self.total,
                file=self.stream if self.stream is not None else sys.stderr,
                unit="step",
                dynamic_ncols=True,
                leave=True,
            )

        self._safely(start)

    def update(self, loss: float) -> None:
        """Advance the bar and show the loss."""
        self._safely(lambda: _advance(self._bar, loss))

    def note(self, text: str) -> None:
        """Print `text` above the bar."""
        self._safely(lambda: self._bar.write(text, file=self._bar.fp))

    def close(self) -> None:
        """Close the bar (it stays on screen)."""
        self._safely(lambda: self._bar.close())


def _advance(bar: Any, loss: float) -> None:
    bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
    bar.update(1)


@final
@attrs.define
class Notebook(Progress):
    """tqdm's progress widget in a Jupyter cell's output, the loss in its postfix.

    It updates in place; notes (evaluations) are printed below it on the cell's standard output;
    a run cut short leaves the bar red. Needs ipywidgets (`pip install 'minifw[notebook]'`).
    """

    _bar: Any = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        from tqdm.notebook import tqdm as notebook_tqdm

        self._bar = notebook_tqdm(total=self.total, unit="step", leave=True)

    def update(self, loss: float) -> None:
        """Advance the bar and show the loss."""
        self._safely(lambda: _advance(self._bar, loss))

    def note(self, text: str) -> None:
        """Print `text` below the bar."""
        self._safely(lambda: print(text, flush=True))

    def close(self) -> None:
        """Close the bar (it stays in the output, red if the run stopped early)."""
        self._safely(lambda: self._bar.close())


@final
@attrs.define
class Lines(Progress):
    r"""Plain lines on `stream` (`sys.stderr` when None): every `interval` seconds, and the last.

    Each line says how many steps are done, the last loss, the speed, the time so far and the
    time left; no carriage returns, so a file or a pipe stays readable. `clock` returns
    seconds (`time.monotonic`; tests pass a fake one). The number of lines is at most
    \(\lfloor t / \text{interval} \rfloor + 1\) for a run of \(t\) seconds, plus one per
    [`note`][minifw.train.progress.Lines.note].
    """

    stream: TextIO | None = attrs.field(default=None, kw_only=True)
    interval: float = attrs.field(default=5.0, kw_only=True, validator=POSITIVE_FLOAT)
    clock: Callable[[], float] = attrs.field(default=time.monotonic, kw_only=True, repr=False)
    _done: int = attrs.field(default=0, init=False, repr=False)
    _loss: float = attrs.field(default=float("nan"), init=False, repr=False)
    _start: float = attrs.field(default=0.0, init=False, repr=False)
    _last_line: float = attrs.field(default=0.0, init=False, repr=False)
    _written: int = attrs.field(default=0, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._start = self._last_line = self.clock()

    def update(self, loss: float) -> None:
        """Count the step; write a line after the last step or `interval` seconds after the last line."""
        self._done += 1
        self._loss = loss
        now = self.clock()
        if self._done == self.total or now - self._last_line >= self.interval:
            self._line(now)

    def note(self, text: str) -> None:
        """Write `text` on a line of its own."""
        self._write(text)

    def close(self) -> None:
        """Write a final line if steps were taken since the last one (a run cut short)."""
        if self._done > self._written:
            self._line(self.clock())

    def _line(self, now: float) -> None:
        elapsed = now - self._start
        parts = [f"{self._done}/{self.total} step{'' if self.total == 1 else 's'}"]
        if self.total:
            parts[0] += f" ({100 * self._done // self.total}%)"
        parts.append(f"loss {self._loss:.4f}")
        if elapsed > 0:
            parts.append(f"{self._done / elapsed:.3g} steps/s")
        parts.append(f"{elapsed:.0f} s elapsed")
        if elapsed > 0 and self._done < self.total:
            parts.append(f"about {(self.total - self._done) * elapsed / self._done:.0f} s left")
        self._write(", ".join(parts))
        self._last_line = now
        self._written = self._done

    def _write(self, text: str) -> None:
        def write() -> None:
            stream = self.stream if self.stream is not None else sys.stderr
            stream.write(text + "\n")
            stream.flush()

        self._safely(write)


def progress_for(mode: ProgressMode, total: int, stream: TextIO | None = None) -> Progress:
    """Return the reporter for `mode` on `stream` (`sys.stderr` when None).

    `True` and `"auto"` give, in Jupyter, a [`Notebook`][minifw.train.progress.Notebook] widget
    (or, without ipywidgets, [`Lines`][minifw.train.progress.Lines] on the cell's standard
    output); elsewhere a [`Bar`][minifw.train.progress.Bar] when the stream is a terminal and
    `Lines` otherwise. `False` and `"quiet"` give [`Quiet`][minifw.train.progress.Quiet].

    Examples:
        >>> import io
        >>> type(progress_for(True, total=10, stream=io.StringIO())).__name__   # not a terminal
        'Lines'
        >>> type(progress_for(False, total=10)).__name__
        'Quiet'
        >>> progress_for("loud", total=10)
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: progress must be one of True, False, 'auto', 'bar', 'notebook', 'lines', 'quiet', got progress='loud'

    """
    PROGRESS.require("progress", mode)
    if mode is False or mode == "quiet":
        return Quiet(total)
    target = stream if stream is not None else sys.stderr
    if (mode == "auto" or mode is True) and stream is None and in_notebook():
        if not _has_widgets():  # plain lines where the notebook does not tint them
            return Lines(total, stream=sys.stdout)
        mode = "notebook"
    if mode == "auto" or mode is True:
        mode = "bar" if _is_terminal(target) else "lines"
    if mode == "notebook":
        return Notebook(total)
    if mode == "bar":
        return Bar(total, stream=target)
    return Lines(total, stream=target)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
