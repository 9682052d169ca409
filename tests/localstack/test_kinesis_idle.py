"""Stopping an idle kinesis-mock that holds no stream (eventlab_localstack.kinesis_idle), against a
fake manager and fake servers: when it stops, when it must not, and that a request never meets a
half-stopped server."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from eventlab_localstack import kinesis_idle
from eventlab_localstack.kinesis_idle import IdleStopper


class FakeServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.stopped = False

    def shutdown(self) -> None:
        self.stopped = True


class FakeManager:
    """KinesisServerManager's shape: ``_lock``, ``_servers``, and a server started lazily per account."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._servers: dict[str, FakeServer] = {}
        self.started = 0

    def get_server_for_account(self, account_id: str) -> FakeServer:
        with self._lock:
            if account_id not in self._servers:
                self.started += 1
                self._servers[account_id] = FakeServer(4000 + self.started)
            return self._servers[account_id]


class FakeProvider:
    def __init__(self) -> None:
        self.server_manager = FakeManager()

    def get_forward_url(self, account_id: str, region_name: str) -> str:
        return f"http://127.0.0.1:{self.server_manager.get_server_for_account(account_id).port}"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stopper(streams: dict[tuple[str, str], int] | None = None, fail: bool = False) -> tuple[IdleStopper, FakeProvider, Clock, list[Any]]:
    provider, clock, asked = FakeProvider(), Clock(), []

    def holds(server: Any, account: str, region: str) -> bool:
        asked.append((server.port, account, region))
        if fail:
            raise ConnectionError("refused")
        return bool((streams or {}).get((account, region)))

    the_stopper = IdleStopper(provider.server_manager, holds_streams=holds, clock=clock)
    kinesis_idle._stoppers[provider.server_manager] = the_stopper
    return the_stopper, provider, clock, asked


def use(provider: FakeProvider, account: str = "000000000000", region: str = "us-east-1") -> str:
    return kinesis_idle.forward_url(FakeProvider.get_forward_url, provider, account, region)


def test_an_idle_server_with_no_stream_is_stopped_and_the_next_request_starts_a_new_one(caplog: pytest.LogCaptureFixture) -> None:
    the_stopper, provider, clock, asked = stopper()
    first = use(provider)
    server = provider.server_manager._servers["000000000000"]
    clock.now += 59
    assert the_stopper.sweep(60) == [] and not server.stopped, "not idle long enough"
    clock.now += 2
    with caplog.at_level("INFO", logger=kinesis_idle.__name__):
        assert the_stopper.sweep(60) == ["000000000000"]
    assert server.stopped and provider.server_manager._servers == {}
    assert asked == [(server.port, "000000000000", "us-east-1")], "asked the server itself, in the region it was used in"
    (line,) = [r.getMessage() for r in caplog.records]
    assert "000000000000 stopped" in line and "no request for 61 s" in line and "no stream" in line
    second = use(provider)
    assert second != first and provider.server_manager.started == 2


def test_a_request_resets_the_idle_clock() -> None:
    the_stopper, provider, clock, _ = stopper()
    use(provider)
    clock.now += 50
    use(provider)
    clock.now += 50
    assert the_stopper.sweep(60) == []
    assert the_stopper.idle_for() == {"000000000000": 50}


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_a_server_with_a_stream_in_any_region_it_served_is_kept(region: str) -> None:
    the_stopper, provider, clock, asked = stopper(streams={("000000000000", region): 1})
    use(provider, region="us-east-1")
    use(provider, region="eu-west-1")
    clock.now += 3600
    assert the_stopper.sweep(60) == []
    assert not provider.server_manager._servers["000000000000"].stopped
    assert {r for _, _, r in asked} <= {"us-east-1", "eu-west-1"} and asked


def test_a_server_that_does_not_answer_the_check_is_kept() -> None:
    the_stopper, provider, clock, _ = stopper(fail=True)
    use(provider)
    clock.now += 3600
    assert the_stopper.sweep(60) == []
    assert "000000000000" in provider.server_manager._servers


