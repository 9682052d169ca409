"""Lambda like AWS's Python runtime, on the emulator the session runs (issue 12, item 4).

What a handler can import, which Python it runs on, its environment, the 6 MB response limit,
log events (one per record, a traceback is one), the logging module and LOG_LEVEL, the exec
wrapper, and cold then warm starts with Init Duration on the cold REPORT only.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from eventlab.run import Run
from eventlab.runtime import interpreters
from eventlab.services import lambda_

pytestmark = pytest.mark.integration

HANDLER = Path(__file__).parent / "handlers" / "aws_runtime"


def log_lines(run: Run, function: lambda_.Function, needle: str, timeout: float = 30) -> list[str]:
    """The function's CloudWatch events once one contains ``needle``."""
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = lambda_.filter_log_events(run, function)
        if any(needle in line for line in lines):
            return lines
        time.sleep(0.5)
    return lines


def test_a_handler_imports_boto3_and_nothing_of_the_host(run: Run, tmp_path: Path) -> None:
    function = lambda_.create_function(run, "imports", HANDLER)
    result = lambda_.invoke(run, function, {"imports": ["boto3", "botocore", "json", "pandas", "eventlab", "requests"]})
    assert result.ok, result.payload
    assert result.payload["imports"] == {"boto3": True, "botocore": True, "json": True,
                                         "pandas": False, "eventlab": False, "requests": False}
    for module in ("pandas", "eventlab", "requests"):
        folder = tmp_path / module
        folder.mkdir()
        (folder / "main.py").write_text(f"import {module}\n\ndef handler(event, context):\n    return 1\n")
        broken = lambda_.create_function(run, f"imports-{module}", folder)
        failed = lambda_.invoke(run, broken, {})
        assert failed.function_error == "Unhandled"
        assert failed.payload["errorType"] == "Runtime.ImportModuleError", failed.payload
        assert f"No module named '{module}'" in failed.payload["errorMessage"]


def test_the_environment_is_aws_s(run: Run) -> None:
    function = lambda_.create_function(run, "environment", HANDLER, environment={"OWN": "yes"})
    env = lambda_.invoke(run, function, {}).payload["env"]
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["OWN"] == "yes" and env["_HANDLER"] == "main.handler"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == function.log_group
    internal = [k for k in env if k.startswith(("EVENTLAB_", "LOCALSTACK_", "_LAMBDA_", "_MINISTACK"))
                or k in ("EDGE_PORT", "GATEWAY_PORT", "BIND_HOST", "STATE_DIR", "AWS_LAMBDA_FUNCTION_TIMEOUT")]
    assert internal == [], f"internal variables reach the handler: {internal}"


def test_each_runtime_runs_on_its_python_or_says_which(run: Run) -> None:
    if interpreters.find((3, 12)) is None:
        pytest.skip("no Python 3.12 on this machine")
    function = lambda_.create_function(run, "py312", HANDLER, runtime="python3.12")
    assert lambda_.invoke(run, function, {}).payload["version"] == [3, 12]
    missing = next((r for r in ("python3.14", "python3.9")
                    if interpreters.find(interpreters.parse_minor(r)) is None), None)
    if missing is None:
        pytest.skip("every runtime has its Python here")
    other = lambda_.create_function(run, "fallback", HANDLER, runtime=missing)
    result = lambda_.invoke(run, other, {})
    assert result.ok
    lines = log_lines(run, other, f"runtime {missing} runs on Python")
    assert any(f"runtime {missing} runs on Python" in line for line in lines), lines


def test_a_response_over_6_mb_fails_with_response_size_too_large(run: Run) -> None:
    function = lambda_.create_function(run, "big", HANDLER, memory_size=512)
    result = lambda_.invoke(run, function, {"size": 7 * 1024 * 1024})
    assert result.function_error == "Unhandled"
    assert result.payload == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    }
    assert lambda_.invoke(run, function, {"size": 1000}).ok


def test_log_records_reach_cloudwatch_one_event_each(run: Run) -> None:
    function = lambda_.create_function(run, "logs", HANDLER, environment={"LOG_LEVEL": "DEBUG"})
    lambda_.invoke(run, function, {"marker": "one"})
    failed = lambda_.invoke(run, function, {"marker": "two", "fail": "on purpose"})
    assert failed.payload["errorType"] == "ValueError"
    lines = log_lines(run, function, "[ERROR] ValueError")
    assert any(line.startswith("[INFO]\t") and "aws-runtime: info one" in line for line in lines), lines
    assert any("aws-runtime: debug one" in line for line in lines), "LOG_LEVEL=DEBUG was not honoured"
    errors = [line for line in lines if line.startswith("[ERROR] ValueError: aws-runtime asked to fail")]
    assert len(errors) == 1 and "Traceback (most recent call last):" in errors[0], lines
    assert not any(line.strip().startswith(("Traceback", 'File "')) for line in lines), \
        "a traceback became one event per line"


def test_the_default_log_level_drops_debug(run: Run) -> None:
    function = lambda_.create_function(run, "quiet", HANDLER)
    lambda_.invoke(run, function, {"marker": "q"})
    lines = log_lines(run, function, "aws-runtime: info q")
    assert any("aws-runtime: info q" in line for line in lines)
    assert not any("aws-runtime: debug q" in line for line in lines)


def test_the_exec_wrapper_runs(run: Run) -> None:
    function = lambda_.create_function(run, "wrapped", HANDLER,
                                       environment={"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper.sh"})
    assert lambda_.invoke(run, function, {}).payload["env"].get("WRAPPED_BY") == "wrapper.sh"


def test_cold_then_warm_with_init_duration_on_the_cold_report_only(run: Run) -> None:
    function = lambda_.create_function(run, "starts", HANDLER)
    pids = [lambda_.invoke(run, function, {"marker": str(i)}).payload["pid"] for i in range(3)]
    assert len(set(pids)) == 1, "the warm environment was not reused"
    deadline = time.monotonic() + 30
    reports: list[dict] = []
    while time.monotonic() < deadline and len(reports) < 3:
        reports = lambda_.invocation_reports(run, function)
        time.sleep(0.5)
    assert [r["cold"] for r in reports] == [True, False, False], reports
