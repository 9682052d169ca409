"""What every e-commerce handler shares: clients, events on the bus, and idempotent side effects.

Handlers receive at-least-once deliveries (SQS, SNS, EventBridge and Kinesis all redeliver),
so every side effect runs through eventlab's idempotency store (``idempotency.py``, bundled
into this package by ``bundle.txt``): an S3 object written with ``IfNoneMatch="*"``, which S3
(and LocalStack) lets exactly one writer create. The first delivery claims and acts; a
duplicate finds the claim done and skips. If the side effect fails, the claim is released so
the retry does the work: a failure never makes a message count as done. A duplicate that
arrives while the first is still running raises, so its delivery is retried later.

Configuration (environment, set by the topology): BUS_SHOP_NAME, BUCKET_STATE_NAME.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from idempotency import IdempotencyStore, idempotent

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
SOURCE = "shop"
DELIVERIES = "deliveries/"  # one object per delivery handled, under the side effect's key
# Fault injection, off unless set: report each SQS record as failed on its first receive, after
# its side effects ran, as a function that crashes before Lambda deletes the message would.
CRASH_ENV = "CRASH_AFTER_EFFECT_ON_FIRST_RECEIVE"
_receive: dict[str, str] = {}  # the SQS receive count of the record being processed, if any
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    """One client per service per execution environment, reused while the process is warm."""
    if service not in _clients:
        _clients[service] = boto3.client(service)
    return _clients[service]


def state_bucket() -> str:
    return os.environ["BUCKET_STATE_NAME"]


def put_event(detail_type: str, detail: dict[str, Any]) -> None:
    """Put one event on the shop bus, as ``shop.<SERVICE>``; raise if EventBridge rejects it (so
    the delivery is retried)."""
    source = f"{SOURCE}.{os.environ.get('SERVICE', 'service')}"
    reply = client("events").put_events(
        Entries=[{"EventBusName": os.environ["BUS_SHOP_NAME"], "Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}]
    )
    if reply.get("FailedEntryCount"):
        raise RuntimeError(f"put_events rejected {detail_type}: {reply['Entries']}")
    logger.info("put %s %s", detail_type, detail.get("orderId", ""))


def store() -> IdempotencyStore:
    """The idempotency store in the state bucket (claims kept a day: longer than any retry)."""
    if "store" not in _clients:
        _clients["store"] = IdempotencyStore(client("s3"), state_bucket(), namespace="claims", expires_after=86_400)
    return _clients["store"]  # type: ignore[no-any-return]


def once(key: str, effect: Callable[[], None]) -> bool:
    """Run ``effect`` once per key across duplicates (and again only if it failed); True if this
    delivery ran it, False if it was a duplicate.

    Each delivery handled is also written down, after the fact, under ``deliveries/<key>/``
    (``{"acted": ...}``, with SQS's ``receive`` count when an SQS record brought it), so an
    observer can wait for a duplicate to have been handled before it counts side effects (see
    :meth:`eventlab.patterns.ecommerce.Shop.deliveries`).
    """
    acted: list[bool] = []

    def run() -> None:
        acted.append(True)
        effect()

    idempotent(store(), key_fn=lambda: key)(run)()
    put_json(f"{DELIVERIES}{key}/{uuid.uuid4().hex}.json", {"acted": bool(acted), **_receive})
    if not acted:
        logger.info("duplicate of %s: already done, skipped", key)
    return bool(acted)


def put_json(key: str, value: Any) -> None:
    client("s3").put_object(Bucket=state_bucket(), Key=key, Body=json.dumps(value).encode(), ContentType="application/json")


def sqs_batch(event: dict[str, Any], process: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Process SQS records one by one; report the failed ones so only they are retried (and,
    with the fault injection of ``CRASH_ENV``, each record on its first receive)."""
    failures = []
    for record in event.get("Records", []):
        receive = str(record.get("attributes", {}).get("ApproximateReceiveCount", ""))
        _receive.clear()
        _receive.update({"receive": receive} if receive else {})
        try:
            process(json.loads(record["body"]))
            if os.environ.get(CRASH_ENV) == "1" and receive == "1":
                raise RuntimeError(f"{CRASH_ENV}: failing record {record.get('messageId')} after its side effects")
        except Exception:
            logger.exception("record %s failed; SQS will redeliver it", record.get("messageId"))
            failures.append({"itemIdentifier": record["messageId"]})
        finally:
            _receive.clear()
    return {"batchItemFailures": failures}


def kinesis_records(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(sequence number, decoded JSON) for each record of a Kinesis batch."""
    import base64

    for record in event.get("Records", []):
        kinesis = record["kinesis"]
        yield kinesis["sequenceNumber"], json.loads(base64.b64decode(kinesis["data"]))
