"""What every consumer is: threads that run a loop until stopped, a context manager, errors kept."""

from __future__ import annotations

import logging
import threading
from typing import Self

from eventlab.measure.probes import ReceiptLog

log = logging.getLogger(__name__)


class Consumer:
    """Threads that run ``_loop`` until stopped; context manager; errors kept in ``errors``."""

    path: str = "consumer"

    def __init__(self, receipts: ReceiptLog, *, path: str, threads: int = 1) -> None:
        self.receipts = receipts
        self.path = path
        self.n_threads = threads
        self.errors: list[BaseException] = []
        self.throttled = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _loop(self, index: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _run(self, index: int) -> None:
        try:
            self._loop(index)
        except BaseException as error:
            if not self._stop.is_set():
                log.exception("%s consumer %d failed", self.path, index)
                self.errors.append(error)

    def start(self) -> Self:
        for i in range(self.n_threads):
            thread = threading.Thread(target=self._run, args=(i,), name=f"{self.path}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop and join the threads; raises if a thread died of an unexpected error."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("%s: threads still running after %.0f s: %s", self.path, timeout, alive)
        if self.errors:
            raise RuntimeError(f"{self.path} consumer failed: {self.errors[0]!r}") from self.errors[0]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
