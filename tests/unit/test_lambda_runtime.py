"""The shared Lambda runtime on its own (no emulator): an execution environment behaves as AWS's
Python runtime does, for what a handler can import, its environment, its logs and its limits.

Both backends run handlers through :class:`ExecutionEnvironment`, so what holds here holds on
LocalStack and on MiniStack; the integration tests check each backend's bridge.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import eventlab_lambda_runtime
from eventlab.runtime import interpreters, lambda_runtimes
from eventlab_lambda_runtime.environment import (
    ExecutionEnvironment,
    RuntimeChoice,
    choose_runtime,
    handler_environment,
)

HANDLER = '''
import logging, os, sys
logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
print("cold: module imported")

def handler(event, context):
    print("print line")
    logger.info("info line")
    logger.debug("debug line")
    if event.get("import"):
        __import__(event["import"])
    if event.get("big"):
        return "A" * event["big"]
    if event.get("fail"):
        raise ValueError("asked to fail")
    if event.get("sleep"):
        import time
        time.sleep(event["sleep"])
    return {"pid": os.getpid(), "version": list(sys.version_info[:2]), "env": dict(os.environ),
            "path": sys.path}
'''


@pytest.fixture(scope="module")
def runtimes() -> dict[str, dict[str, str | None]]:
    return lambda_runtimes.settings()


def environment_for(tmp_path: Path, runtimes: dict, runtime: str = "python3.12", *,
                    variables: dict[str, str] | None = None, source: str = HANDLER,
                    timeout: float = 10, platform: dict[str, str] | None = None,
                    host_env: dict[str, str] | None = None) -> ExecutionEnvironment:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "main.py").write_text(source)
    base = {
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "LOCALSTACK_RUNTIME_ID": "x", "EDGE_PORT": "4566", "AWS_LAMBDA_FUNCTION_TIMEOUT": "3",
        **(platform or {}),
    }
    env = handler_environment(base, variables or {}, runtime=runtime, handler="main.handler")
    return ExecutionEnvironment(choice=choose_runtime(runtime, runtimes), task_root=str(code),
                                environment=env, timeout_seconds=timeout, host_env=host_env)


@pytest.fixture
def started(tmp_path: Path, runtimes: dict) -> Iterator[ExecutionEnvironment]:
    environment = environment_for(tmp_path, runtimes, host_env={"EVENTLAB_EMULATOR_STATE": "marker"})
    yield environment
    environment.stop()


def call(environment: ExecutionEnvironment, event: dict):
    return environment.invoke(str(uuid.uuid4()), json.dumps(event).encode(), "arn:aws:lambda:us-east-1:0:function:fn")


def test_a_handler_imports_boto3_but_not_the_host_environment(started: ExecutionEnvironment) -> None:
    assert call(started, {"import": "boto3"}).ok
    for module in ("pandas", "eventlab", "requests", "yaml"):
        outcome = call(started, {"import": module})
        assert not outcome.ok, f"{module} was importable in the handler"
        assert json.loads(outcome.body)["errorType"] == "ModuleNotFoundError"
    path = json.loads(call(started, {}).body)["path"]
    assert not any("site-packages" in entry for entry in path), path


def test_an_import_error_at_init_is_runtime_import_module_error(tmp_path: Path, runtimes: dict) -> None:
    environment = environment_for(tmp_path, runtimes, source="import pandas\ndef handler(e, c):\n    return 1\n")
    try:
        outcome = call(environment, {})
    finally:
        environment.stop()
    document = json.loads(outcome.body)
    assert (outcome.error_type, document["errorType"]) == ("Runtime.ImportModuleError",) * 2
    assert "Unable to import module 'main'" in document["errorMessage"]


def test_the_environment_is_aws_s_and_nothing_of_the_host(started: ExecutionEnvironment) -> None:
    env = json.loads(call(started, {}).body)["env"]
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["_HANDLER"] == "main.handler" and env["LAMBDA_TASK_ROOT"] == started.task_root
    leaked = [k for k in env if k.startswith(("EVENTLAB_", "LOCALSTACK_", "_LAMBDA_", "_MINISTACK"))
              or k in ("EDGE_PORT", "AWS_LAMBDA_FUNCTION_TIMEOUT", "HOME", "LC_CTYPE")]
    assert leaked == []
    # ... while the emulator still finds the process by its marker (the initial environment).
    pid = json.loads(call(started, {}).body)["pid"]
    assert psutil.Process(pid).environ().get("EVENTLAB_EMULATOR_STATE") == "marker"


def test_each_runtime_runs_on_its_own_python_or_says_which(tmp_path: Path, runtimes: dict) -> None:
    if interpreters.find((3, 12)) is None:
        pytest.skip("no Python 3.12 on this machine")
    environment = environment_for(tmp_path, runtimes, "python3.12")
    try:
        assert json.loads(call(environment, {}).body)["version"] == [3, 12]
    finally:
        environment.stop()
    missing = next((r for r in ("python3.9", "python3.8", "python3.14")
                    if interpreters.find(interpreters.parse_minor(r)) is None), None)
    if missing is None:
        pytest.skip("every runtime has its Python here")
    environment = environment_for(tmp_path, runtimes, missing)
    try:
        outcome = call(environment, {})
    finally:
        environment.stop()
    assert outcome.ok
    assert any(f"runtime {missing} runs on Python" in text for _, text in outcome.events)


def test_a_response_over_6_mb_fails_as_on_aws(started: ExecutionEnvironment) -> None:
    assert call(started, {"big": eventlab_lambda_runtime.RESPONSE_LIMIT_BYTES - 2}).ok  # JSON quotes
    outcome = call(started, {"big": 7 * 1024 * 1024})
    assert not outcome.ok and outcome.error_type == "Function.ResponseSizeTooLarge"
    assert json.loads(outcome.body) == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    }
    assert call(started, {}).ok


def test_log_events_are_records_and_a_traceback_is_one(started: ExecutionEnvironment) -> None:
    first = call(started, {"fail": True})
    texts = [text for _, text in first.all_events()]
    assert texts[0].startswith("START RequestId:") and texts[-1].startswith("REPORT RequestId:")
    assert "cold: module imported" in texts and "print line" in texts
    assert any(t.startswith("[INFO]\t") and t.endswith("\tinfo line") for t in texts)
    assert not any("debug line" in t for t in texts)
    errors = [t for t in texts if t.startswith("[ERROR] ValueError: asked to fail")]
    assert len(errors) == 1 and "Traceback (most recent call last):" in errors[0]
    assert not any(t.startswith("Traceback") for t in texts), "the traceback was split into events"
    assert "\r" in first.log_text() and first.log_text().count("\n") == len(texts)
    # The handler error kept the process: the next call is warm, without Init Duration.
    assert "Init Duration:" in texts[-1]
    second = call(started, {})
    assert second.ok and "Init Duration:" not in second.report_line()
    assert "cold: module imported" not in [t for _, t in second.events]


def test_log_level_of_the_function_is_honoured(tmp_path: Path, runtimes: dict) -> None:
    environment = environment_for(tmp_path, runtimes, variables={"LOG_LEVEL": "DEBUG"})
    try:
        texts = [t for _, t in call(environment, {}).events]
    finally:
        environment.stop()
    assert any(t.endswith("\tdebug line") for t in texts)


def test_json_log_format_and_application_log_level(tmp_path: Path, runtimes: dict) -> None:
    platform = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "Debug"}
    environment = environment_for(tmp_path, runtimes, platform=platform,
                                  source=HANDLER.replace('logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))', ""))
    try:
        texts = [t for _, t in call(environment, {}).events]
    finally:
        environment.stop()
    records = [json.loads(t) for t in texts if t.startswith("{")]
    assert {r["level"] for r in records} >= {"INFO", "DEBUG"}
    assert all(r["requestId"] for r in records)


def test_the_exec_wrapper_runs_in_front_of_the_runtime(tmp_path: Path, runtimes: dict) -> None:
    wrapper = tmp_path / "code" / "wrapper.sh"
    wrapper.parent.mkdir()
    wrapper.write_text('#!/bin/sh\nexport WRAPPED=yes\nexec "$@"\n')
    wrapper.chmod(0o755)
    environment = environment_for(tmp_path, runtimes, variables={"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper.sh"})
    try:
        env = json.loads(call(environment, {}).body)["env"]
    finally:
        environment.stop()
    assert env["WRAPPED"] == "yes"


def test_a_timeout_ends_the_process_and_the_next_call_is_cold(tmp_path: Path, runtimes: dict) -> None:
    environment = environment_for(tmp_path, runtimes, timeout=1)
    try:
        first = call(environment, {"sleep": 5})
        second = call(environment, {})
    finally:
        environment.stop()
    assert first.error_type == "Sandbox.Timedout"
    assert any("Task timed out after 1.00 seconds" in t for _, t in first.events)
    assert second.ok and second.init_ms is not None


def test_the_handler_process_exits_when_its_host_dies(tmp_path: Path, runtimes: dict) -> None:
    """A host killed by SIGKILL cannot stop its handler processes; they notice and end."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text("def handler(e, c):\n    return 1\n")
    script = f"""
import json, sys
sys.path.insert(0, {str(Path(eventlab_lambda_runtime.__file__).parent.parent)!r})
from eventlab_lambda_runtime.environment import *
choice = choose_runtime("python3.12", json.loads(sys.argv[1]))
env = handler_environment({{}}, {{}}, runtime="python3.12", handler="main.handler")
e = ExecutionEnvironment(choice=choice, task_root={str(code)!r}, environment=env, timeout_seconds=3)
e.start()
print(e.process.pid, flush=True)
import os; os._exit(0)
"""
    out = subprocess.run([sys.executable, "-c", script, json.dumps(runtimes)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    pid = int(out.split()[0])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        psutil.Process(pid).kill()
        pytest.fail("the handler process outlived its host")


def test_the_shared_runtime_imports_only_the_standard_library() -> None:
    """LocalStack's environment has no eventlab, and nothing here may need a package."""
    folder = Path(eventlab_lambda_runtime.__file__).parent
    stdlib = sys.stdlib_module_names
    for source in folder.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                     else [])
            for name in names:
                top = name.split(".")[0]
                assert top in stdlib or top in ("eventlab_lambda_runtime", "__future__"), (source.name, name)
    # ... and it loads on the oldest supported Python, with nothing but its own folder on the path.
    oldest = interpreters.find((3, 10))
    if oldest is not None:
        subprocess.run([oldest.path, "-I", "-S", "-c",
                        f"import sys; sys.path.insert(0, {str(folder.parent)!r}); "
                        "import eventlab_lambda_runtime.environment"], check=True, timeout=30,
                       env={"PATH": os.environ.get("PATH", "")})


def test_an_unknown_runtime_names_the_fix() -> None:
    with pytest.raises(RuntimeError, match="make setup-lambda"):
        choose_runtime("python3.99", {"python3.12": {"python": "x", "runtime_dir": "y"}})
    assert isinstance(choose_runtime("python3.12", {"python3.12": {"python": "x", "runtime_dir": "y"}}),
                      RuntimeChoice)
