"""The runtime inside one handler process: imports the handler, then serves invocations.

Started by :mod:`eventlab_localstack.lambda_executor.executor` as ``python -P bootstrap.py`` with the function's
environment. It speaks the protocol of LocalStack's Docker init (see
``localstack/services/lambda_/invocation/executor_endpoint.py``):

- after the handler module is imported it posts ``<runtime endpoint>/status/<id>/ready``
  (or ``/status/<id>/error`` with the import error);
- it takes ``POST /invoke`` with ``invoke-id``, ``invoked-function-arn``, ``payload``,
  ``trace-id``;
- for each invocation it posts the captured log text as JSON to
  ``.../invocations/<request id>/logs``, then the result to ``.../response`` or ``.../error``.

The handler runs in the main thread, one invocation at a time, as on AWS. A watchdog thread
enforces the function's timeout: it reports "Task timed out after N seconds" and ends the
process, so the next invocation gets a fresh (cold) process, as AWS resets its sandbox.

Only the standard library is imported here, so the handler's own imports decide what it loads.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import io
import json
import logging
import os
import queue
import resource
import sys
import threading
import time
import traceback
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Set by the executor: the endpoint LocalStack routes to this executor, and this process's id.
RUNTIME_ENDPOINT = os.environ["LOCALSTACK_RUNTIME_ENDPOINT"]
RUNTIME_ID = os.environ["LOCALSTACK_RUNTIME_ID"]
HANDLER = os.environ.get("_HANDLER", "")
TASK_ROOT = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
TIMEOUT_SECONDS = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3)
MEMORY_MB = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or 128)
SPAWNED_AT = float(os.environ.get("EVENTLAB_SPAWNED_AT") or time.time())
PARENT_PID = int(os.environ.get("EVENTLAB_PARENT_PID") or os.getppid())
LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s"

_real_stderr = sys.__stderr__


def _post(path: str, body: bytes, content_type: str = "application/json") -> None:
    """POST to LocalStack's executor endpoint; failures are written to the process's stderr."""
    request = urllib.request.Request(
        f"{RUNTIME_ENDPOINT}{path}", data=body, method="POST", headers={"Content-Type": content_type}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as reply:
            reply.read()
    except Exception as error:  # noqa: BLE001 - nothing else to tell, LocalStack will time out
        print(f"eventlab bootstrap: POST {path} failed: {error!r}", file=_real_stderr, flush=True)


def _error_document(error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """An exception in the shape AWS's Python runtime reports it."""
    frames = traceback.extract_tb(error.__traceback__)
    # Hide this module's own frames: the user's code starts below them.
    frames = traceback.StackSummary.from_list(
        [f for f in frames if not f.filename.endswith(os.path.basename(__file__))]
    )
    return {
        "errorMessage": str(error),
        "errorType": error_type or type(error).__name__,
        "requestId": "",
        "stackTrace": frames.format(),
    }


def _peak_memory_mb() -> int:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


class _Capture(io.TextIOBase):
    """Stands in for sys.stdout and sys.stderr: collects what the handler writes per invocation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def take(self) -> str:
        with self._lock:
            text, self._parts = "".join(self._parts), []
        return text


class _RequestIdFilter(logging.Filter):
    """Adds the current request id to log records, as the AWS runtime's log handler does."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


