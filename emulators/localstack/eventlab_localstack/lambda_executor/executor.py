"""A LocalStack Lambda runtime executor that runs Python handlers as host processes, no Docker.

LocalStack loads it by entry point (namespace ``localstack.lambda.runtime_executor``, name
:data:`eventlab_localstack.EXECUTOR_NAME`) when ``LAMBDA_RUNTIME_EXECUTOR=eventlab``; the
workbook's embedded LocalStack sets that. LocalStack keeps doing everything else: event source
mappings, SNS and EventBridge delivery, async retries, destinations and DLQs, CloudWatch Logs.

One execution environment is one :class:`eventlab_lambda_runtime.environment.ExecutionEnvironment`:
AWS's runtime client (awslambdaric) in an isolated interpreter of the declared Python version
(or the nearest one, said in the function's log), talking to a Runtime API served in this
process. The interpreters and runtime folders come from eventlab in one setting
(:data:`eventlab_lambda_runtime.RUNTIMES_SETTING`). This executor bridges LocalStack's side:
``invoke`` hands the event to that API and returns the result with the invocation's log text.

What differs from AWS (and from LocalStack's Docker executor), by design or for now:

- no sandbox: the handler runs as the user running LocalStack, sees the host's files (no
  ``/var/task``; ``LAMBDA_TASK_ROOT`` is the unzipped code's folder), has the host's ulimits,
  and memory size and architecture are not enforced (the REPORT line shows the real peak);
- only ``python*`` runtimes with zip packages; no extensions or container images;
- a multi-line log record (a traceback) is one CloudWatch event with ``\\r`` between its lines,
  as AWS's runtime writes it when it logs to a stream.

This module is imported inside the LocalStack process only; it uses LocalStack's own API.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from typing import Any

from localstack import config
from localstack.services.lambda_.invocation.executor_endpoint import (
    NAMESPACE,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from eventlab_lambda_runtime.environment import (
    ExecutionEnvironment,
    RuntimeUnavailable,
    choose_runtime,
    handler_environment,
)
from eventlab_localstack import EXECUTOR_NAME, MARKER_ENV

LOG = logging.getLogger(__name__)

# What of LocalStack's own process environment a handler process starts with: the emulator's
# marker lets the workbook find (and check, and stop) handler processes as its own. The
# runtime removes it from the handler's ``os.environ`` before the handler is imported.
PASSED_THROUGH = (MARKER_ENV,)

_live: dict[str, ExecutionEnvironment] = {}
_live_lock = threading.Lock()


def _loopback_host() -> str:
    host = config.GATEWAY_LISTEN[0].host
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


class HostProcessRuntimeExecutor(RuntimeExecutor):
    """Runs one execution environment as a host process; restarts it after a timeout or crash.

    A process that timed out or crashed is replaced on the next invocation, which is then a
    cold start (an ``Init Duration`` in its REPORT line), as on AWS after a sandbox reset.
    """

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.environment: ExecutionEnvironment | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, env_vars: dict[str, str]) -> None:
        config_ = self.function_version.config
        runtime = str(config_.runtime or "")
        if not runtime.startswith("python"):
            raise LambdaRuntimeException(_unsupported(self.function_version))
        try:
            choice = choose_runtime(runtime)
        except RuntimeUnavailable as error:
            raise LambdaRuntimeException(f"{self.function_version.qualified_arn}: {error}") from error
        code_dir = str(config_.code.get_unzipped_code_location())
        environment = handler_environment(
            {k: str(v) for k, v in env_vars.items()},
            {k: str(v) for k, v in (config_.environment or {}).items()},
            runtime=runtime,
            handler=str(config_.handler),
        )
        self.environment = ExecutionEnvironment(
            choice=choice,
            task_root=code_dir,
            environment=environment,
            timeout_seconds=float(config_.timeout or 3),
            memory_mb=int(config_.memory_size or 128),
            version=str(self.function_version.id.qualifier),
            layers=_layer_folders(self.function_version),
            host_env={k: os.environ[k] for k in PASSED_THROUGH if k in os.environ},
        )
        with _live_lock:
            _live[self.id] = self.environment
        LOG.info("eventlab executor %s: %s declares %s; it runs on %s%s", self.id,
                 self.function_version.qualified_arn, runtime, choice.python,
                 f" ({choice.note})" if choice.note else "")
        self._init()

    def _init(self) -> None:
        """Start the process; an init failure (import error, say) is reported as LocalStack's
        Docker init reports it, so the invocation fails with the runtime's error document."""
        assert self.environment is not None
        try:
            failed = self.environment.start()
        except RuntimeError as error:
            raise LambdaRuntimeException(f"{self.function_version.qualified_arn}: {error}") from error
        if failed is not None:
            error_type, body = failed
            raise StatusErrorException(f"init failed: {error_type}", payload=body)

    def stop(self) -> None:
        environment, self.environment = self.environment, None
        with _live_lock:
            _live.pop(self.id, None)
        if environment is not None:
            environment.stop()

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
        if self.environment is None:
            raise LambdaRuntimeException(f"executor {self.id} was stopped")
        body = payload.get("payload") or ""
        outcome = self.environment.invoke(
            request_id,
            body.encode() if isinstance(body, str) else bytes(body),
            payload.get("invoked-function-arn") or self.function_version.qualified_arn,
            trace_id=payload.get("trace-id") or "",
            client_context=payload.get("client-context"),
        )
        if not outcome.ok and outcome.error_type in ("Sandbox.Timedout", "Runtime.ExitError"):
            LOG.warning("eventlab executor %s: %s", self.id, _message(outcome.body))
        return InvocationResult(request_id, outcome.body, is_error=not outcome.ok,
                                logs=outcome.log_text())

    def get_logs(self) -> str:
        """Nothing outside invocations: init output is part of the first invocation's log."""
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
        for layer in function_version.config.layers or []:
            code = getattr(layer, "code", None)
            if code is not None:
                code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to clean: LocalStack removes the unzipped code itself."""

    @classmethod
    def validate_environment(cls) -> bool:
        return True


def _layer_folders(function_version: FunctionVersion) -> list[str]:
    """The unzipped folders of the function's layers, in order (each stands for ``/opt``)."""
    folders = []
    for layer in function_version.config.layers or []:
        code = getattr(layer, "code", None)
        if code is not None:
            folders.append(str(code.get_unzipped_code_location()))
    return folders


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("errorMessage"))
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace")


def _unsupported(function_version: FunctionVersion) -> str:
    runtime = function_version.config.runtime or "a container image"
    return (
        f"{function_version.qualified_arn}: eventlab's host-process executor runs Python "
        f"handlers only, not {runtime}; use a python3.x runtime with a zip package"
    )


@atexit.register
def stop_all() -> None:
    """End every handler process still running when LocalStack's process exits."""
    with _live_lock:
        environments = list(_live.values())
        _live.clear()
    for environment in environments:
        environment.stop()


class EventlabRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    """The plux plugin LocalStack finds by entry point; ``load()`` returns the executor class."""

    name = EXECUTOR_NAME

    def load(self, *args: Any, **kwargs: Any) -> type[RuntimeExecutor]:
        return HostProcessRuntimeExecutor
