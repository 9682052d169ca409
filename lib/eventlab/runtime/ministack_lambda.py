"""Patches that make MiniStack's Lambda behave as AWS's does, installed by the MiniStack launcher.

The launcher (:mod:`eventlab.runtime.ministack_launcher`) calls :func:`install` in the emulator's
process before MiniStack serves. Each patch replaces one module-level name of MiniStack 1.5.33
that it looks up at call time (:data:`PATCHED`; a unit test fails when one is gone):

- ``core.lambda_runtime._worker_class_for``: MiniStack runs a Python handler in a worker of its
  own (``_PYTHON_WORKER_SCRIPT``) on its own interpreter, with its whole site-packages and host
  environment, no root logging handler, and kills the worker after any handler error. AWS runs
  it on its runtime client, on the declared Python, seeing only the standard library and
  boto3. Python functions here get :class:`AwsPythonWorker`, which runs the handler in the
  shared execution environment (:mod:`eventlab_lambda_runtime.environment`) that LocalStack's
  executor uses too: awslambdaric, the declared interpreter (or the nearest, said in the log),
  AWS's environment, one event per log record, the 6 MB limit, and warm after handler errors.
- ``services.lambda_svc._execute_function_warm``: MiniStack reports every handler error as
  ``Runtime.HandlerError`` with the message only; AWS returns the runtime's error document
  (``errorType`` the exception's class, ``Runtime.ImportModuleError``, ``stackTrace``).
- ``services.lambda_svc._emit_lambda_logs``: MiniStack writes one stream per invocation, one
  event per line (a traceback is many), every event at one time, and no ``Init Duration``.
  AWS writes one stream per execution environment (``context.log_stream_name``), one event per
  record with its own time, and ``Init Duration`` on a cold start's REPORT.
- ``services.sns._deliver_to_lambda`` and ``services.eventbridge._dispatch_to_lambda``:
  MiniStack invokes the function synchronously, once; AWS invokes asynchronously, with the
  function's retries (``MaximumRetryAttempts``, 2 by default) and then its DLQ or on-failure
  destination. Both now go through ``invoke_async_with_retry``.
- ``services.lambda_svc._poll_sqs``: MiniStack ignores an SQS mapping's batching window; see
  :func:`hold_for_batching_window`.
- ``services.lambda_svc.invoke_async_with_retry``: see :func:`invoke_async_with_retry` (DLQ and
  on-failure destination both, the event itself in the DLQ, the real invoke count, on-success).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from typing import Any

from eventlab.processes import MARKER_ENV
from eventlab_lambda_runtime.environment import (
    ExecutionEnvironment,
    Outcome,
    choose_runtime,
    handler_environment,
    log_stream_name,
)

log = logging.getLogger(__name__)

# The names patched, and those the patches call (a unit test fails when one is gone).
PATCHED = [
    ("ministack.core.lambda_runtime", "_worker_class_for"),
    ("ministack.core.lambda_runtime", "Worker"),
    ("ministack.core.lambda_runtime", "execution_credentials"),
    ("ministack.services.lambda_svc", "_execute_function_warm"),
    ("ministack.services.lambda_svc", "_emit_lambda_logs"),
    ("ministack.services.lambda_svc", "invoke_async_with_retry"),
    ("ministack.services.lambda_svc", "_execution_record_for_config"),
    ("ministack.services.lambda_svc", "_get_func_record_for_ref"),
    ("ministack.services.sns", "_deliver_to_lambda"),
    ("ministack.services.eventbridge", "_dispatch_to_lambda"),
    ("ministack.services.lambda_svc", "_execute_function"),
    ("ministack.services.lambda_svc", "_route_async_failure"),
    ("ministack.services.lambda_svc", "esm_wake"),
    ("ministack.services.sqs", "_queue_by_arn"),
    ("ministack.services.sqs", "_md5_msg_attrs"),
    ("ministack.services.sqs", "_ensure_msg_fields"),
    ("ministack.services.sns", "_fanout"),
    ("ministack.services.lambda_svc", "_poll_sqs"),
    ("ministack.services.lambda_svc", "_iter_all_esms"),
    ("ministack.services.lambda_svc", "_esm_backoff_until"),
    ("ministack.services.lambda_svc", "_request_account_id"),
    ("ministack.services.lambda_svc", "_request_region"),
]

_settings: dict[str, Any] | None = None


def runtime_settings() -> dict[str, Any]:
    """The interpreters and runtime folders (computed once per emulator process)."""
    global _settings
    if _settings is None:
        from eventlab.runtime import lambda_runtimes

        _settings = lambda_runtimes.settings()
    return _settings


class _Emission:
    """What :func:`emit_logs` needs of an invocation, carried through MiniStack's ``log_source``."""

    def __init__(self, outcome: Outcome, stream: str, group: str) -> None:
        self.outcome, self.stream, self.group = outcome, stream, group


