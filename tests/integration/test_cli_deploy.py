"""`eventlab deploy notification-system`, the article's `aws sns publish`, `eventlab destroy`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from eventlab.leaks import find_leaks
from eventlab.runtime import EmulatorProcess
from eventlab.services import recorded
from eventlab.target import Target

pytestmark = pytest.mark.integration
ARTICLE_MESSAGE = '{"EventSource": "UserService", "Message": "Database connection failed. User registration impacted."}'


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)


def test_deploy_publish_destroy(emulator: EmulatorProcess, tmp_path: Path) -> None:
    admin = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    env = {**os.environ, "EVENTLAB_ENDPOINT_URL": emulator.endpoint_url, "EVENTLAB_BUILD_DIR": str(tmp_path)}
    eventlab = [sys.executable, "-m", "eventlab.cli"]

    deployed = _run([*eventlab, "deploy", "notification-system", "--admin-email", admin], env)
    assert deployed.returncode == 0, deployed.stderr
    outputs = json.loads(deployed.stdout)
    assert {"topic_arn", "queue_url", "function_name"} <= outputs.keys()

    again = _run([*eventlab, "deploy", "notification-system"], env)
    assert again.returncode != 0 and "already deployed" in again.stderr

    aws = str(Path(sys.executable).parent / "aws")
    published = _run(
        [aws, "--endpoint-url", emulator.endpoint_url, "--region", "us-east-1", "sns", "publish",
         "--topic-arn", outputs["topic_arn"], "--subject", "Critical Application Error", "--message", ARTICLE_MESSAGE],
        {**env, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"},
    )
    assert published.returncode == 0, published.stderr
    target = Target.emulator(emulator.endpoint_url, backend=emulator.backend.key)
    deadline = time.monotonic() + 60
    while not recorded.sent_emails(target, to=admin) and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(2)  # a second email, if one were coming, would arrive now
    (email,) = recorded.sent_emails(target, to=admin)
    assert email.subject.endswith("Critical Application Error")
    assert "Database connection failed" in email.text

    destroyed = _run([*eventlab, "destroy", "notification-system"], env)
    assert destroyed.returncode == 0, destroyed.stderr
    assert find_leaks(target, f"el-{outputs['run_id']}") == []
    assert _run([*eventlab, "destroy", "notification-system"], env).returncode == 1
