"""The embedded LocalStack's failure modes: each gives a clear error, the fix, and the log tail;
and what keeps it safe: loopback only, a record that names its process, honest port errors."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from eventlab import processes
from eventlab.processes import MARKER_ENV
from eventlab.runtime import (
    EmbeddedLocalStack,
    EmulatorStoppedError,
    ExposedEmulatorError,
    InstanceRecord,
    InterpreterError,
    KinesisBackendError,
    LocalStackStartError,
    LocalStackTimeoutError,
    PortInUseError,
    localstack,
    ports,
)
from eventlab.target import Target
from eventlab_localstack.loopback import node_preload_path

ROOT = Path(__file__).resolve().parents[2]


def _children_of_this_test() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_a_port_in_use_names_the_port_and_the_fix(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(PortInUseError) as caught:
            EmbeddedLocalStack(port=port, state_dir=tmp_path).start()
    message = str(caught.value)
    assert f"port {port}" in message and "--port" in message and "EVENTLAB_PORT" in message
    assert not (tmp_path / "instance.json").exists()


def test_a_crash_at_start_reports_the_exit_and_the_log_tail(tmp_path: Path) -> None:
    before = _children_of_this_test()
    broken = {"GATEWAY_LISTEN": "127.0.0.1:notaport"}
    with pytest.raises(LocalStackStartError) as caught:
        EmbeddedLocalStack(state_dir=tmp_path, extra_env=broken).start()
    message = str(caught.value)
    assert "exited with code" in message
    assert "specified port notaport not a number" in message, "the log tail is in the error"
    assert _children_of_this_test() <= before, "nothing half-started is left running"


def test_a_start_that_times_out_is_stopped_and_explained(tmp_path: Path) -> None:
    before = _children_of_this_test()
    with pytest.raises(LocalStackTimeoutError) as caught:
        EmbeddedLocalStack(state_dir=tmp_path, start_timeout=0.3).start()
    message = str(caught.value)
    assert "did not become healthy within" in message and "--timeout" in message
    assert "localstack.log" in message
    assert _children_of_this_test() <= before, "the slow LocalStack was stopped"
    assert not (tmp_path / "instance.json").exists()


def _hide_python_313(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """A machine without Python 3.13, as the finder sees it (system Pythons only, empty pyenv)."""
    for name, value in {"PATH": "/usr/bin:/bin", "HOME": str(home), "PYENV_ROOT": str(home / "pyenv")}.items():
        monkeypatch.setenv(name, value)
    for name in ("EVENTLAB_PYTHON", "EVENTLAB_LOCALSTACK_PYTHON", "CONDA_PREFIX"):
        monkeypatch.delenv(name, raising=False)


def test_a_missing_localstack_environment_names_the_setup_and_ministack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(localstack.ENVIRONMENT_VARIABLE, str(tmp_path / "venv"))
    with pytest.raises(InterpreterError) as caught:
        EmbeddedLocalStack(state_dir=tmp_path / "state").start()
    message = str(caught.value)
    assert "make setup-localstack" in message and "ministack" in message
    assert localstack.localstack_version() == "not installed"
    assert not (tmp_path / "state" / "instance.json").exists()


def test_a_half_built_localstack_environment_is_not_taken_for_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)  # no stamp: the build did not finish
    monkeypatch.setenv(localstack.ENVIRONMENT_VARIABLE, str(venv))
    with pytest.raises(InterpreterError, match="not built"):
        localstack.check_environment()
    (venv / ".installed").touch()
    with pytest.raises(InterpreterError) as caught:
        localstack.check_environment()
    if sys.version_info[:2] != (3, 13):
        assert "needs 3.13" in str(caught.value)
    assert f"rm -rf {venv} && make setup-localstack" in str(caught.value)


def test_without_python_313_the_error_names_both_ways_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_python_313(monkeypatch, tmp_path)
    monkeypatch.setenv(localstack.ENVIRONMENT_VARIABLE, str(tmp_path / "venv"))
    with pytest.raises(InterpreterError) as caught:
        localstack.check_environment()
    message = str(caught.value)
    assert "needs Python 3.13" in message and "pyenv install 3.13" in message
    assert "BACKEND=ministack" in message and "EVENTLAB_LOCALSTACK_PYTHON" in message


def test_the_workbook_loads_no_localstack_code() -> None:
    """Everything of eventlab imports in .venv without LocalStack or its plugin, and .venv has neither."""
    import pkgutil

    import eventlab

    names = [m.name for m in pkgutil.walk_packages(eventlab.__path__, "eventlab.")]
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('localstack', 'eventlab_localstack')))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT / "lib")
    assert out.stdout.strip() == "[]"
    import importlib.metadata

    for distribution in ("localstack-core", "eventlab-localstack"):
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.version(distribution)


def test_a_stale_record_is_not_reused(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    InstanceRecord(
        pid=dead.pid, create_time=0, cmdline=["python"], port=1, endpoint_url="http://127.0.0.1:1",
        log_path="", started_at=0, version="x", state="running", startup_seconds=0,
    ).save(tmp_path / "instance.json")
    assert EmbeddedLocalStack(state_dir=tmp_path).running() is None


def test_stop_does_not_touch_an_instance_it_did_not_start(tmp_path: Path) -> None:
    assert EmbeddedLocalStack(state_dir=tmp_path).stop() is False


def _find_python(purpose: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(ROOT / "scripts" / "find-python"), purpose], env=env, capture_output=True, text=True)


def test_find_python_explains_how_to_get_python_313_when_there_is_none(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "pyenv")}
    result = _find_python("localstack", env)
    assert result.returncode == 1
    assert "Python 3.13" in result.stderr
    assert "pyenv install 3.13" in result.stderr and "environment.yml" in result.stderr
    assert "BACKEND=ministack" in result.stderr, "the other way on: MiniStack needs no 3.13"


def test_find_python_rejects_a_wrong_explicit_interpreter(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "EVENTLAB_PYTHON": "/bin/true"}
    result = _find_python("workbook", env)
    assert result.returncode == 1 and "EVENTLAB_PYTHON" in result.stderr
    if sys.version_info[:2] != (3, 13):
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "EVENTLAB_LOCALSTACK_PYTHON": sys.executable}
        result = _find_python("localstack", env)
        assert result.returncode == 1 and "must be a Python 3.13" in result.stderr


def test_find_python_finds_this_interpreter_for_the_workbook() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "EVENTLAB_PYTHON": sys.executable}
    result = _find_python("workbook", env)
    assert result.returncode == 0 and result.stdout.strip() == sys.executable


# -- loopback: the verifier ----------------------------------------------------------------

LISTEN_SCRIPT = """
import socket, sys, time
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
kind = socket.SOCK_DGRAM if sys.argv[2] == "udp" else socket.SOCK_STREAM
sock = socket.socket(family, kind)
sock.bind((sys.argv[1], 0))
if kind == socket.SOCK_STREAM:
    sock.listen()
