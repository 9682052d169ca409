"""Waiting for an eventually consistent world: poll a condition until it holds or time runs out."""

from __future__ import annotations

import time
from collections.abc import Callable


def until[T](predicate: Callable[[], T], *, timeout: float, interval: float = 0.5) -> T:
    """Call ``predicate`` until it returns something truthy, or ``timeout`` seconds pass; returns
    its last value either way, so the caller's assertion shows what was there in the end."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