def _worker_class() -> type:
    from ministack.core import lambda_runtime as lr

    class AwsPythonWorker(lr.Worker):  # type: ignore[misc, name-defined]
        """One execution environment of a Python function, on AWS's runtime client."""

        environment: ExecutionEnvironment | None = None

        def _spawn(self) -> None:
            self._discard_tmpdir()
            config = self.config
            self._tmpdir = tempfile.mkdtemp(prefix=f"ministack-lambda-{self.func_name}-")
            code_dir = os.path.join(self._tmpdir, "code")
            with zipfile.ZipFile(_as_file(self.code_zip, self._tmpdir, "code.zip")) as archive:
                archive.extractall(code_dir)
            layers = []
            for index, ref in enumerate(config.get("Layers") or []):
                from ministack.services.lambda_svc import _resolve_layer_zip

                data = _resolve_layer_zip(ref)
                if data:
                    folder = os.path.join(self._tmpdir, f"layer_{index}")
                    with zipfile.ZipFile(_as_file(data, self._tmpdir, f"layer_{index}.zip")) as archive:
                        archive.extractall(folder)
                    layers.append(folder)
            runtime = str(config.get("Runtime") or "python3.12")
            _account, region = lr._account_region_from_function_config(config)
            name = config.get("FunctionName", self.func_name)
            version = str(config.get("Version") or "$LATEST")
            logging_config = config.get("LoggingConfig") or {}
            self.log_group = logging_config.get("LogGroup") or f"/aws/lambda/{name}"
            self.log_stream = log_stream_name(version)
            port = os.environ.get("GATEWAY_PORT", "4566")
            platform = {
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", 128)),
                "AWS_LAMBDA_FUNCTION_VERSION": version,
                "AWS_LAMBDA_LOG_GROUP_NAME": self.log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                **lr.execution_credentials(config),
            }
            if str(logging_config.get("LogFormat", "")).upper() == "JSON":
                platform["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
                if logging_config.get("ApplicationLogLevel"):
                    platform["AWS_LAMBDA_LOG_LEVEL"] = str(logging_config["ApplicationLogLevel"])
            variables = (config.get("Environment") or {}).get("Variables") or {}
            self.environment = ExecutionEnvironment(
                choice=choose_runtime(runtime, runtime_settings()),
                task_root=code_dir,
                environment=handler_environment(platform, variables, runtime=runtime,
                                                handler=str(config.get("Handler") or "main.handler")),
                timeout_seconds=float(config.get("Timeout", 3)),
                memory_mb=int(config.get("MemorySize", 128)),
                version=version,
                layers=layers,
                host_env={k: os.environ[k] for k in (MARKER_ENV,) if k in os.environ},
            )
            self.init_failure = self.environment.start()
            self._proc = self.environment.process
            self._start_time = time.time()

        def invoke(self, event: Any, request_id: str, *, trace_id: str | None = None,
                   invoked_function_arn: str | None = None, **_: Any) -> dict[str, Any]:
            with self._lock:
                cold = self.environment is None or not self.environment.alive
                if cold:
                    self._spawn()
                assert self.environment is not None
                failure = getattr(self, "init_failure", None)
                if cold and failure is not None:
                    self.init_failure = None
                    error_type, body = failure
                    outcome = self.environment._outcome(request_id, False, body, error_type, 0.0, None)
                else:
                    outcome = self.environment.invoke(
                        request_id, json.dumps(event).encode(),
                        invoked_function_arn or self.config.get("FunctionArn", ""),
                        trace_id=trace_id or "",
                    )
                self._proc = self.environment.process
                return _result(outcome, cold, _Emission(outcome, self.log_stream, self.log_group))

        def _discard_tmpdir(self) -> None:
            environment, self.environment = self.environment, None
            if environment is not None:
                environment.stop()
            if self._tmpdir and os.path.exists(self._tmpdir):
                shutil.rmtree(self._tmpdir, ignore_errors=True)

    return AwsPythonWorker


def _as_file(data: bytes, folder: str, name: str) -> str:
    path = os.path.join(folder, name)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def _result(outcome: Outcome, cold: bool, emission: _Emission) -> dict[str, Any]:
    """An outcome in the shape MiniStack's warm path expects, carrying the outcome along."""
    common = {"cold_start": cold, "log": outcome.log_text(), "log_source": emission}
    if outcome.ok:
        try:
            value: Any = json.loads(outcome.body) if outcome.body else None
        except ValueError:
            value = outcome.body.decode(errors="replace")
        return {"status": "ok", "result": value, **common}
    try:
        document = json.loads(outcome.body)
    except ValueError:
        document = {"errorType": outcome.error_type or "Runtime.Unknown",
                    "errorMessage": outcome.body.decode(errors="replace")}
    return {"status": "error", "error": str(document.get("errorMessage", "")),
            "error_payload": document, **common}


def install() -> None:
    """Apply every patch to the imported ``ministack`` package; safe to call more than once."""
    from ministack.core import lambda_runtime as lr
    from ministack.services import eventbridge, lambda_svc, sns

    if getattr(lr._worker_class_for, "eventlab_patch", False):
        return
    runtime_settings()  # before MiniStack serves: a runtime folder that cannot be built stops the start
    worker_class = _worker_class()
    original_class_for = lr._worker_class_for

    def worker_class_for(config: dict[str, Any]) -> type:
        if str(config.get("Runtime", "")).startswith("python"):
            return worker_class
        return original_class_for(config)

    worker_class_for.eventlab_patch = True  # type: ignore[attr-defined]
    lr._worker_class_for = worker_class_for

    original_warm = lambda_svc._execute_function_warm

    def execute_function_warm(func: dict[str, Any], event: Any, request_id: str) -> dict[str, Any]:
        config = func.get("config") or func
        if not str(config.get("Runtime", "")).startswith("python") or not func.get("code_zip"):
            return original_warm(func, event, request_id)
        name, qualifier = config.get("FunctionName", "unknown"), config.get("Version", "$LATEST")
        lambda_svc._ensure_reaper_thread()
        worker, _reason = lr.acquire_worker(name, config, func["code_zip"], qualifier=qualifier)
        if worker is None:
            return lambda_svc._throttle_response(
                reason_code="ReservedFunctionConcurrentInvocationLimitExceeded",
                msg=f"Rate Exceeded: function {name} warm-worker ceiling reached")
        try:
            result = worker.invoke(event, request_id,
                                   trace_id=lambda_svc._xray_trace_id_for_invocation(config),
                                   invoked_function_arn=config.get("FunctionArn", ""))
        except Exception as error:  # reported as the invoke's error, as MiniStack does
            log.exception("Lambda %s: the execution environment failed", name)
            lr.invalidate_worker(name, qualifier=qualifier)
            worker = None
            return {"body": {"errorMessage": str(error), "errorType": "Runtime.Unknown"},
                    "error": True, "log": ""}
        finally:
            lr.release_worker(worker)
        shaped = {"log": result["log"], "log_source": result["log_source"]}
        if result["status"] == "ok":
            return {"body": result["result"], **shaped}
        return {"body": result["error_payload"], "error": True, **shaped}

    lambda_svc._execute_function_warm = execute_function_warm

    original_emit = lambda_svc._emit_lambda_logs

    def emit_lambda_logs(func: dict[str, Any], request_id: str, log_text: str, error: bool,
                         duration_ms: int, *, log_source: Any = None) -> None:
        if not isinstance(log_source, _Emission):
            return original_emit(func, request_id, log_text, error, duration_ms, log_source=log_source)
        _write_events(log_source)
        return None

    lambda_svc._emit_lambda_logs = emit_lambda_logs

    def deliver_to_lambda(endpoint: str, envelope: str, topic_arn: str, sub_arn: str,
                          msg_id: str, raw_message: str, message_attributes: dict[str, Any]) -> None:
        func, config, name = lambda_svc._get_func_record_for_ref(endpoint)
        if not func or not config:
            log.warning("SNS → Lambda: function %s not found", name)
            return
        event = {"Records": [{"EventVersion": "1.0", "EventSubscriptionArn": sub_arn,
                              "EventSource": "aws:sns", "Sns": json.loads(envelope)}]}
        lambda_svc.invoke_async_with_retry(lambda_svc._execution_record_for_config(func, config), event)

    sns._deliver_to_lambda = deliver_to_lambda

    def dispatch_to_lambda(arn: str, payload: str) -> None:
        try:
            event = json.loads(payload)
        except (json.JSONDecodeError, TypeError):
            event = {"body": payload}
        func, config, name = lambda_svc._get_func_record_for_ref(arn)
        if not func or not config:
            log.warning("EventBridge → Lambda: function %s not found", name)
            return
        lambda_svc.invoke_async_with_retry(lambda_svc._execution_record_for_config(func, config), event)

    eventbridge._dispatch_to_lambda = dispatch_to_lambda
    lambda_svc.invoke_async_with_retry = invoke_async_with_retry

    original_poll = lambda_svc._poll_sqs

    def poll_sqs() -> bool:
        hold_for_batching_window(lambda_svc)
        return bool(original_poll())

    lambda_svc._poll_sqs = poll_sqs


def hold_for_batching_window(lambda_svc: Any, now: float | None = None) -> list[str]:
    """Hold back, for this polling pass, each SQS mapping still inside its batching window.

    MiniStack ignores ``MaximumBatchingWindowInSeconds`` and invokes as soon as one message is
    there. AWS gathers records until the batch is full or the window (counted from the first
    waiting record) has passed. A held mapping gets MiniStack's own backoff for a tenth of a
    second, so it is looked at again on the next pass; one whose queue is empty is held as well,
    so that MiniStack never receives a record whose window has not been looked at. Standard
    queues only (FIFO: as MiniStack).
    Returns the ids of the mappings held.
    """
    from ministack.services import sqs as sqs_svc

    now = time.time() if now is None else now
    held = []
    for account, region, esm in lambda_svc._iter_all_esms():
        window = float(esm.get("MaximumBatchingWindowInSeconds") or 0)
        arn = str(esm.get("EventSourceArn", ""))
        if window <= 0 or ":sqs:" not in arn or arn.endswith(".fifo") or not esm.get("Enabled", True):
            continue
        account_token = lambda_svc._request_account_id.set(account)
        region_token = lambda_svc._request_region.set(region)
        try:
            queue = sqs_svc._queue_by_arn(arn)
            if queue is None:
                continue
            waiting = [m for m in queue.get("messages", []) if float(m.get("visible_at") or 0) <= now]
            if len(waiting) >= int(esm.get("BatchSize", 10)):
                continue
            # An empty queue is held too: a message sent between this look and MiniStack's receive
            # would otherwise be invoked at once, its window never begun.
            if not waiting or now - min(float(m.get("sent_at") or now) for m in waiting) < window:
                backoff = lambda_svc._esm_backoff_until
                backoff[esm["UUID"]] = max(float(backoff.get(esm["UUID"], 0)), now + 0.1)  # never shortens its own
                held.append(esm["UUID"])
        finally:
            lambda_svc._request_account_id.reset(account_token)
            lambda_svc._request_region.reset(region_token)
    return held


def invoke_async_with_retry(func: dict[str, Any], event: Any) -> None:
    """An asynchronous invocation as AWS runs one, in a background thread.

    MiniStack's own sends the on-failure record to the DLQ when there is no destination, and
    nothing to the DLQ when there is one, always with ``approximateInvokeCount: 3``. AWS retries
    ``MaximumRetryAttempts`` times (2 by default), then sends the event itself to the function's
    DLQ (with ``RequestID``, ``ErrorCode`` and ``ErrorMessage`` attributes) *and* the invocation
    record to the on-failure destination; a success record goes to the on-success destination.
    The retries are seconds apart here (MiniStack's ``LAMBDA_ASYNC_RETRY_BASE_SECONDS``), not
    minutes as on AWS.
    """
    import contextvars
    import threading

    from ministack.services import lambda_svc

    def run() -> None:
        config = func.get("config") or func
        account, region = lambda_svc._account_region_from_function_config(config)
        lambda_svc._request_account_id.set(account)
        lambda_svc._request_region.set(region)
        invoke_config = (func.get("event_invoke_config")
                         or (func.get("event_invoke_configs") or {}).get("$LATEST") or {})
        retries = invoke_config.get("MaximumRetryAttempts")
        retries = 2 if retries is None else int(retries)
        max_age = int(invoke_config.get("MaximumEventAgeInSeconds", 21600))
        destinations = invoke_config.get("DestinationConfig") or {}
        started = time.time()
        result: dict[str, Any] = {}
        attempts = 0
        for attempt in range(retries + 1):
            if attempt:
                delay = min(lambda_svc._LAMBDA_ASYNC_RETRY_BASE_SECONDS * 2 ** (attempt - 1),
                            lambda_svc._LAMBDA_ASYNC_RETRY_MAX_SECONDS)
                if time.time() - started + delay > max_age:
                    break
                time.sleep(delay)
            result = lambda_svc._execute_function(func, event)
            attempts += 1
            if not result.get("error"):
                success = (destinations.get("OnSuccess") or {}).get("Destination")
                if success:
                    _deliver(success, json.dumps(_record(config, event, result, attempts, "Success")), {})
                return
        emission = result.get("log_source")
        request_id = emission.outcome.request_id if isinstance(emission, _Emission) else ""
        failure = (destinations.get("OnFailure") or {}).get("Destination")
        if failure:
            record = _record(config, event, result, attempts, "RetriesExhausted")
            _deliver(failure, json.dumps(record), {}, fallback=(func, event, result))
        dlq = (config.get("DeadLetterConfig") or {}).get("TargetArn")
        if dlq:
            body = result.get("body") if isinstance(result.get("body"), dict) else {}
            attributes = {"RequestID": ("String", request_id), "ErrorCode": ("Number", "200"),
                          "ErrorMessage": ("String", str(body.get("errorMessage", ""))[:1024])}
            _deliver(dlq, json.dumps(event), attributes)

    threading.Thread(target=contextvars.copy_context().run, args=(run,), daemon=True).start()


def _record(config: dict[str, Any], event: Any, result: dict[str, Any], attempts: int,
            condition: str) -> dict[str, Any]:
    """An asynchronous invocation record, as AWS sends it to a destination."""
    from datetime import UTC, datetime

    emission = result.get("log_source")
    response = {"statusCode": 200, "executedVersion": config.get("Version") or "$LATEST"}
    if result.get("error"):
        response["functionError"] = "Unhandled"
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": emission.outcome.request_id if isinstance(emission, _Emission) else "",
            "functionArn": f"{config.get('FunctionArn', '')}:{config.get('Version') or '$LATEST'}",
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": response,
        "responsePayload": result.get("body"),
    }


