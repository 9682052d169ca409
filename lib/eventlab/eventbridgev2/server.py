"""The server in this process: HTTP on 127.0.0.1, the operations, and the delivery engine.

    with EventBridgeV2Server(state_dir=..., backend_endpoint="http://127.0.0.1:4566") as server:
        client = boto3.client("eventbridgev2", endpoint_url=server.endpoint_url, region_name=...)

``python -m eventlab.eventbridgev2`` runs one as its own process, and
:class:`eventlab.eventbridgev2.embedded.EmbeddedEventBridgeV2` starts and stops that process.
Besides the API it answers ``GET /_eventlab/health`` (readiness) and
``GET /_eventlab/eventbridgev2/stats`` (delivery counters per subscriber, for tests and
debugging).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from eventlab.eventbridgev2.delivery import DeliveryEngine
from eventlab.eventbridgev2.model import API_VERSION, load_service_model
from eventlab.eventbridgev2.protocol import RpcV2CborHandler
from eventlab.eventbridgev2.service import DEFAULT_MAX_EVENT_BUSES, EventBusService
from eventlab.eventbridgev2.store import Store
from eventlab.eventbridgev2.targets import TargetClients
from eventlab.runtime.companions import HEALTH_PATH

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT_ID = "000000000000"
STATS_PATH = "/_eventlab/eventbridgev2/stats"
MAX_BODY = 8 * 1024 * 1024


class ServerError(RuntimeError):
    """The server cannot start as asked; the message names the problem and the fix."""


def require_loopback(host: str) -> None:
    """Refuse any address but loopback: the server has no authentication."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ServerError(
            f"refusing to listen on {host!r}: eventlab's Custom Event Bus server has no "
            "authentication and listens on loopback only. Use 127.0.0.1."
        )


class EventBridgeV2Server:
    """The eventbridgev2 API on ``host:port`` (port 0: a free one), delivering to the backend."""

    def __init__(
        self,
        *,
        state_dir: Path,
        backend_endpoint: str,
        region: str = "us-east-1",
        host: str = "127.0.0.1",
        port: int = 0,
        account_id: str = DEFAULT_ACCOUNT_ID,
        clock: Callable[[], float] = time.time,
        provisioning_delay: float = 0.5,
        max_event_buses: int = DEFAULT_MAX_EVENT_BUSES,
        retry_base_delay: float = 1.0,
        retry_max_delay: float = 60.0,
        access_key: str = "test",
        secret_key: str = "test",
    ) -> None:
        require_loopback(host)
        self.state_dir = Path(state_dir)
        self.backend_endpoint = backend_endpoint.rstrip("/")
        self.region = region
        self.host = host
        self.requested_port = port
        self.account_id = account_id
        self.clock = clock
        self.provisioning_delay = provisioning_delay
        self.max_event_buses = max_event_buses
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self.access_key = access_key
        self.secret_key = secret_key
        self.store: Store | None = None
        self.service: EventBusService | None = None
        self.engine: DeliveryEngine | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise ServerError("the server is not started: call start() or use `with`")
        return int(self._httpd.server_address[1])

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def health(self) -> dict[str, Any]:
        import botocore

        return {
            "status": "running",
            "service": "eventbridgev2",
            "apiVersion": API_VERSION,
            "botocore": botocore.__version__,
            "endpoint_url": self.endpoint_url,
            "backend_endpoint": self.backend_endpoint,
            "state_dir": str(self.state_dir),
            "region": self.region,
        }

    def start(self) -> Self:
        model = load_service_model()
        self.store = Store(self.state_dir)
        engine_ref: list[DeliveryEngine] = []
        self.service = EventBusService(
            self.store, region=self.region, account_id=self.account_id, clock=self.clock,
            provisioning_delay=self.provisioning_delay, max_event_buses=self.max_event_buses,
            notify=lambda: engine_ref[0].notify() if engine_ref else None,
        )
        targets = TargetClients(self.backend_endpoint, self.region, access_key=self.access_key,
                                secret_key=self.secret_key, forwarder=self.service.forward)
        self.engine = DeliveryEngine(
            self.store, targets, clock=self.clock, retry_base_delay=self.retry_base_delay,
            retry_max_delay=self.retry_max_delay, on_tick=self.service.settle,
        )
        engine_ref.append(self.engine)
        handler = RpcV2CborHandler(self.service, model, region=self.region)
        try:
            self._httpd = _HTTPServer((self.host, self.requested_port), _make_handler(self, handler))
        except OSError as error:
            self.store.close()
            raise ServerError(
                f"cannot listen on {self.host}:{self.requested_port} ({error}). Choose another port, "
                "or 0 for a free one."
            ) from None
        self.engine.start()
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="eventbridgev2-http", daemon=True)
        self._thread.start()
        log.info("eventbridgev2 listening on %s (state %s, backend %s)", self.endpoint_url, self.state_dir,
                 self.backend_endpoint)
        return self

    def stop(self) -> None:
        """Stop serving, let in-flight deliveries finish, and close the state file."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self.engine is not None:
            self.engine.stop()
            self.engine = None
        if self.store is not None:
            self.store.close()
            self.store = None
        log.info("eventbridgev2 stopped")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _make_handler(server: EventBridgeV2Server, rpc: RpcV2CborHandler) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "eventlab-eventbridgev2"
        # Headers and body go out in two writes; without this, Nagle's algorithm and the client's
        # delayed ACK add about 40 ms to every keep-alive request.
        disable_nagle_algorithm = True

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, document: Any) -> None:
            body = json.dumps(document, default=str).encode()
            self._send(status, {"Content-Type": "application/json", "Content-Length": str(len(body))}, body)

        def do_GET(self) -> None:
            if self.path == HEALTH_PATH:
                self._json(200, server.health())
            elif self.path == STATS_PATH and server.engine is not None:
                self._json(200, server.engine.snapshot())
            else:
                self._send(*rpc.handle("GET", self.path, dict(self.headers), b""))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(*rpc.error("SerializationException", f"request body over {MAX_BODY} bytes", 413))
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            self._send(*rpc.handle("POST", self.path, dict(self.headers), body))

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return Handler