def test_a_window_of_zero_never_stops_and_only_the_idle_account_stops() -> None:
    the_stopper, provider, clock, _ = stopper()
    use(provider, account="111111111111")
    clock.now += 100
    use(provider, account="222222222222")
    assert the_stopper.sweep(0) == []
    assert the_stopper.sweep(60, accounts=["222222222222"]) == [], "the other account was asked for"
    assert the_stopper.sweep(60) == ["111111111111"]
    assert list(provider.server_manager._servers) == ["222222222222"]


def test_a_request_during_the_check_waits_for_the_stop_and_gets_a_new_server() -> None:
    """The stopper holds the manager's lock from the check to the pop: a request that arrives
    meanwhile is served after it, by a fresh server, never by the one being stopped."""
    provider, clock = FakeProvider(), Clock()
    checking, release = threading.Event(), threading.Event()

    def holds(server: Any, account: str, region: str) -> bool:
        checking.set()
        release.wait(5)
        return False

    the_stopper = IdleStopper(provider.server_manager, holds_streams=holds, clock=clock)
    kinesis_idle._stoppers[provider.server_manager] = the_stopper
    use(provider)
    old = provider.server_manager._servers["000000000000"]
    clock.now += 61
    sweeper = threading.Thread(target=the_stopper.sweep, args=(60,))
    sweeper.start()
    assert checking.wait(5)
    got: list[str] = []
    request = threading.Thread(target=lambda: got.append(use(provider)))
    request.start()
    time.sleep(0.2)
    assert got == [], "the request waited for the stopper"
    release.set()
    sweeper.join(5)
    request.join(5)
    assert old.stopped and got == [f"http://127.0.0.1:{provider.server_manager._servers['000000000000'].port}"]
    assert provider.server_manager.started == 2


@pytest.mark.parametrize(("value", "expected"), [(None, 0.0), ("", 0.0), ("0", 0.0), ("60", 60.0), ("2.5", 2.5)])
def test_the_setting_gives_the_window(value: str | None, expected: float) -> None:
    assert kinesis_idle.idle_window(value) == expected


@pytest.mark.parametrize("value", ["soon", "-1"])
def test_a_bad_setting_is_refused_with_what_to_give(value: str) -> None:
    with pytest.raises(ValueError, match=kinesis_idle.SETTING):
        kinesis_idle.idle_window(value)


def test_the_hook_stamps_every_forward_url_of_the_kinesis_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """The start hook patches LocalStack's KinesisProvider.get_forward_url to stamp each use."""
    from localstack.services.kinesis.provider import KinesisProvider

    monkeypatch.delenv(kinesis_idle.SETTING, raising=False)
    original = KinesisProvider.get_forward_url
    assert kinesis_idle.install() == 0.0, "no window unless the workbook gives one"
    try:
        provider = KinesisProvider.__new__(KinesisProvider)
        provider.server_manager = FakeManager()  # type: ignore[assignment]
        assert provider.get_forward_url("000000000000", "us-east-1").endswith(":4001")
        the_stopper = kinesis_idle.stopper_for(provider.server_manager)
        assert the_stopper.last_use.keys() == {"000000000000"} and the_stopper.regions == {"000000000000": {"us-east-1"}}
    finally:
        kinesis_idle.installed.pop().undo()
    assert KinesisProvider.get_forward_url is original


def test_a_stopped_server_is_reaped_and_its_thread_forgotten() -> None:
    """LocalStack's ShellCommandThread.stop drops the killed process unwaited: the stop waits for it."""
    import subprocess
    import sys

    from localstack.utils.common import TMP_THREADS

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    class Thread:
        process = child

    class Server(FakeServer):
        def shutdown(self) -> None:
            child.kill()
            self.stopped = True

    server = Server(1)
    server._thread = Thread()  # type: ignore[attr-defined]
    TMP_THREADS.append(server._thread)  # type: ignore[attr-defined]
    kinesis_idle._shutdown(server)
    assert server.stopped and child.returncode is not None, "reaped"
    assert server._thread not in TMP_THREADS  # type: ignore[attr-defined]
