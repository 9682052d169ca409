"""The Lambda Runtime API for one execution environment, on 127.0.0.1 (stdlib only).

The contract is AWS's "Using the Lambda runtime API for custom runtimes" (version 2018-06-01):

- ``GET  /2018-06-01/runtime/invocation/next`` blocks until there is an event, then answers it
  with the headers ``Lambda-Runtime-Aws-Request-Id``, ``-Deadline-Ms``,
  ``-Invoked-Function-Arn``, ``-Trace-Id`` (and ``-Client-Context``/``-Cognito-Identity`` when
  set). The first call ends the Init phase.
- ``POST /2018-06-01/runtime/invocation/{id}/response``: the result, at most
  :data:`~eventlab_lambda_runtime.RESPONSE_LIMIT_BYTES`; a bigger one is refused with 413 and
  the invocation fails with ``Function.ResponseSizeTooLarge``, as on AWS.
- ``POST /2018-06-01/runtime/invocation/{id}/error`` and ``POST /2018-06-01/runtime/init/error``:
  an error document, its type in ``Lambda-Runtime-Function-Error-Type``.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eventlab_lambda_runtime import RESPONSE_LIMIT_BYTES

PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
TOO_LARGE_TYPE = "Function.ResponseSizeTooLarge"
TOO_LARGE_MESSAGE = (
    f"Response payload size exceeded maximum allowed payload size ({RESPONSE_LIMIT_BYTES} bytes)."
)


@dataclass
class Invocation:
    """One event handed to the runtime, and what it answered."""

    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str = ""
    client_context: str | None = None
    cognito_identity: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False
    body: bytes = b""
    error_type: str | None = None

    def finish(self, ok: bool, body: bytes, error_type: str | None = None) -> None:
        if not self.done.is_set():
            self.ok, self.body, self.error_type = ok, body, error_type
            self.done.set()


class RuntimeApi:
    """Serves the Runtime API to one runtime process; the host queues events and waits."""

    def __init__(self) -> None:
        self.events: queue.Queue[Invocation | None] = queue.Queue()
        self.current: Invocation | None = None
        self.init_done = threading.Event()
        self.init_done_at: float | None = None
        self.init_error: tuple[str, bytes] | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lambda-runtime-api", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def submit(self, invocation: Invocation) -> None:
        self.events.put(invocation)

    def close(self) -> None:
        """Stop serving; a runtime blocked in ``next`` gets its connection closed."""
        self.events.put(None)
        self._server.shutdown()
        self._server.server_close()

    # -- the HTTP side -----------------------------------------------------------------------
    def _next(self) -> Invocation | None:
        if not self.init_done.is_set():
            self.init_done_at = time.monotonic()
            self.init_done.set()
        invocation = self.events.get()
        if invocation is None:
            self.events.put(None)  # wake any other waiter too
            return None
        with self._lock:
            self.current = invocation
        return invocation

    def _find(self, request_id: str) -> Invocation | None:
        with self._lock:
            current = self.current
        return current if current is not None and current.request_id == request_id else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                    return b"".join(parts)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reply(self, status: int, document: dict[str, Any] | None = None,
                       headers: dict[str, str] | None = None, raw: bytes | None = None) -> None:
                body = raw if raw is not None else json.dumps(document or {"status": "OK"}).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._reply(HTTPStatus.NOT_FOUND, {"errorType": "InvalidRequest",
                                                       "errorMessage": f"no such path {self.path}"})
                    return
                invocation = api._next()
                if invocation is None:
                    self.close_connection = True
                    self._reply(HTTPStatus.GONE, {"errorType": "Shutdown", "errorMessage": "stopping"})
                    return
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                    "Lambda-Runtime-Trace-Id": invocation.trace_id,
                }
                if invocation.client_context:
                    headers["Lambda-Runtime-Client-Context"] = invocation.client_context
                if invocation.cognito_identity:
                    headers["Lambda-Runtime-Cognito-Identity"] = invocation.cognito_identity
                self._reply(HTTPStatus.OK, headers=headers, raw=invocation.payload)

            def do_POST(self) -> None:
                body = self._body()
                path = self.path
                if path == f"{PREFIX}/init/error":
                    api.init_error = (self.headers.get(ERROR_TYPE_HEADER) or "Runtime.Unknown", body)
                    if not api.init_done.is_set():
                        api.init_done_at = time.monotonic()
                        api.init_done.set()
                    self._reply(HTTPStatus.ACCEPTED)
                    return
                parts = path[len(PREFIX):].strip("/").split("/")
                if len(parts) != 3 or parts[0] != "invocation" or parts[2] not in ("response", "error"):
                    self._reply(HTTPStatus.NOT_FOUND, {"errorType": "InvalidRequest",
                                                       "errorMessage": f"no such path {path}"})
                    return
                invocation = api._find(parts[1])
                if invocation is None or invocation.done.is_set():
                    self._reply(HTTPStatus.BAD_REQUEST, {"errorType": "InvalidRequestID",
                                                         "errorMessage": "Invalid request ID"})
                    return
                if parts[2] == "error":
                    error_type = self.headers.get(ERROR_TYPE_HEADER)
                    invocation.finish(False, body, error_type)
                    self._reply(HTTPStatus.ACCEPTED)
                elif len(body) > RESPONSE_LIMIT_BYTES:
                    document = {"errorMessage": TOO_LARGE_MESSAGE, "errorType": TOO_LARGE_TYPE}
                    invocation.finish(False, json.dumps(document).encode(), TOO_LARGE_TYPE)
                    self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                {"errorMessage": TOO_LARGE_MESSAGE, "errorType": "RequestEntityTooLarge"})
                else:
                    invocation.finish(True, body)
                    self._reply(HTTPStatus.ACCEPTED)

        return Handler