class LambdaContext:
    """The ``context`` argument, with the attributes and method of AWS's Python runtime."""

    def __init__(self, request_id: str, invoked_arn: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = str(MEMORY_MB)
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Runtime:
    """One handler process: init once, then invocations in order, each with a timeout."""

    def __init__(self) -> None:
        self.capture = _Capture()
        self.request_filter = _RequestIdFilter()
        self.invocations: queue.Queue[dict[str, Any]] = queue.Queue()
        self.handler: Any = None
        self.init_ms: float | None = None
        self._finish_lock = threading.Lock()
        self._current: dict[str, Any] | None = None

    # -- init -------------------------------------------------------------------------------
    def setup_io(self) -> None:
        sys.stdout = self.capture
        sys.stderr = self.capture
        handler = logging.StreamHandler(self.capture)
        handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
        handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
        handler.addFilter(self.request_filter)
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "WARNING").upper())

    def load_handler(self) -> None:
        """Import ``module.function`` from _HANDLER (``folder/module.function`` also works)."""
        if "." not in HANDLER:
            raise _InitError(
                "Runtime.MalformedHandlerName", f"Bad handler '{HANDLER}': expected module.function"
            )
        module_name, function_name = HANDLER.rsplit(".", 1)
        module_name = module_name.replace("/", ".")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise _InitError(
                "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}"
            ) from error
        except SyntaxError as error:
            raise _InitError(
                "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {error}"
            ) from error
        # Any other exception raised by the module's own init code is reported as itself.
        handler = getattr(module, function_name, None)
        if handler is None:
            raise _InitError(
                "Runtime.HandlerNotFound",
                f"Handler '{function_name}' missing on module '{module_name}'",
            )
        self.handler = handler

    # -- invocations ------------------------------------------------------------------------
    def serve(self) -> int:
        """Start the HTTP server for /invoke; return its port."""
        runtime = self

        class InvokeHandler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.rstrip("/") != "/invoke":
                    self.send_response(404)
                    self.end_headers()
                    return
                runtime.invocations.put(json.loads(body))
                self.send_response(202)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), InvokeHandler)
        threading.Thread(target=server.serve_forever, name="invoke-server", daemon=True).start()
        return int(server.server_address[1])

    def finish(self, request_id: str, ok: bool, body: bytes, extra_log: str = "") -> bool:
        """Post logs, then the result, once per invocation (the handler and watchdog race)."""
        with self._finish_lock:
            if self._current is None or self._current["invoke-id"] != request_id:
                return False
            started = self._current["_started"]
            self._current = None
        duration_ms = (time.monotonic() - started) * 1000
        max_rss_mb = _peak_memory_mb()
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {int(duration_ms) + 1} ms\tMemory Size: {MEMORY_MB} MB\t"
            f"Max Memory Used: {max_rss_mb} MB"
        )
        if self.init_ms is not None:
            report += f"\tInit Duration: {self.init_ms:.2f} ms"
            self.init_ms = None  # only the first invocation of a process is a cold start
        logs = self.capture.take() + extra_log + f"END RequestId: {request_id}\n{report}\n"
        _post(f"/invocations/{request_id}/logs", json.dumps({"logs": logs}).encode())
        _post(f"/invocations/{request_id}/{'response' if ok else 'error'}", body)
        return True

    def run_forever(self) -> None:
        while True:
            invocation = self.invocations.get()
            self.invoke(invocation)

    def invoke(self, invocation: dict[str, Any]) -> None:
        request_id = invocation["invoke-id"]
        deadline = time.monotonic() + TIMEOUT_SECONDS
        invocation["_started"] = time.monotonic()
        with self._finish_lock:
            self._current = invocation
        self.request_filter.request_id = request_id
        os.environ["_X_AMZN_TRACE_ID"] = invocation.get("trace-id") or ""
        self.capture.write(f"START RequestId: {request_id} Version: "
                           f"{os.environ.get('AWS_LAMBDA_FUNCTION_VERSION', '$LATEST')}\n")
        watchdog = threading.Timer(TIMEOUT_SECONDS, self.timed_out, args=(request_id,))
        watchdog.daemon = True
        watchdog.start()
        try:
            context = LambdaContext(request_id, invocation.get("invoked-function-arn", ""), deadline)
            try:
                event = json.loads(invocation.get("payload") or "null")
            except ValueError as error:
                document = _error_document(error, "Runtime.UnmarshalError")
                self._fail(request_id, document, f"Unable to unmarshal input: {error}")
                return
            try:
                result = self.handler(event, context)
            except SystemExit as error:
                code = error.code if isinstance(error.code, int) else 1
                self._exit_error(request_id, f"Runtime exited with error: exit status {code}")
                os._exit(code or 1)
            except Exception as error:  # noqa: BLE001 - reported to the caller as AWS does
                if error.__traceback__ is not None:  # drop this frame: the user's code starts below
                    error = error.with_traceback(error.__traceback__.tb_next)
                document = _error_document(error)
                document["requestId"] = request_id
                summary = "".join(traceback.format_exception(error)).rstrip("\n")
                self._fail(request_id, document, f"[ERROR] {type(error).__name__}: {error}\n{summary}")
                return
            try:
                body = json.dumps(result).encode()
            except (TypeError, ValueError) as error:
                document = {
                    "errorMessage": f"Unable to marshal response: {error}",
                    "errorType": "Runtime.MarshalError",
                    "requestId": request_id,
                    "stackTrace": [],
                }
                self._fail(request_id, document, f"[ERROR] Runtime.MarshalError: {error}")
                return
            self.finish(request_id, True, body)
        finally:
            watchdog.cancel()

    def _fail(self, request_id: str, document: dict[str, Any], log_line: str) -> None:
        self.capture.write(log_line.rstrip("\n") + "\n")
        self.finish(request_id, False, json.dumps(document).encode())

    def _exit_error(self, request_id: str, message: str) -> None:
        document = {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {request_id} Error: {message}"}
        self.finish(request_id, False, json.dumps(document).encode(), f"{document['errorMessage']}\n")

    def timed_out(self, request_id: str) -> None:
        """The watchdog: report the timeout as AWS does, then end this process (sandbox reset)."""
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        seconds = f"{TIMEOUT_SECONDS:.2f}"
        document = {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {request_id} Error: Task timed out after {seconds} seconds",
        }
        log_line = f"{stamp} {request_id} Task timed out after {seconds} seconds\n"
        if self.finish(request_id, False, json.dumps(document).encode(), log_line):
            os._exit(124)


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _watch_parent() -> None:
    """End this process when LocalStack (the parent) is gone, whatever way it ended."""
    while True:
        if os.getppid() != PARENT_PID:
            os._exit(0)
        time.sleep(0.5)


def main() -> None:
    threading.Thread(target=_watch_parent, name="parent-watch", daemon=True).start()
    sys.path.insert(0, TASK_ROOT)
    os.chdir(TASK_ROOT)
    runtime = Runtime()
    port = runtime.serve()
    runtime.setup_io()
    ready_path = f"/status/{RUNTIME_ID}"
    try:
        runtime.load_handler()
    except _InitError as error:
        document = {"errorMessage": str(error), "errorType": error.error_type, "stackTrace": []}
        print(f"[ERROR] {error.error_type}: {error}", file=_real_stderr, flush=True)
        _post(f"{ready_path}/error", json.dumps(document).encode())
        sys.exit(1)
    except BaseException as error:  # noqa: BLE001 - init code of the handler failed
        document = _error_document(error, "Runtime.Unknown" if isinstance(error, SystemExit) else None)
        print("".join(traceback.format_exception(error)), file=_real_stderr, flush=True)
        _post(f"{ready_path}/error", json.dumps(document).encode())
        sys.exit(1)
    runtime.init_ms = (time.time() - SPAWNED_AT) * 1000
    # Init output (module-level prints) belongs to the first invocation's log, as on AWS.
    _post(f"{ready_path}/ready", json.dumps({"port": port, "pid": os.getpid()}).encode())
    runtime.run_forever()


if __name__ == "__main__":
    main()
