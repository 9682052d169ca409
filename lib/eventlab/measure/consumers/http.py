"""The HTTP receiver on 127.0.0.1: an SNS HTTP subscriber, and the sink Lambda handlers report to."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from eventlab.measure import sink
from eventlab.measure.probes import ReceiptLog

log = logging.getLogger(__name__)


class HttpReceiver:
    """A receipt-recording HTTP server on 127.0.0.1 (a free port unless given).

    - SNS: subscribe ``receiver.url`` with protocol ``http``; it confirms the subscription
      by fetching the SubscribeURL, and records each Notification's probe (path ``http``).
    - Lambda sink: a handler POSTs ``{"consumer": ..., "items": [{"payload", "received_ns"}]}``
      to :attr:`sink_url` (:mod:`eventlab.measure.sink`); recorded under path ``lambda``.
    - Anything else POSTed that holds a probe is recorded too.

    ``notification_status`` is the HTTP status it answers each notification with, after recording
    it: 200, or e.g. 500 to play a failing subscriber whose every delivery attempt is counted.
    """

    def __init__(self, receipts: ReceiptLog, *, path: str = "http", sink_path: str = "lambda", host: str = "127.0.0.1", port: int = 0,
                 notification_status: int = 200) -> None:
        self.receipts = receipts
        self.notification_status = notification_status
        self.path = path
        self.sink_label = sink_path
        self.confirmed: list[str] = []
        # Every non-sink POST body, probe or not (e.g. business events for an analytics endpoint).
        self.bodies: list[dict[str, Any]] = []
        self.requests = 0
        self._confirm = threading.Condition()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received_ns = time.time_ns()
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                try:
                    status = outer._on_post(self.path, self.headers.get("x-amz-sns-message-type", ""), body, received_ns)
                except Exception:
                    log.exception("http receiver: could not handle a POST to %s", self.path)
                    status = 500
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http receiver: " + format, *args)

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def sink_url(self) -> str:
        """Where a Lambda handler reports receipts (give it to the function as ``EVENTLAB_SINK_URL``)."""
        return self.url.rstrip("/") + sink.SINK_PATH

    def _on_post(self, url_path: str, sns_type: str, body: bytes, received_ns: int) -> int:
        self.requests += 1
        if url_path.startswith(sink.SINK_PATH):
            consumer, items = sink.decode(body)
            for payload, sent_ns in items:
                self.receipts.record_payload(payload, path=self.sink_label, consumer=consumer, received_ns=int(sent_ns or received_ns))
            return 200
        doc = json.loads(body) if body else {}
        kind = sns_type or doc.get("Type", "")
        if kind == "SubscriptionConfirmation":
            with urllib.request.urlopen(doc["SubscribeURL"], timeout=10) as response:
                response.read()
            with self._confirm:
                self.confirmed.append(doc.get("TopicArn", ""))
                self._confirm.notify_all()
            log.info("http receiver confirmed the SNS subscription to %s", doc.get("TopicArn"))
            return 200
        if kind == "UnsubscribeConfirmation":
            return 200
        self.bodies.append(doc)
        self.receipts.record_payload(doc, path=self.path, consumer="http", received_ns=received_ns, source=doc.get("MessageId", ""))
        return self.notification_status

    def wait_confirmed(self, topic_arn: str, timeout: float = 10.0) -> None:
        """Block until SNS has asked this server to confirm a subscription to ``topic_arn``."""
        deadline = time.monotonic() + timeout
        with self._confirm:
            while topic_arn not in self.confirmed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"no SubscriptionConfirmation from {topic_arn} at {self.url} within {timeout} s: "
                        "is the subscription's endpoint this receiver's url, and can the service reach 127.0.0.1?"
                    )
                self._confirm.wait(left)

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="http-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LambdaSink:
    """The hook for Lambda consumers: where a function reports the probes it was invoked with.

    Wraps an :class:`HttpReceiver`; :meth:`environment` is what to add to the function's
    environment; the handler reports with :func:`eventlab.measure.sink.report_receipts` (the
    ``receipt_sink`` handler does).
    Lambda itself is not needed here: any process that can POST to 127.0.0.1 can report.
    """

    def __init__(self, receiver: HttpReceiver) -> None:
        self.receiver = receiver

    @property
    def url(self) -> str:
        return self.receiver.sink_url

    def environment(self) -> dict[str, str]:
        return {sink.SINK_ENV: self.url}
