"""SIGTERM and SIGHUP, handled so that an interrupted process still cleans up after itself.

By default both end a Python process on the spot: no ``finally``, no ``atexit``, so a run's
resources and a half-started emulator are left behind. CI timeouts send SIGTERM, a closed
terminal SIGHUP. Two ways to handle them, for two kinds of process:

- :func:`raise_on_termination` (the CLI): the signal raises :class:`Terminated`, a
  ``KeyboardInterrupt``, so everything unwinds exactly as after Ctrl-C (papermill shuts its
  kernel down, ``with`` blocks delete and stop); the command then exits with 128 + the signal.
- :func:`clean_up_on_termination` (a notebook kernel, a script): the signal runs the registered
  clean-ups, then ends the process with that signal, as it would have ended anyway.

A process killed outright (SIGKILL, a crash) runs neither; the journal of live runs
(:mod:`eventlab.journal`) covers that case from the outside.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

log = logging.getLogger(__name__)

TERMINATING = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM or SIGHUP."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"received {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _ignored(sig: int) -> bool:
    return signal.getsignal(sig) is signal.SIG_IGN


@contextlib.contextmanager
def raise_on_termination() -> Iterator[None]:
    """Within the block, SIGTERM/SIGHUP raise :class:`Terminated` once; later ones are ignored,
    so that the clean-up the first one started is not cut short."""
    if not _in_main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if received:
            log.warning("%s received while cleaning up; still cleaning up", signal.Signals(signum).name)
            return
        received.append(signum)
        raise Terminated(signum)

    # A signal the process was started to ignore (``nohup``) stays ignored.
    previous = {sig: signal.signal(sig, handler) for sig in TERMINATING if not _ignored(sig)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


_cleanups: list[Callable[[], object]] = []
_installed: dict[int, object] = {}
_lock = threading.Lock()


def clean_up_on_termination(cleanup: Callable[[], object]) -> None:
    """Run ``cleanup`` when SIGTERM or SIGHUP arrives, then let the signal end the process.

    A handler that was there before (a Python one) still runs afterwards. Installed from the
    main thread only (Python's rule); elsewhere the clean-up relies on ``atexit`` alone.
    """
    with _lock:
        _cleanups.append(cleanup)
        if not _in_main_thread():
            return
        for sig in TERMINATING:
            if sig not in _installed and not _ignored(sig):
                _installed[sig] = signal.signal(sig, _run_cleanups)


def forget_clean_up(cleanup: Callable[[], object]) -> None:
    """Drop a clean-up registered with :func:`clean_up_on_termination` (it already ran)."""
    with _lock, contextlib.suppress(ValueError):
        _cleanups.remove(cleanup)


def _run_cleanups(signum: int, frame: FrameType | None) -> None:
    with _lock:
        pending = list(reversed(_cleanups))
        _cleanups.clear()
    log.warning("%s received: cleaning up before exiting", signal.Signals(signum).name)
    for cleanup in pending:
        try:
            cleanup()
        except Exception:  # the others must still run
            log.exception("clean-up on %s failed", signal.Signals(signum).name)
    previous = _installed.get(signum)
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
