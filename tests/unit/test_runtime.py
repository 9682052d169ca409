"""The embedded LocalStack's failure modes: each gives a clear error, the fix, and the log tail."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from eventlab import runtime
from eventlab.runtime import (
    EmbeddedLocalStack,
    InstanceRecord,
    InterpreterError,
    LocalStackStartError,
    LocalStackTimeoutError,
    PortInUseError,
)

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


def test_an_old_interpreter_is_refused_with_instructions() -> None:
    with pytest.raises(InterpreterError) as caught:
        runtime.check_interpreter(version_info=(3, 11, 7))
    assert "Python 3.13" in str(caught.value) and "environment.yml" in str(caught.value)


def test_a_stale_record_is_not_reused(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    InstanceRecord(
        pid=dead.pid, port=1, endpoint_url="http://127.0.0.1:1", log_path="", started_at=0,
        startup_seconds=0, version="x",
    ).save(tmp_path / "instance.json")
    assert EmbeddedLocalStack(state_dir=tmp_path).running() is None


def test_stop_does_not_touch_an_instance_it_did_not_start(tmp_path: Path) -> None:
    assert EmbeddedLocalStack(state_dir=tmp_path).stop() is False


def test_find_python_explains_how_to_get_one_when_there_is_none(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "pyenv")}
    result = subprocess.run(
        ["sh", str(ROOT / "scripts" / "find-python")], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "Python 3.13" in result.stderr
    assert "pyenv install 3.13" in result.stderr and "environment.yml" in result.stderr


def test_find_python_rejects_a_wrong_explicit_interpreter(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "EVENTLAB_PYTHON": "/bin/true"}
    result = subprocess.run(
        ["sh", str(ROOT / "scripts" / "find-python")], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1 and "EVENTLAB_PYTHON" in result.stderr


def test_find_python_finds_this_interpreter() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "EVENTLAB_PYTHON": sys.executable}
    result = subprocess.run(
        ["sh", str(ROOT / "scripts" / "find-python")], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip() == sys.executable
