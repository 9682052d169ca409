"""The embedded MiniStack, for real: a state folder of its own, loopback only, reuse, the CLI, a
port in use, and a stop that ends every child (a Lambda worker busy in a handler included) and
removes its temp folder. MiniStack starts in about a second, so each test starts its own."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from lambda_helpers import probe

from eventlab import processes
from eventlab.run import Run
from eventlab.runtime import EmbeddedMiniStack, PortInUseError, ministack
from eventlab.target import Target

pytestmark = pytest.mark.integration


def _eventlab(*args: str, build: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EVENTLAB_BUILD_DIR": str(build)}
    env.pop("EVENTLAB_BACKEND", None)
    return subprocess.run([sys.executable, "-m", "eventlab.cli", *args], env=env, capture_output=True, text=True, timeout=180)


def test_up_status_down_with_the_ministack_backend(tmp_path: Path) -> None:
    up = _eventlab("up", "--backend", "ministack", build=tmp_path)
    assert up.returncode == 0, up.stderr
    assert up.stdout.startswith("MiniStack 1.5") and "EVENTLAB_BACKEND=ministack" in up.stdout, up.stdout
    try:
        status = _eventlab("status", "--backend", "ministack", build=tmp_path)
        assert status.returncode == 0 and status.stdout.startswith("http://127.0.0.1:"), status.stderr
        assert "MiniStack 1.5" in status.stderr and "(backend ministack)" in status.stderr, status.stderr
        assert "listening on loopback only" in status.stderr
        record = json.loads((tmp_path / "ministack" / "instance.json").read_text())
        assert record["version"].startswith("1.5"), "the version the running MiniStack reports"
        assert _eventlab("status", build=tmp_path).returncode == 1, "LocalStack, the default, is not running"
    finally:
        down = _eventlab("down", "--backend", "ministack", build=tmp_path)
    assert down.returncode == 0 and "MiniStack stopped" in down.stdout, down.stdout
    assert not psutil.pid_exists(record["pid"]) or psutil.Process(record["pid"]).status() == psutil.STATUS_ZOMBIE


def test_every_socket_is_on_loopback_and_a_stop_ends_a_busy_lambda_worker(tmp_path: Path) -> None:
    state = tmp_path / "ms"
    with EmbeddedMiniStack(state_dir=state) as runtime:
        with EmbeddedMiniStack(state_dir=state) as again:
            assert again.endpoint_url == runtime.endpoint_url and not again.owned
        target = Target.emulator(runtime.endpoint_url, backend="ministack")
        assert target.emulator_version() == runtime.record.version
        run = Run(target)
        function, _ = probe(run, "busy")
        target.client("lambda").invoke(FunctionName=function.name, InvocationType="Event", Payload=json.dumps({"sleep": 120}))
        deadline = time.monotonic() + 60
        workers: list[psutil.Process] = []
        while not workers and time.monotonic() < deadline:
            workers = [p for p in runtime.processes() if p.pid != runtime.record.pid]
            time.sleep(0.2)
        assert workers, "the handler's worker process started"
        sockets = runtime.check_listeners()
        assert [s for s in sockets if not s.loopback] == [] and any(s.port == runtime.port for s in sockets)
        assert ministack.temp_dir(state).exists()
        run.resources.clear()  # the emulator and all in it go with the stop below
    alive = [p for p in workers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"left running: {[p.cmdline() for p in alive]}"
    assert processes.marked(str(state.resolve())) == []
    assert not ministack.temp_dir(state).exists(), "its temp folder (worker folders, pid file) is removed"


def test_a_port_in_use_is_refused_with_its_holder(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} is in use"):
            EmbeddedMiniStack(port=port, state_dir=tmp_path / "ms").start()
    assert not (tmp_path / "ms" / "instance.json").exists()
