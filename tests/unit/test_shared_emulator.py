"""Under pytest-xdist the integration tests' workers share one emulator, started and stopped by
the controlling process (eventlab.testing.share_emulator)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from eventlab import testing


class FakeEmulator:
    started: ClassVar[list[FakeEmulator]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.events: list[str] = []

    def start(self) -> FakeEmulator:
        self.events.append("start")
        FakeEmulator.started.append(self)
        return self

    def stop(self) -> bool:
        self.events.append("stop")
        return True


def _config(**option: Any) -> Any:
    cleanups: list[Any] = []
    config = SimpleNamespace(option=SimpleNamespace(**option), add_cleanup=cleanups.append, cleanups=cleanups)
    return config


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeEmulator]:
    FakeEmulator.started = []
    monkeypatch.setattr(testing, "emulator_class", lambda backend: FakeEmulator)
    monkeypatch.setattr("eventlab.leaks.reap_orphaned_runs", lambda *a, **k: [])
    return FakeEmulator


def test_the_controller_of_workers_starts_one_emulator_and_stops_it_at_the_end(fake: type[FakeEmulator]) -> None:
    config = _config(numprocesses=2, dist="loadgroup")
    testing.share_emulator(config)
    [emulator] = fake.started
    assert emulator.events == ["start"] and len(config.cleanups) == 1
    config.cleanups[0]()
    assert emulator.events == ["start", "stop"]


@pytest.mark.parametrize("config", [
    _config(numprocesses=None, dist="no"),  # no xdist workers: the session fixture starts it
    _config(numprocesses=0, dist="no"),
    SimpleNamespace(option=SimpleNamespace(numprocesses=2, dist="loadgroup"), workerinput={}),  # a worker
], ids=["plain", "n0", "worker"])
def test_a_plain_session_or_a_worker_starts_none_here(fake: type[FakeEmulator], config: Any) -> None:
    testing.share_emulator(config)
    assert fake.started == []


def test_the_controller_starts_it_before_any_worker_and_stops_it_after_all(tmp_path: Path) -> None:
    """Real pytest-xdist, a fake backend: the controller's start comes before the workers' (which
    then find it running and reuse it, see EmulatorProcess.start), its stop after theirs."""
    (tmp_path / "conftest.py").write_text(textwrap.dedent('''
        import os, pytest
        from eventlab import testing

        LOG = os.path.join(os.path.dirname(__file__), "events.log")

        class Emulator:
            def __init__(self, **kwargs):
                pass
            def start(self):
                role = os.environ.get("PYTEST_XDIST_WORKER", "controller")
                with open(LOG, "a") as f:
                    f.write(f"start {role}\\n")
                return self
            def stop(self):
                role = os.environ.get("PYTEST_XDIST_WORKER", "controller")
                with open(LOG, "a") as f:
                    f.write(f"stop {role}\\n")

        testing.emulator_class = lambda backend: Emulator
        import eventlab.leaks
        eventlab.leaks.reap_orphaned_runs = lambda *a, **k: []

        def pytest_configure(config):
            testing.share_emulator(config)
    '''))
    (tmp_path / "test_x.py").write_text("def test_a(emulator):\n    pass\n\ndef test_b(emulator):\n    pass\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # also when this runs in a worker
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "load",
                           str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    events = (tmp_path / "events.log").read_text().split("\n")[:-1]
    assert events[0] == "start controller" and events[-1] == "stop controller", events
    assert events.count("start controller") == 1 and events.count("stop controller") == 1
    assert {"start gw0", "start gw1"} <= set(events[1:-1]), events
