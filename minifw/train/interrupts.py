r"""Ctrl-C and SIGTERM during training: commits no signal can cut in half, and a fit that stops cleanly.

Two tools, one for each side of a step:

- [`deferred_signals`][minifw.train.interrupts.deferred_signals] holds SIGINT and SIGTERM back
  while a block runs and delivers them when it ends. The moments that change state (an
  optimizer writing its new parameters, a Trainer counting the step, a checkpoint being
  restored) run inside it, so a Ctrl-C arrives before them (nothing changed) or after them
  (everything changed), never between two arrays.
- [`StopRequest`][minifw.train.interrupts.StopRequest] is how
  [`Trainer.fit`][minifw.train.trainer.Trainer.fit] listens while it runs: the first SIGINT or
  SIGTERM asks it to stop after the current step, a second one stops the step itself (which is
  rolled back). Then fit saves the checkpoint it was asked for and raises
  [`Interrupted`][minifw.train.interrupts.Interrupted], which says the signal, the step and where
  the checkpoint is; the command line turns it into one line and exit status 130 (143 for
  SIGTERM).

Signals reach Python's main thread only; in any other thread both tools do nothing.

Examples:
    >>> import signal
    >>> caught = []
    >>> try:
    ...     with deferred_signals():
    ...         signal.raise_signal(signal.SIGINT)   # held back ...
    ...         caught.append("the block finished")
    ... except KeyboardInterrupt:                      # ... and delivered when it ends
    ...     caught.append("then the interrupt")
    >>> caught
    ['the block finished', 'then the interrupt']

"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from signal import Signals
from types import FrameType
from typing import Any, final

import attrs

__all__ = ["SIGNALS", "Interrupted", "StopRequest", "deferred_signals", "raising_on_sigterm"]

SIGNALS: tuple[Signals, ...] = (signal.SIGINT, signal.SIGTERM)
"""The signals that stop training: Ctrl-C, and the polite request to end (`kill`, a scheduler)."""

_Handler = Callable[[int, FrameType | None], Any] | int | None


class Interrupted(KeyboardInterrupt):
    """Training stopped by SIGINT or SIGTERM; a `KeyboardInterrupt`, so `except Exception` passes it on.

    `signal` is the signal's number, `step` the step count the model is at (every step up to it
    whole, none after), `checkpoint` the file saved on the way out (None when no checkpoint was
    asked for, or when stopped outside a fit), `status` the exit status a command reports
    (128 plus the signal: 130 for SIGINT, 143 for SIGTERM).

    Examples:
        >>> import signal
        >>> stop = Interrupted(signal.SIGTERM, step=179)
        >>> stop.status, str(stop)
        (143, 'interrupted by SIGTERM at step 179')

    """

    def __init__(self, signum: int, *, step: int | None = None, checkpoint: Path | None = None):
        self.signal = int(signum)
        self.step = step
        self.checkpoint = checkpoint
        super().__init__(self.signal, step, checkpoint)

    @property
    def status(self) -> int:
        """The exit status of a command stopped this way: 128 plus the signal number."""
        return 128 + self.signal

    def __str__(self) -> str:
        name = signal.Signals(self.signal).name
        text = f"interrupted by {name}"
        if self.step is not None:
            text += f" at step {self.step}"
        if self.checkpoint is not None:
            text += f"; checkpoint saved to {self.checkpoint}"
        return text


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Run the block with SIGINT and SIGTERM held back; deliver them, in order, when it ends.

    A held signal goes to the handler in place after the block (Python's `KeyboardInterrupt` for
    SIGINT, the default for SIGTERM, or an enclosing `deferred_signals` or
    [`StopRequest`][minifw.train.interrupts.StopRequest]), as if it had arrived just then. Keep
    the block short: it cannot be interrupted. Outside the main thread, and for a signal whose
    handler was not set from Python, it holds nothing back.
    """
    if not _in_main_thread():
        yield
        return
    held: list[int] = []
    previous: dict[Signals, _Handler] = {}

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    try:
        for sig in SIGNALS:
            if signal.getsignal(sig) is not None:  # None: set outside Python, cannot be restored
                previous[sig] = signal.signal(sig, hold)
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in held:
            signal.raise_signal(signum)  # now to the handler in place again


@final
@attrs.define(eq=False)
class StopRequest:
    """What `fit` hears while it runs: the first SIGINT or SIGTERM asks to stop after the step.

    Use it as a context manager around the steps and look at `signal` between them (the number
    of the first signal, None while none came). A second signal raises `KeyboardInterrupt` where
    the program is, which rolls the current step back, for a step too long to wait for. Outside
    the main thread it installs nothing and `signal` stays None.

    Examples:
        >>> import signal
        >>> with StopRequest() as stop:
        ...     signal.raise_signal(signal.SIGTERM)
        ...     print("still running")
        still running
        >>> stop.signal == signal.SIGTERM
        True

    """

    signal: int | None = attrs.field(default=None, init=False)
    _previous: dict[Signals, _Handler] = attrs.field(factory=dict, init=False, repr=False)

    def __enter__(self) -> StopRequest:
        if _in_main_thread():
            for sig in SIGNALS:
                if signal.getsignal(sig) is not None:
                    self._previous[sig] = signal.signal(sig, self._heard)
        return self

    def __exit__(self, *exc: object) -> None:
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _heard(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt  # asked twice: do not wait for the step
        self.signal = signum


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def raising_on_sigterm() -> Iterator[None]:
    """Run the block with SIGTERM raising [`Interrupted`][minifw.train.interrupts.Interrupted], as SIGINT raises `KeyboardInterrupt`.

    A program that must clean up on either (the `minifw` command) uses it around its work;
    outside the main thread it changes nothing.

    Examples:
        >>> import signal
        >>> with raising_on_sigterm():
        ...     try:
        ...         signal.raise_signal(signal.SIGTERM)
        ...     except Interrupted as stop:
        ...         print(stop.status)
        143

    """
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