print(sock.getsockname()[1], flush=True)
time.sleep(300)
"""


@contextlib.contextmanager
def marked_listener(state_dir: Path, host: str, protocol: str = "tcp") -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A process that passes for one of the emulator's (it carries the marker) and listens."""
    env = {**os.environ, MARKER_ENV: str(state_dir.resolve())}
    child = subprocess.Popen(
        [sys.executable, "-c", LISTEN_SCRIPT, host, protocol], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        yield child, int(child.stdout.readline())
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize(("host", "protocol"), [("0.0.0.0", "tcp"), ("::", "tcp"), ("0.0.0.0", "udp")])
def test_the_verifier_refuses_a_socket_other_machines_can_reach(tmp_path: Path, host: str, protocol: str) -> None:
    with marked_listener(tmp_path, host, protocol) as (child, port):
        with pytest.raises(ExposedEmulatorError) as caught:
            EmbeddedLocalStack(state_dir=tmp_path).check_listeners()
    message = str(caught.value)
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    assert f"{protocol} {shown} of pid {child.pid}" in message, "it names the socket and the process"
    assert "refuses to go on" in message and "eventlab down" in message
    assert [(item.pid, item.port) for item in caught.value.listeners] == [(child.pid, port)]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_the_verifier_accepts_loopback_sockets(tmp_path: Path, host: str) -> None:
    with marked_listener(tmp_path, host) as (child, port):
        found = EmbeddedLocalStack(state_dir=tmp_path).check_listeners()
    assert [(item.pid, item.port, item.address) for item in found] == [(child.pid, port, host)]


def test_what_counts_as_loopback() -> None:
    assert all(map(processes.is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]))
    assert not any(map(processes.is_loopback, ["0.0.0.0", "::", "192.0.2.2", "fd00::2", "", "localhost"]))


