"""The integration tests' session: under pytest-xdist, one emulator for all workers."""

from __future__ import annotations

import pytest

from eventlab.testing import share_emulator


def pytest_configure(config: pytest.Config) -> None:
    share_emulator(config)