def _deliver(target_arn: str, body: str, attributes: dict[str, tuple[str, str]],
             fallback: tuple[dict[str, Any], Any, dict[str, Any]] | None = None) -> None:
    """Send ``body`` to an SQS queue or SNS topic of the emulator (other targets: MiniStack's own)."""
    import hashlib

    from ministack.core.responses import new_uuid
    from ministack.services import lambda_svc, sns
    from ministack.services import sqs as sqs_svc

    shaped = {name: {"DataType": kind, "StringValue": value} for name, (kind, value) in attributes.items()}
    queue = sqs_svc._queue_by_arn(target_arn) if ":sqs:" in target_arn else None
    if queue is not None:
        now = time.time()
        message = {"id": new_uuid(), "body": body, "md5": hashlib.md5(body.encode()).hexdigest(),
                   "message_attributes": shaped, "md5_attrs": sqs_svc._md5_msg_attrs(shaped),
                   "receipt_handle": None, "sent_at": now, "visible_at": now + sqs_svc.queue_delay(queue),
                   "receive_count": 0}
        sqs_svc._ensure_msg_fields(message)
        queue["messages"].append(message)
        lambda_svc.esm_wake.set()
    elif ":sns:" in target_arn and target_arn in sns._topics:
        sns._fanout(target_arn, new_uuid(), body, "Lambda async invocation", "", shaped)
    elif fallback is not None:
        func, event, result = fallback
        config = func.get("config") or func
        lambda_svc._route_async_failure(target_arn, config.get("FunctionName", ""), event, result)
    else:
        log.warning("Lambda async: destination %s not found", target_arn)


def _write_events(emission: _Emission) -> None:
    """The invocation's events, each with its own time, in the execution environment's stream."""
    from ministack.services import cloudwatch_logs as cwl

    events = emission.outcome.all_events()
    now = int(time.time() * 1000)
    groups = cwl._log_groups
    if emission.group not in groups:
        groups[emission.group] = {"arn": cwl._make_group_arn(emission.group), "creationTime": now,
                                  "retentionInDays": None, "tags": {}, "subscriptionFilters": {},
                                  "streams": {}}
    streams = groups[emission.group]["streams"]
    if emission.stream not in streams:
        streams[emission.stream] = {"events": [], "uploadSequenceToken": "1", "creationTime": now,
                                    "firstEventTimestamp": None, "lastEventTimestamp": None,
                                    "lastIngestionTime": None}
    records = [{"timestamp": stamp, "message": text, "ingestionTime": now} for stamp, text in events]
    cwl._append_log_events(streams[emission.stream], records)
    cwl._fanout_to_subscription_filters(emission.group, emission.stream,
                                        [{"timestamp": r["timestamp"], "message": r["message"]} for r in records])
