"""Interrupted runs and starts leave nothing behind: no resources, no processes.

`eventlab run` on a small notebook that creates a few resources and sleeps
(notebooks/sleeper.ipynb), stopped the ways CI and terminals stop things; and `eventlab up`
stopped while LocalStack is still starting.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from eventlab import processes
from eventlab.leaks import find_leaks
from eventlab.runtime import EmbeddedLocalStack
from eventlab.target import Target

pytestmark = [
    pytest.mark.integration,
    pytest.mark.backend("localstack", reason="the LocalStack runtime's own tests; MiniStack's are in test_runtime_ministack.py"),
]

SLEEPER = Path(__file__).parent / "notebooks" / "sleeper.ipynb"


def _wait_for(condition, timeout: float = 120.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _kernel_of(cli: subprocess.Popen[str]) -> psutil.Process:
    kernels = [p for p in psutil.Process(cli.pid).children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]
    assert len(kernels) == 1, kernels
    return kernels[0]


@pytest.mark.parametrize(
    ("signum", "whom", "exit_code"),
    [
        (signal.SIGTERM, "cli", 128 + signal.SIGTERM),  # a CI timeout
        (signal.SIGHUP, "cli", 128 + signal.SIGHUP),  # a closed terminal
        (signal.SIGTERM, "kernel", 1),  # the kernel alone: it cleans up, the notebook fails
        (signal.SIGKILL, "kernel", 1),  # no clean-up possible: the journal's reaper does it
    ],
    ids=["sigterm-cli", "sighup-cli", "sigterm-kernel", "sigkill-kernel"],
)
def test_an_interrupted_notebook_run_leaves_nothing(
    localstack: EmbeddedLocalStack, target: Target, tmp_path: Path, signum: int, whom: str, exit_code: int
) -> None:
    ready = tmp_path / "ready"
    cli = subprocess.Popen(
        [sys.executable, "-m", "eventlab.cli", "run", str(SLEEPER), "-o", str(tmp_path / "out"),
         "-p", f"ready_file={ready}", "-p", "queues=5"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        _wait_for(lambda: ready.exists() and ready.read_text() != "", what="the notebook's resources")
        prefix = ready.read_text()
        assert len(find_leaks(target, prefix)) == 6, "the run had built its resources"
        kernel = _kernel_of(cli)
        (cli if whom == "cli" else kernel).send_signal(signum)
        output, _ = cli.communicate(timeout=180)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == exit_code, output
    assert not kernel.is_running() or kernel.status() == psutil.STATUS_ZOMBIE, "the kernel is gone"
    assert find_leaks(target, prefix) == [], f"left behind by {prefix}:\n{output}"
    if whom == "cli":
        assert f"received {signal.Signals(signum).name}; cleaned up and stopped" in output
    else:
        assert "the kernel died" in output, output


def _state(build: Path) -> dict[str, object] | None:
    try:
        return json.loads((build / "localstack" / "instance.json").read_text())
    except (OSError, ValueError):
        return None


def _cli(build: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "EVENTLAB_BUILD_DIR": str(build)}
    return subprocess.Popen([sys.executable, "-m", "eventlab.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sigterm_during_up_stops_the_half_started_instance(tmp_path: Path) -> None:
    up = _cli(tmp_path, "up")
    try:
        _wait_for(lambda: (_state(tmp_path) or {}).get("state") == "starting", 60, "the starting record")
        status = _cli(tmp_path, "status")
        status_output, _ = status.communicate(timeout=60)
        assert status.returncode == 1 and "is starting" in status_output
        up.send_signal(signal.SIGTERM)
        output, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 128 + signal.SIGTERM, output
    assert _state(tmp_path) is None, "no record of an instance that is gone"
    assert processes.marked(str((tmp_path / "localstack").resolve())) == [], "nothing of it runs"


def test_a_start_whose_up_was_killed_is_waited_for_and_stopped_by_down(tmp_path: Path) -> None:
    up = _cli(tmp_path, "up")
    _wait_for(lambda: (_state(tmp_path) or {}).get("state") == "starting", 60, "the starting record")
    up.kill()  # SIGKILL: no handler runs, LocalStack (started detached) goes on starting
    up.wait()
    first = (_state(tmp_path) or {}).get("pid")
    try:
        again = _cli(tmp_path, "up")
        output, _ = again.communicate(timeout=180)
        assert again.returncode == 0, output
        assert "already running at" in output and f"(pid {first})" in output, "no second instance"
        assert [p.pid for p in EmbeddedLocalStack(state_dir=tmp_path / "localstack").processes()] == [first]
    finally:
        down = _cli(tmp_path, "down")
        down_output, _ = down.communicate(timeout=120)
    assert "LocalStack stopped" in down_output
    assert processes.marked(str((tmp_path / "localstack").resolve())) == []
