"""The embedded LocalStack, for real: reuse, the CLI, and a stop that leaves no process behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from eventlab.run import Run
from eventlab.runtime import EmbeddedLocalStack
from eventlab.services import kinesis
from eventlab.target import Target

pytestmark = pytest.mark.integration


def _eventlab(*args: str, build: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if build is not None:
        env["EVENTLAB_BUILD_DIR"] = str(build)
    return subprocess.run(
        [sys.executable, "-m", "eventlab.cli", *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_a_second_start_reuses_the_running_instance(localstack: EmbeddedLocalStack) -> None:
    with EmbeddedLocalStack() as again:
        assert again.endpoint_url == localstack.endpoint_url
        assert not again.owned
    assert localstack.health() is not None, "leaving the reuser's block did not stop it"


def test_status_prints_the_endpoint_of_the_running_instance(localstack: EmbeddedLocalStack) -> None:
    result = _eventlab("status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == localstack.endpoint_url


def test_up_status_down_from_the_command_line(tmp_path: Path) -> None:
    assert _eventlab("status", build=tmp_path).returncode == 1
    up = _eventlab("up", build=tmp_path)
    assert up.returncode == 0, up.stderr
    status = _eventlab("status", build=tmp_path)
    assert status.returncode == 0 and status.stdout.startswith("http://127.0.0.1:")
    pid = int((tmp_path / "localstack" / "instance.json").read_text().split('"pid": ')[1].split(",")[0])
    assert _eventlab("down", build=tmp_path).returncode == 0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert _eventlab("status", build=tmp_path).returncode == 1


def test_stop_ends_every_child_kinesis_mock_included(tmp_path: Path) -> None:
    with EmbeddedLocalStack(state_dir=tmp_path / "ls") as runtime:
        with Run(Target.localstack(runtime.endpoint_url)) as run:
            kinesis.create_stream(run, "wakes-kinesis-mock")
            family = psutil.Process(runtime.record.pid).children(recursive=True)
            marker = str(runtime.filesystem_root)
            others = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or ())]
            assert any("kinesis" in " ".join(p.cmdline()) for p in others), "kinesis-mock was started"
        family = [*family, *others]
    alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"left running: {[p.cmdline() for p in alive]}"
