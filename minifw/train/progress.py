"""How [`Trainer.fit`][minifw.train.trainer.Trainer.fit] reports while it runs.

A terminal gets a progress bar (tqdm) that redraws itself in place. A file or a pipe (a CI log,
`minifw demo > out.txt`, a notebook's stored output) would fill up with those redraws, one
carriage return each, so it gets plain lines instead: one every `interval` seconds (5 by
default) and one at the end, never a carriage return. Quiet mode writes nothing.

The mode is one of `"auto"` (the bar when the stream is a terminal, plain lines otherwise),
`"bar"`, `"lines"` and `"quiet"`; `True` means `"auto"` and `False` means
`"quiet"`, which is what the Trainer's `progress` field takes.

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
    "Progress",
    "ProgressMode",
    "Quiet",
    "progress_for",
]

ProgressMode: TypeAlias = bool | Literal["auto", "bar", "lines", "quiet"]
"""What the Trainer's `progress` field and [`progress_for`][minifw.train.progress.progress_for] take."""

PROGRESS: Check = one_of(True, False, "auto", "bar", "lines", "quiet")
"""The check of a [`ProgressMode`][minifw.train.progress.ProgressMode]."""


@attrs.define
class Progress(abc.ABC):
    """Reports a run of `total` steps: one `update` per step, `note` for events.

    Use it as a context manager, or call [`close`][minifw.train.progress.Progress.close] at the end.
    """

    total: int = attrs.field(validator=COUNT)

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
        self._bar = tqdm(
            total=self.total,
            file=self.stream if self.stream is not None else sys.stderr,
            unit="step",
            dynamic_ncols=True,
            leave=True,
        )

    def update(self, loss: float) -> None:
        """Advance the bar and show the loss."""
        self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        self._bar.update(1)

    def note(self, text: str) -> None:
        """Print `text` above the bar."""
        self._bar.write(text, file=self._bar.fp)

    def close(self) -> None:
        """Close the bar (it stays on screen)."""
        self._bar.close()


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
        parts = [f"{self._done}/{self.total} steps"]
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
        stream = self.stream if self.stream is not None else sys.stderr
        stream.write(text + "\n")
        stream.flush()


def progress_for(mode: ProgressMode, total: int, stream: TextIO | None = None) -> Progress:
    """Return the reporter for `mode` on `stream` (`sys.stderr` when None).

    `True` and `"auto"` give a [`Bar`][minifw.train.progress.Bar] when the stream is a terminal and
    [`Lines`][minifw.train.progress.Lines] otherwise; `False` and `"quiet"` give
    [`Quiet`][minifw.train.progress.Quiet].

    Examples:
        >>> import io
        >>> type(progress_for(True, total=10, stream=io.StringIO())).__name__   # not a terminal
        'Lines'
        >>> type(progress_for(False, total=10)).__name__
        'Quiet'
        >>> progress_for("loud", total=10)
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: progress must be one of True, False, 'auto', 'bar', 'lines', 'quiet', got progress='loud'

    """
    PROGRESS.require("progress", mode)
    if mode is False or mode == "quiet":
        return Quiet(total)
    target = stream if stream is not None else sys.stderr
    if mode == "auto" or mode is True:
        mode = "bar" if _is_terminal(target) else "lines"
    if mode == "bar":
        return Bar(total, stream=target)
    return Lines(total, stream=target)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
