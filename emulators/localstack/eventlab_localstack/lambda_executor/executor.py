"""A LocalStack Lambda runtime executor that runs Python handlers as host processes, no Docker.

LocalStack loads it by entry point (namespace ``localstack.lambda.runtime_executor``, name
:data:`eventlab_localstack.EXECUTOR_NAME`) when ``LAMBDA_RUNTIME_EXECUTOR=eventlab``; the
workbook's embedded LocalStack sets that. LocalStack keeps doing everything else: event source
mappings, SNS and EventBridge delivery, async retries, destinations and DLQs, CloudWatch Logs.

One execution environment is one process running :mod:`.bootstrap` on the
interpreter LocalStack itself runs on (``sys.executable``): a declared runtime such as
``python3.9`` runs on that interpreter (3.13 here), with that interpreter's packages (boto3
among them, as on AWS). Only ``python*`` runtimes with zip packages are supported.

What differs from AWS (and from LocalStack's Docker executor), by design or for now:

- no sandbox: the handler runs as the user running LocalStack, sees the host's files, and
  memory size and architecture are not enforced (the REPORT line shows the real peak);
- no layers, extensions or container images; only ``python*`` runtimes;
- what the handler's own child processes write straight to file descriptors 1 and 2 goes to
  the process's log file (:meth:`HostProcessRuntimeExecutor.get_logs`), not to CloudWatch;
  ``print`` and ``logging`` in the handler go to CloudWatch and the Invoke log tail.

This module is imported inside the LocalStack process only; it uses LocalStack's own API.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import requests
from localstack import config
from localstack.http import Response
from localstack.services.lambda_.invocation.executor_endpoint import (
    NAMESPACE,
    Endpoint,
    StatusErrorException,
    executor_router,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)
from werkzeug import Request

from eventlab_localstack import EXECUTOR_NAME, MARKER_ENV
from eventlab_localstack.lambda_executor import bootstrap_path

LOG = logging.getLogger(__name__)

BOOTSTRAP = bootstrap_path()
# Past the function's own timeout (enforced inside the process) the executor kills the process.
TIMEOUT_GRACE_SECONDS = 10.0
STOP_GRACE_SECONDS = 3.0
# Environment variables of LocalStack's own process that a handler process also gets; the
# emulator's marker lets the workbook find (and check, and stop) handler processes as its own.
PASSED_THROUGH = (
    "PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", MARKER_ENV,
)

_live: dict[str, subprocess.Popen[bytes]] = {}
_live_lock = threading.Lock()


def _loopback_host() -> str:
    host = config.GATEWAY_LISTEN[0].host
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


class _ProcessEndpoint(Endpoint):
    """The callbacks LocalStack routes to this executor: ready, error, logs and results."""

    def __init__(self, executor_id: str) -> None:
        self.executor_id = executor_id
        self.ready: Future[dict[str, Any]] = Future()
        self.result: Future[InvocationResult] | None = None
        self.logs: str | None = None

    def invocation_response(self, request: Request, req_id: str) -> Response:
        return self._resolve(req_id, request.data, is_error=False)

    def invocation_error(self, request: Request, req_id: str) -> Response:
        return self._resolve(req_id, request.data, is_error=True)

    def _resolve(self, req_id: str, payload: bytes, *, is_error: bool) -> Response:
        result = InvocationResult(req_id, payload, is_error=is_error, logs=self.logs)
        if self.result is not None and not self.result.done():
            self.result.set_result(result)
        return Response(status=HTTPStatus.ACCEPTED)

    def invocation_logs(self, request: Request, invoke_id: str) -> Response:
        document = request.get_json(silent=True)
        if isinstance(document, dict) and isinstance(document.get("logs"), str):
            self.logs = document["logs"]
            return Response(status=HTTPStatus.ACCEPTED)
        LOG.error("eventlab executor %s: malformed logs post for %s", self.executor_id, invoke_id)
        return Response(status=HTTPStatus.BAD_REQUEST)

    def status_ready(self, request: Request, executor_id: str) -> Response:
        document = request.get_json(silent=True) or {}
        if not self.ready.done():
            self.ready.set_result(document)
        return Response(status=HTTPStatus.ACCEPTED)

    def status_error(self, request: Request, executor_id: str) -> Response:
        if not self.ready.done():
            self.ready.set_exception(
                StatusErrorException("handler process failed during init", payload=request.data)
            )
        return Response(status=HTTPStatus.ACCEPTED)


class HostProcessRuntimeExecutor(RuntimeExecutor):
    """Runs one execution environment as a host process; restarts it after a timeout or crash.

    A process that timed out or crashed is replaced on the next invocation, which is then a
    cold start (an ``Init Duration`` in its REPORT line), as on AWS after a sandbox reset.
    """

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.env_vars: dict[str, str] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.endpoint = _ProcessEndpoint(id)
        self._stopped = False
        self._log_path = Path(config.dirs.tmp) / f"eventlab-lambda-{id}.log"
        self._log_path.parent.mkdir(parents=True, exist_ok=True)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, env_vars: dict[str, str]) -> None:
        if not str(self.function_version.config.runtime or "").startswith("python"):
            raise LambdaRuntimeException(_unsupported(self.function_version))
        executor_router().register_endpoint(self.id, self.endpoint)
        self.env_vars = dict(env_vars)
        self._spawn()

    def _process_env(self) -> dict[str, str]:
        code_dir = str(self.function_version.config.code.get_unzipped_code_location())
        env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
        env.update({k: str(v) for k, v in self.env_vars.items()})
        env.update(
            {
                "LAMBDA_TASK_ROOT": code_dir,
                "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "EVENTLAB_SPAWNED_AT": repr(time.time()),
                "EVENTLAB_PARENT_PID": str(os.getpid()),
                "EVENTLAB_INTERPRETER": sys.executable,
            }
        )
        # The function's own variables win, as LocalStack's Docker executor lets them.
        env.update({k: str(v) for k, v in (self.function_version.config.environment or {}).items()})
        return env

    def _spawn(self) -> None:
        """Start a handler process and wait until it has imported the handler."""
        self.endpoint.ready = Future()
        env = self._process_env()
        with self._log_path.open("ab") as logfile:
            self.process = subprocess.Popen(
                [sys.executable, "-P", str(BOOTSTRAP)],
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=env["LAMBDA_TASK_ROOT"],
                start_new_session=True,
            )
        with _live_lock:
            _live[self.id] = self.process
        LOG.info(
            "eventlab executor %s: started pid %d for %s (declared runtime %s runs on %s, Python %s)",
            self.id,
            self.process.pid,
            self.function_version.qualified_arn,
            self.function_version.config.runtime,
            sys.executable,
            sys.version.split()[0],
        )
        deadline = time.monotonic() + config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT
        while True:
            try:
                document = self.endpoint.ready.result(timeout=0.2)
                break
            except FutureTimeout:
                pass
            if self._stopped:
                raise LambdaRuntimeException(f"executor {self.id} was stopped while starting")
            code = self.process.poll()
            if code is not None:
                if self.endpoint.ready.done():
                    continue  # it posted ready (or an init error) just before it ended
                raise LambdaRuntimeException(
                    f"handler process of {self.function_version.qualified_arn} exited with code "
                    f"{code} before it was ready; its output:\n{self.get_logs()[-2000:]}"
                )
            if time.monotonic() > deadline:
                self._kill()
                raise LambdaRuntimeException(
                    f"handler process of {self.function_version.qualified_arn} was not ready "
                    f"within {config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT} s "
                    "(LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT)"
                )
        self.port = int(document["port"])

    def stop(self) -> None:
        self._stopped = True
        self._kill()
        with contextlib.suppress(KeyError):
            executor_router().unregister_endpoint(self.id)
        if not self.endpoint.ready.done():
            self.endpoint.ready.cancel()
        if self.endpoint.result is not None and not self.endpoint.result.done():
            self.endpoint.result.cancel()
        with contextlib.suppress(OSError):
            self._log_path.unlink()

    def _kill(self) -> None:
        """End the process and its process group (whatever the handler started)."""
        process = self.process
        if process is None:
            return
        with _live_lock:
            _live.pop(self.id, None)
        _terminate(process)

    # -- addresses --------------------------------------------------------------------------
    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return _loopback_host()

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        return f"http://{self.get_endpoint_from_executor()}:{port}{NAMESPACE}/{self.id}"

    # -- invocations ------------------------------------------------------------------------
    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        if self.process is None or self.process.poll() is not None:
            self._spawn()  # the previous one timed out or crashed: a cold start, as on AWS
        assert self.process is not None and self.port is not None
        self.endpoint.logs = None
        self.endpoint.result = Future()
        reply = requests.post(
            f"http://127.0.0.1:{self.port}/invoke",
            json=payload,
            proxies={"http": "", "https": ""},
            timeout=10,
        )
        if reply.status_code != HTTPStatus.ACCEPTED:
            raise LambdaRuntimeException(
                f"handler process {self.process.pid} refused invocation {request_id}: "
                f"HTTP {reply.status_code}"
            )
        timeout = float(self.function_version.config.timeout or 3)
        deadline = time.monotonic() + timeout + TIMEOUT_GRACE_SECONDS
        while True:
            try:
                return self.endpoint.result.result(timeout=0.2)
            except FutureTimeout:
                pass
            code = self.process.poll()
            if code is not None and not self.endpoint.result.done():
                time.sleep(0.2)  # a result posted just before exit may still be in flight
                if self.endpoint.result.done():
                    continue
                return self._failure(
                    request_id,
                    "Runtime.ExitError",
                    f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}",
                )
            if time.monotonic() > deadline:
                # The process did not enforce its own timeout (e.g. stuck in C code): kill it.
                self._kill()
                return self._failure(
                    request_id,
                    "Sandbox.Timedout",
                    f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
                )

    def _failure(self, request_id: str, error_type: str, message: str) -> InvocationResult:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        logs = (self.endpoint.logs or "") + f"{stamp} {request_id} {message}\nEND RequestId: {request_id}\n"
        payload = json.dumps({"errorType": error_type, "errorMessage": message}).encode()
        LOG.warning("eventlab executor %s: %s", self.id, message)
        return InvocationResult(request_id, payload, is_error=True, logs=logs)

    def get_logs(self) -> str:
        """What the process wrote outside invocations (init errors, bootstrap problems)."""
        try:
            return self._log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- versions ---------------------------------------------------------------------------
    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        """Unzip the code. An unsupported runtime is refused later, at the first invocation:
        LocalStack 2026.3.0 cannot delete a function whose preparation failed."""
        runtime = str(function_version.config.runtime or "")
        if not runtime.startswith("python"):
            LOG.warning("eventlab executor: %s", _unsupported(function_version))
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()
        LOG.info(
            "eventlab executor: %s declares %s; it will run on %s (Python %s)",
            function_version.qualified_arn,
            runtime,
            sys.executable,
            sys.version.split()[0],
        )

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to clean: LocalStack removes the unzipped code itself."""

    @classmethod
    def validate_environment(cls) -> bool:
        return True


def _unsupported(function_version: FunctionVersion) -> str:
    runtime = function_version.config.runtime or "a container image"
    return (
        f"{function_version.qualified_arn}: eventlab's host-process executor runs Python "
        f"handlers only, not {runtime}; use a python3.x runtime with a zip package"
    )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL what is left after a grace period."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE_SECONDS)


@atexit.register
def stop_all() -> None:
    """End every handler process still running when LocalStack's process exits."""
    with _live_lock:
        processes = list(_live.values())
        _live.clear()
    for process in processes:
        _terminate(process)


class EventlabRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    """The plux plugin LocalStack finds by entry point; ``load()`` returns the executor class."""

    name = EXECUTOR_NAME

    def load(self, *args: Any, **kwargs: Any) -> type[RuntimeExecutor]:
        return HostProcessRuntimeExecutor
