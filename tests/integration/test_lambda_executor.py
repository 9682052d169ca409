"""Lambda on the embedded LocalStack through eventlab's host-process executor (no Docker).

Results, AWS-shaped errors, logs, environment, timeouts, warm reuse, concurrency, and that
every handler process ends with its function and with LocalStack.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from lambda_helpers import probe, receive, wait_gone

from eventlab.run import Run
from eventlab.runtime import EmbeddedLocalStack
from eventlab.services import lambda_
from eventlab.target import Target

pytestmark = pytest.mark.integration

def test_invoke_returns_result_with_logs_environment_and_a_warm_process(run: Run) -> None:
    function, sink = probe(run, environment={"X": "from-config"})
    config = run.target.client("lambda").get_function_configuration(FunctionName=function.name)
    assert config["State"] == "Active"

    first = lambda_.invoke(run, function, {"marker": "one", "sink": True})
    second = lambda_.invoke(run, function, {"marker": "two"})

    assert first.ok and first.status_code == 200
    assert first.payload["event"] == {"marker": "one", "sink": True}
    env = first.payload["env"]
    assert env["X"] == "from-config"
    assert env["AWS_ENDPOINT_URL"] == run.target.endpoint_url  # boto3 in the handler reaches LocalStack
    assert env["AWS_REGION"] == run.target.region
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == function.name
    assert 0 < first.payload["remaining_ms"] <= function.timeout * 1000
    # What it printed and logged is in the tail, with START/END/REPORT; only a cold start has an Init Duration.
    assert "probe: marker one" in first.log_tail and "probe: request" in first.log_tail
    assert "REPORT RequestId:" in first.log_tail and "Init Duration:" in first.log_tail
    assert "probe: marker two" in second.log_tail and "Init Duration:" not in second.log_tail
    assert second.payload["pid"] == first.payload["pid"], "the warm process was not reused"
    # The handler's own boto3 call went to the emulator.
    assert receive(run, sink, 1) == [{"from": "invoke", "marker": "one", "pid": first.payload["pid"]}]

    deadline = time.monotonic() + 30
    lines: list[str] = []
    while time.monotonic() < deadline and not any("marker two" in line for line in lines):
        lines = lambda_.filter_log_events(run, function)
        time.sleep(0.5)
    assert any("probe: marker one" in line for line in lines)
    assert any("probe: marker two" in line for line in lines)

    pid = first.payload["pid"]
    run.destroy()  # deleting the function stops its execution environments
    assert wait_gone({pid}) == set(), f"handler process {pid} outlived its function"


def test_handler_error_comes_back_in_aws_shape(run: Run) -> None:
    function, _ = probe(run)
    result = lambda_.invoke(run, function, {"fail": "on purpose"})
    assert result.function_error == "Unhandled" and result.status_code == 200
    assert result.payload["errorType"] == "ValueError"
    assert result.payload["errorMessage"] == "probe asked to fail: on purpose"
    assert any("main.py" in frame and "in handler" in frame for frame in result.payload["stackTrace"])
    assert "[ERROR] ValueError: probe asked to fail: on purpose" in result.log_tail
    assert "bootstrap.py" not in result.log_tail

    crashed = lambda_.invoke(run, function, {"exit": 3})
    assert crashed.function_error == "Unhandled"
    assert crashed.payload["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in crashed.payload["errorMessage"]
    assert lambda_.invoke(run, function, {}).ok, "a new process should replace the crashed one"


def test_init_errors_are_reported_as_the_python_runtime_does(run: Run, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "main.py").write_text("import not_a_module_anywhere\n\ndef handler(event, context):\n    return 1\n")
    function = lambda_.create_function(run, "broken", broken)
    result = lambda_.invoke(run, function, {})
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'main'" in result.payload["errorMessage"]

    raising = tmp_path / "raising"
    raising.mkdir()
    (raising / "main.py").write_text("SETTINGS = {}\nREGION = SETTINGS['region']\n\ndef handler(e, c):\n    return 1\n")
    function = lambda_.create_function(run, "raising", raising)
    result = lambda_.invoke(run, function, {})
    assert result.function_error == "Unhandled"
    assert (result.payload["errorType"], result.payload["errorMessage"]) == ("KeyError", "'region'")


@pytest.mark.backend("localstack", reason="eventlab's LocalStack executor refuses other runtimes; MiniStack runs nodejs on the host's node")
def test_a_non_python_runtime_fails_with_a_clear_reason(run: Run, tmp_path: Path) -> None:
    (tmp_path / "index.js").write_text("exports.handler = async () => 1;\n")
    function = lambda_.create_function(run, "node", tmp_path, handler="index.handler", runtime="nodejs20.x")
    once = run.target.session.client(
        "lambda", region_name=run.target.region, endpoint_url=run.target.endpoint_url,
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )  # LocalStack answers with a 500, which boto3 would retry
    with pytest.raises(ClientError, match=r"runs Python handlers only, not nodejs20\.x"):
        once.invoke(FunctionName=function.name, Payload=b"{}")


def test_timeout_is_reported_and_the_next_invoke_is_a_cold_start(run: Run) -> None:
    function, _ = probe(run, timeout=1)
    result = lambda_.invoke(run, function, {"sleep": 30, "marker": "slow"})
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in result.payload["errorMessage"]
    assert "Task timed out after 1.00 seconds" in result.log_tail
    assert "probe: marker slow" in result.log_tail

    after = lambda_.invoke(run, function, {"marker": "after"})
    assert after.ok and "Init Duration:" in after.log_tail


def test_event_and_dry_run_invocations(run: Run) -> None:
    function, sink = probe(run)
    dry = lambda_.invoke(run, function, {"sink": True, "marker": "dry"}, invocation_type="DryRun")
    assert dry.status_code == 204
    queued = lambda_.invoke(run, function, {"sink": True, "marker": "async"}, invocation_type="Event")
    assert queued.status_code == 202
    got = receive(run, sink, 1)
    assert [g["marker"] for g in got] == ["async"]


def test_concurrent_invocations_run_in_parallel_processes(run: Run) -> None:
    function, _ = probe(run)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: lambda_.invoke(run, function, {"sleep": 2}), range(3)))
    assert all(r.ok for r in results), [r.payload for r in results]
    assert len({r.payload["pid"] for r in results}) == 3


def test_reserved_concurrency_caps_the_processes(run: Run) -> None:
    function, _ = probe(run, reserved_concurrency=1)
    patient = run.target.session.client(
        "lambda",
        region_name=run.target.region,
        endpoint_url=run.target.endpoint_url,
        config=Config(retries={"mode": "standard", "max_attempts": 10}),
    )

    def call(_: int) -> int | str:
        try:
            reply = patient.invoke(FunctionName=function.name, Payload=json.dumps({"sleep": 0.5}))
        except ClientError as error:
            return error.response["Error"]["Code"]
        return json.loads(reply["Payload"].read())["pid"]

    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(call, range(3)))
    pids = {o for o in outcomes if isinstance(o, int)}
    assert len(pids) == 1, outcomes
    assert all(isinstance(o, int) or o == "TooManyRequestsException" for o in outcomes)


@pytest.mark.backend("localstack", reason="starts a LocalStack of its own; MiniStack's is test_runtime_ministack.py")
def test_handler_processes_end_when_localstack_stops(tmp_path: Path) -> None:
    """A LocalStack of its own (own state folder), so the session's instance is left alone.

    Its shutdown stops the execution environments. (When LocalStack is killed instead, each
    handler process notices its parent is gone: tests/unit/test_lambda_bootstrap.py.)
    """
    # LocalStack unzips code under the system temp folder and, when it stops with live
    # functions, leaves it there: give this instance a temp folder of its own.
    (tmp_path / "tmp").mkdir()
    runtime = EmbeddedLocalStack(
        state_dir=tmp_path / "localstack", reuse=False, extra_env={"TMPDIR": str(tmp_path / "tmp")}
    )
    runtime.start()
    try:
        with Run(Target.localstack(runtime.endpoint_url)) as run:
            function, _ = probe(run, "lifecycle")  # its sink queue also loads SQS before the stop
            with ThreadPoolExecutor(2) as pool:
                results = list(pool.map(lambda _: lambda_.invoke(run, function, {"sleep": 1}), range(2)))
            pids = {r.payload["pid"] for r in results}
            assert len(pids) == 2
            assert all(psutil.pid_exists(pid) for pid in pids)
            # LocalStack loads services lazily; one loaded during its shutdown (CloudWatch, for
            # the metrics of the first invocation, or SQS, for the async event queue, when
            # nothing had used them before) starts threads that keep the process alive until
            # it is killed (EmbeddedLocalStack kills it after 15 s). Let the load finish first.
            wait_for_service(runtime, "cloudwatch")
            runtime.stop()
            assert wait_gone(pids) == set(), "handler processes outlived LocalStack"
            run.resources.clear()  # LocalStack and its state are gone: nothing left to delete
    finally:
        runtime.stop(force=True)


def wait_for_service(runtime: EmbeddedLocalStack, service: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = runtime.health() or {}
        if health.get("services", {}).get(service) == "running":
            return
        time.sleep(0.2)
