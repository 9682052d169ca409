"""The handler-process runtime on its own: it must end when its parent (LocalStack) dies."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from eventlab_localstack.lambda_executor import bootstrap_path

LAUNCHER = """
import os, subprocess, sys, time
env = dict(os.environ, EVENTLAB_PARENT_PID=str(os.getpid()))
child = subprocess.Popen([sys.executable, "-P", sys.argv[1]], env=env, cwd=sys.argv[2],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(2)
print(child.pid, "alive" if child.poll() is None else f"exited {child.returncode}", flush=True)
"""


def test_a_handler_process_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("def handler(event, context):\n    return 1\n")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "LOCALSTACK_RUNTIME_ENDPOINT": "http://127.0.0.1:9/_localstack_lambda/x",  # nobody listens
        "LOCALSTACK_RUNTIME_ID": "x",
        "_HANDLER": "main.handler",
        "LAMBDA_TASK_ROOT": str(tmp_path),
    }
    # The launcher stands in for LocalStack: it starts the runtime, checks that it runs, and
    # exits without stopping it, as a LocalStack killed by SIGKILL would.
    out = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(bootstrap_path()), str(tmp_path)],
        env=env, capture_output=True, text=True, check=True, timeout=30,
    ).stdout
    pid_text, state = out.split(maxsplit=1)
    pid = int(pid_text)
    assert state.strip() == "alive", f"the runtime did not keep running under its parent: {state}"
    deadline = time.monotonic() + 20
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    if alive:
        psutil.Process(pid).kill()
    assert not alive, "the handler process outlived its parent"