def test_localstack_is_told_to_keep_quiet_and_on_loopback(tmp_path: Path) -> None:
    settings = EmbeddedLocalStack(state_dir=tmp_path)._settings(4566)
    assert settings["GATEWAY_LISTEN"] == "127.0.0.1:4566"
    assert settings["GATEWAY_SERVER"] == "eventlab-loopback", "the gateway that honours the host"
    assert settings[MARKER_ENV] == str(tmp_path.resolve())
    # Idle must mean idle, and memory flat: no per-message CloudWatch metrics, no periodic
    # dump of kinesis-mock's whole state to disk.
    assert settings["SQS_DISABLE_CLOUDWATCH_METRICS"] == "1"
    assert settings["KINESIS_PERSISTENCE"] == "0"
    # ... and a kinesis-mock that holds no stream stops after the idle window.
    assert settings[localstack.KINESIS_IDLE_SETTING] == str(localstack.KINESIS_IDLE_STOP_S) != "0"


def test_the_loopback_plugins_are_registered_and_the_preload_ships() -> None:
    assert localstack.missing_plugins() == []
    assert node_preload_path().is_file()


# -- the record names its process: a stale pid is never signalled --------------------------

def _record(pid: int, **changes: object) -> InstanceRecord:
    identity = processes.ProcessIdentity.of(pid)
    assert identity is not None
    fields: dict[str, object] = {
        "pid": pid, "create_time": identity.create_time, "cmdline": list(identity.cmdline), "port": 1,
        "endpoint_url": "http://127.0.0.1:1", "log_path": "", "started_at": 0.0, "version": "x",
        "state": "running", "startup_seconds": 1.0,
    }
    fields.update(changes)
    return InstanceRecord(**fields)  # type: ignore[arg-type]


def _stale_record_file(path: Path, pid: int, how: str) -> None:
    if how == "older format":
        path.write_text(json.dumps({"pid": pid, "port": 1, "endpoint_url": "http://127.0.0.1:1",
                                    "log_path": "", "started_at": 0, "startup_seconds": 1, "version": "x"}))
        return
    changes: dict[str, object] = {"create_time": time.time() - 86_400} if how == "start time differs" else {
        "cmdline": [sys.executable, "-m", "localstack.runtime.main"]}
    _record(pid, **changes).save(path)


def _clock_stepped(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """What the OS reports after the wall clock was stepped (NTP, a resumed virtual machine):
    its boot time, and so every process's wall-clock start, moved by ``seconds``."""
    boot_time, create_time = psutil.boot_time, psutil.Process.create_time
    monkeypatch.setattr(psutil, "boot_time", lambda: boot_time() + seconds)
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: create_time(self) + seconds)


@pytest.mark.parametrize("step", [1.0, -1.0, 3_600.0])
def test_a_process_is_still_itself_after_the_clock_is_stepped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: float
) -> None:
    """A test session's emulator must not look gone (and be started again beside itself) because
    the machine's clock moved while it ran."""
    identity = processes.ProcessIdentity.of(os.getpid())
    assert identity is not None and identity.boot_time is not None
    record = _record(os.getpid(), boot_time=identity.boot_time)
    path = tmp_path / "instance.json"
    record.save(path)
    _clock_stepped(monkeypatch, step)
    assert identity.alive()
    assert processes.ProcessIdentity.from_json(identity.to_json()) == identity
    loaded = InstanceRecord.load(path)
    assert loaded is not None and loaded.identity.alive()


def test_another_start_since_boot_is_another_process(monkeypatch: pytest.MonkeyPatch) -> None:
    identity = processes.ProcessIdentity.of(os.getpid())
    assert identity is not None and identity.boot_time is not None
    later = processes.ProcessIdentity(identity.pid, identity.create_time + 5, identity.cmdline, identity.boot_time)
    assert identity.alive() and not later.alive()
    _clock_stepped(monkeypatch, 5.0)  # the wall-clock start now equals later's, the start since boot does not
    assert identity.alive() and not later.alive()


