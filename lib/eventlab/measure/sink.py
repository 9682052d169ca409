"""The receipt sink's wire format: how a Lambda handler reports the probes it was invoked with,
and how the measurement's HTTP receiver reads that report. One definition for both sides.

A report is one POST of JSON to ``<receiver>/receipts`` (:data:`SINK_PATH`)::

    {"consumer": "<function name>", "items": [{"payload": <probe payload>, "received_ns": <int>}]}

The function learns the URL from its environment (:data:`SINK_ENV`). Standard library only and
no eventlab import: the ``receipt_sink`` handler bundles this file (its ``bundle.txt``), so a
function needs no extra packages, here or on AWS.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.request
from typing import Any

SINK_PATH = "/receipts"
SINK_ENV = "EVENTLAB_SINK_URL"


def event_payloads(event: dict[str, Any]) -> list[Any]:
    """The probe payloads inside a Lambda event: SQS, SNS or Kinesis records, or the event itself
    (an EventBridge event, a direct invoke)."""
    records = event.get("Records")
    if not records:
        return [event]
    payloads: list[Any] = []
    for record in records:
        if "body" in record:
            payloads.append(record["body"])
        elif "Sns" in record:
            payloads.append(record["Sns"]["Message"])
        elif "kinesis" in record:
            payloads.append(base64.b64decode(record["kinesis"]["data"]).decode())
        else:
            payloads.append(record)
    return payloads


def encode(event: dict[str, Any], *, consumer: str, received_ns: int) -> bytes:
    """The report of one invocation, as POSTed."""
    items = [{"payload": payload, "received_ns": received_ns} for payload in event_payloads(event)]
    return json.dumps({"consumer": consumer, "items": items}).encode()


def decode(body: bytes) -> tuple[str, list[tuple[Any, int | None]]]:
    """A report as the receiver reads it: the consumer's name and (payload, receipt time) pairs."""
    document = json.loads(body)
    items = [(item["payload"], item.get("received_ns")) for item in document.get("items", [])]
    return str(document.get("consumer", "lambda")), items


def report_receipts(
    sink_url: str | None, event: dict[str, Any], *, consumer: str = "lambda", received_ns: int | None = None,
    timeout: float = 5.0,
) -> None:
    """From a Lambda handler: report the probes in ``event`` to the sink at ``sink_url`` (None:
    the function's :data:`SINK_ENV`). Call it first thing, or pass the ``received_ns`` taken then."""
    received_ns = received_ns or time.time_ns()
    url = sink_url or os.environ[SINK_ENV]
    request = urllib.request.Request(
        url, data=encode(event, consumer=consumer, received_ns=received_ns),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
