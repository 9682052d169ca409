"""Waiting for an eventually consistent world: poll a condition until it holds or time runs out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")  # a TypeVar, not PEP 695 syntax: the code runs on Python 3.11 too


def until(predicate: Callable[[], T], *, timeout: float, interval: float = 0.5) -> T:  # noqa: UP047
    """Call ``predicate`` until it returns something truthy, or ``timeout`` seconds pass; returns
    its last value either way, so the caller's assertion shows what was there in the end."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def until_gone(
    describe: Callable[[], object], missing: type[BaseException], *, what: str, timeout: float = 120, interval: float = 0.5
) -> None:
    """Call ``describe`` until it raises ``missing`` (the resource is gone, as a deletion that AWS
    finishes in the background ends); TimeoutError naming ``what`` if it is still there."""

    def gone() -> bool:
        try:
            describe()
        except missing:
            return True
        return False

    if not until(gone, timeout=timeout, interval=interval):
        raise TimeoutError(f"{what} still exists {timeout:.0f} s after its deletion")