@pytest.mark.parametrize("how", ["start time differs", "command line differs", "older format"])
def test_down_leaves_an_unrelated_process_with_the_recorded_pid_alone(tmp_path: Path, how: str) -> None:
    """After a crash or a reboot the recorded pid may belong to anything: here, a `sleep`."""
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        state = tmp_path / "build" / "localstack"
        state.mkdir(parents=True)
        _stale_record_file(state / "instance.json", bystander.pid, how)
        env = {**os.environ, "EVENTLAB_BUILD_DIR": str(tmp_path / "build")}
        status = subprocess.run([sys.executable, "-m", "eventlab.cli", "status"], env=env, capture_output=True, text=True, timeout=60)
        down = subprocess.run([sys.executable, "-m", "eventlab.cli", "down"], env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode == 1 and "not running" in status.stderr
        assert down.returncode == 0 and "was not running" in down.stdout, down.stderr
        assert bystander.poll() is None, "down signalled a process that is not LocalStack"
        assert EmbeddedLocalStack(state_dir=state).recorded() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_strays_are_known_by_their_marker_not_by_a_path_in_their_command_line(tmp_path: Path) -> None:
    state = tmp_path / "ls"
    sleep = "import time; time.sleep(300)"
    bystander = subprocess.Popen([sys.executable, "-c", sleep, str(state / "fs" / "tail-this.log")])
    stray = subprocess.Popen([sys.executable, "-c", sleep], env={**os.environ, MARKER_ENV: str(state.resolve())})
    try:
        assert EmbeddedLocalStack(state_dir=state).stop(force=True) is True
        assert stray.wait(timeout=20) is not None, "an orphan of the instance is stopped"
        assert bystander.poll() is None, "a process that only names the folder is left alone"
    finally:
        for proc in (bystander, stray):
            proc.kill()
            proc.wait()


def test_a_record_of_a_live_instance_is_recognised(tmp_path: Path) -> None:
    me = _record(os.getpid())
    me.save(tmp_path / "instance.json")
    assert EmbeddedLocalStack(state_dir=tmp_path).recorded() == me


# -- ports: say what is really wrong, before starting --------------------------------------

def _lan_address() -> str | None:
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return str(address.address)
    return None


@pytest.mark.parametrize("where", ["0.0.0.0", "lan"])
def test_a_port_held_on_another_address_is_reported_before_starting(tmp_path: Path, where: str) -> None:
    host = _lan_address() if where == "lan" else where
    if host is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with socket.socket() as squatter:
        squatter.bind((host, 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(PortInUseError) as caught:
            EmbeddedLocalStack(port=port, state_dir=tmp_path).start()
    message = str(caught.value)
    assert f"{host}:{port} by pid {os.getpid()}" in message, "names the address and the holder"
    assert "--port" in message
    assert not (tmp_path / "localstack.log").exists(), "refused before anything was started"


def test_a_privileged_port_is_not_reported_in_use() -> None:
    start = ports.unprivileged_port_start()
    if start <= 1:
        pytest.skip("every port is unprivileged on this machine")
    port = start - 1
    code = f"from eventlab.runtime import check_port\ncheck_port({port})"
    command = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root, and no setpriv to drop the privilege")
        command = ["setpriv", "--bounding-set=-net_bind_service", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "PortNotPermittedError" in result.stderr and "EACCES" in result.stderr
    assert f"port {port} is a privileged port" in result.stderr and "not in use" in result.stderr


def test_a_restart_takes_the_last_port_again_when_it_is_free(tmp_path: Path) -> None:
    port = ports.free_port()
    (tmp_path / "last-port").write_text(f"{port}\n")
    assert EmbeddedLocalStack(state_dir=tmp_path)._choose_port() == port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        assert EmbeddedLocalStack(state_dir=tmp_path)._choose_port() != port, "taken: another one"


# -- Node.js -------------------------------------------------------------------------------

def _fake_tool(folder: Path, name: str, output: str = "") -> None:
    tool = folder / name
    tool.write_text(f"#!/bin/sh\necho {output}\n")
    tool.chmod(0o755)


def test_missing_node_and_npm_are_named_with_the_fix(tmp_path: Path) -> None:
    problem = localstack.node_problem(str(tmp_path))
    assert problem is not None and "Node.js (node) and npm not found on PATH" in problem
    assert "Kinesis" in problem and "eventlab down && eventlab up" in problem
    _fake_tool(tmp_path, "node", "v20.1.0")
    problem = localstack.node_problem(str(tmp_path))
    assert problem is not None and problem.startswith("npm not found")
    _fake_tool(tmp_path, "npm")
    assert localstack.node_problem(str(tmp_path)) is None
    _fake_tool(tmp_path, "node", "v16.20.0")
    assert "Node.js 16" in (localstack.node_problem(str(tmp_path)) or "")


KINESIS_NO_NODE = {
    "__type": "InternalError",
    "message": "exception while calling kinesis.CreateStream: Installation of kinesis-local 0.5.2 failed.",
}


@contextlib.contextmanager
def fake_emulator(status: int, body: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that answers every request the same way, and counts them."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.path)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_kinesis_without_node_names_node_and_npm_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLAB_BUILD_DIR", str(tmp_path))
    with fake_emulator(500, KINESIS_NO_NODE) as (endpoint, seen):
        state = tmp_path / "localstack"
        state.mkdir()
        _record(os.getpid(), endpoint_url=endpoint, tools={"node": None, "npm": "/usr/bin/npm"}, log_path=str(state / "localstack.log")).save(state / "instance.json")
        client = Target.localstack(endpoint).client("kinesis")
        with pytest.raises(KinesisBackendError) as caught:
            client.create_stream(StreamName="s", ShardCount=1)
    message = str(caught.value)
    assert "Node.js (node) was not on the PATH LocalStack was started with" in message
    assert "npm" in message and "eventlab down && eventlab up" in message
    assert "Installation of kinesis-local 0.5.2 failed" in message, "LocalStack's own words are kept"
    assert len(seen) == 1, "not retried five times first"


def test_other_emulator_errors_are_left_as_they_are() -> None:
    missing = {"__type": "ResourceNotFoundException", "message": "Stream s under account 000000000000 not found."}
    with fake_emulator(400, missing) as (endpoint, _):
        with pytest.raises(ClientError) as caught:
            Target.localstack(endpoint).client("kinesis").describe_stream(StreamName="s")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


# -- an emulator that stopped ----------------------------------------------------------------

def test_a_call_to_a_stopped_emulator_says_so_and_how_to_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLAB_BUILD_DIR", str(tmp_path))
    state = tmp_path / "localstack"
    state.mkdir()
    port = ports.free_port()
    endpoint = f"http://127.0.0.1:{port}"
    (state / "localstack.log").write_text("...\nERROR the last thing LocalStack said\n")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    InstanceRecord(
        pid=dead.pid, create_time=time.time() - 60, cmdline=[sys.executable, "-m", "localstack.runtime.main"],
        port=port, endpoint_url=endpoint, log_path=str(state / "localstack.log"), started_at=0.0,
        version="x", state="running",
    ).save(state / "instance.json")
    with pytest.raises(EmulatorStoppedError) as caught:
        Target.localstack(endpoint).client("sqs").list_queues()
    message = str(caught.value)
    assert f"the embedded LocalStack at {endpoint} has stopped" in message
    assert "eventlab up" in message and f"port {port}" in message
    assert "the last thing LocalStack said" in message, "the log tail is in the error"
    assert isinstance(caught.value.__cause__, EndpointConnectionError)


def test_nothing_at_an_unknown_endpoint_is_explained_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLAB_BUILD_DIR", str(tmp_path))
    endpoint = f"http://127.0.0.1:{ports.free_port()}"
    target = Target.localstack(endpoint)
    target.client_config = target.client_config.merge(Config(retries={"mode": "standard", "max_attempts": 1}))
    with pytest.raises(EmulatorStoppedError, match=f"nothing answers at {endpoint}.*eventlab up"):
        target.client("sqs").list_queues()


def test_a_long_command_line_keeps_its_program_and_its_script() -> None:
    cmdline = ["/a/long/path/to/.venv/bin/python", "-P", "/" + "x" * 200 + "/lambda_executor/bootstrap.py"]
    shown = processes.command_line(cmdline)
    assert len(shown) <= processes.COMMAND_WIDTH and "..." in shown
    assert shown.startswith("/a/long/path/to/.venv/bin/python -P") and shown.endswith("bootstrap.py")
    assert processes.command_line(["sleep", "300"]) == "sleep 300"
