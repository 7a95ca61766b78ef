"""Ctrl-C and SIGTERM during training: stop at the next batch boundary, then unwind.

An exception raised from a signal handler at an arbitrary point inside TensorFlow's training loop
can leave its runtime in a state that crashes the process. While training, zoo's handler only
records the signal; a callback asks Keras to stop after the current batch, and training raises
once ``fit`` has returned. A second signal, or one outside training, raises at once, unless it lands
inside an import: a KeyboardInterrupt raised while a native extension loads (jaxlib's, which TensorFlow
imports) has crashed the process with SIGSEGV or SIGABRT, so such a signal is delivered again until the
import is over.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that cleanup runs as for Ctrl-C."""


_state: dict = {"deferring": False, "pending": None, "stop": None, "unraisable": sys.unraisablehook}


def _raise(signum: int) -> None:
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def handle(signum, frame) -> None:
    """The signal handler the CLI installs for SIGINT and SIGTERM."""
    if _state["deferring"] and _state["pending"] is None:
        _state["pending"] = signum
        if _state["stop"] is not None:
            _state["stop"]()
        return
    if _in_import(frame):
        _deliver_again(signum)
        return
    _raise(signum)


def _in_import(frame) -> bool:
    """Whether the interrupted Python code runs inside an import (under importlib's frames)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _deliver_again(signum: int) -> None:
    """Send ``signum`` to this process again a moment later, when it may land where it can be raised; not once
    zoo's handler is gone (the command is over), and never holding up the interpreter's exit."""
    def send() -> None:
        if signal.getsignal(signum) is handle:
            os.kill(os.getpid(), signum)

    timer = threading.Timer(0.02, send)
    timer.daemon = True
    timer.start()


def on_signal(stop: Callable[[], None] | None) -> None:
    """What to call when a signal arrives while deferred (e.g. ask Keras to stop); None for nothing."""
    _state["stop"] = stop


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """Install ``handle`` for SIGINT and SIGTERM (main thread only), restoring the old handlers after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    _state["unraisable"], sys.unraisablehook = sys.unraisablehook, _redeliver
    try:
        yield
    finally:
        sys.unraisablehook = _state["unraisable"]
        for s, old in previous.items():
            signal.signal(s, old)


def _redeliver(unraisable) -> None:
    """A KeyboardInterrupt raised where Python drops exceptions (inside a garbage-collection callback, say) would be
    lost, the command going on as if never interrupted: send the signal again, a moment later, to be raised where
    it can unwind the command."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        _state["unraisable"](unraisable)
        return
    _deliver_again(signal.SIGTERM if isinstance(unraisable.exc_value, Terminated) else signal.SIGINT)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within this block a signal is recorded, not raised; it is raised when the block ends."""
    _state["deferring"], _state["pending"] = True, None
    try:
        yield
    finally:
        pending, _state["deferring"], _state["pending"] = _state["pending"], False, None
        if pending is not None:
            _raise(pending)


def pending() -> bool:
    """Whether a signal is waiting to be raised at the end of training."""
    return _state["pending"] is not None
