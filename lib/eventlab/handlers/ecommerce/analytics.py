"""Real-time clickstream analysis (standing in for Kinesis Data Analytics), and the archiver.

``analytics``: tumbling windows of WINDOW_SECONDS by event time.
  - trending products: per window, product views are counted per batch and written to
    ``analytics/views/<window>/<shard>-<first sequence>.json``. A retried batch rewrites the
    same object, so counts are exact under redelivery; the reader sums a window's objects.
  - fraud: a customer who tries FRAUD_CARDS or more distinct cards in one window is suspect.
    Each (window, customer, card) is an S3 object; once a customer's window holds enough, a
    FraudSuspected event is put on the bus, once.

``archive``: forward every record to the Firehose delivery stream, newline-delimited JSON.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

from common import client, kinesis_records, once, put_event, put_json, state_bucket

WINDOW_SECONDS = int(os.environ.get("WINDOW_SECONDS", "60"))
FRAUD_CARDS = int(os.environ.get("FRAUD_CARDS", "3"))


def window_of(click: dict[str, Any]) -> int:
    return int(click["ts"]) // WINDOW_SECONDS * WINDOW_SECONDS


def analytics(event: dict[str, Any], context: Any) -> None:
    records = list(kinesis_records(event))
    if not records:
        return
    shard = event["Records"][0]["eventID"].split(":")[0]
    first_sequence = records[0][0]
    views: dict[int, Counter[str]] = {}
    for _, click in records:
        if click["type"] == "view":
            views.setdefault(window_of(click), Counter())[click["sku"]] += 1
        elif click["type"] == "payment_attempt":
            window, customer = window_of(click), click["customerId"]
            put_json(f"analytics/cards/{window}/{customer}/{click['card']}", {"ts": click["ts"]})
            listed = client("s3").list_objects_v2(Bucket=state_bucket(), Prefix=f"analytics/cards/{window}/{customer}/")
            cards = listed.get("KeyCount", 0)
            if cards >= FRAUD_CARDS:
                once(
                    f"fraud/{window}/{customer}",
                    lambda customer=customer, window=window, cards=cards: put_event(
                        "FraudSuspected", {"customerId": customer, "window": window, "distinctCards": cards}
                    ),
                )
    for window, counts in views.items():
        put_json(f"analytics/views/{window}/{shard}-{first_sequence}.json", dict(counts))


def archive(event: dict[str, Any], context: Any) -> None:
    records = [{"Data": (json.dumps(click) + "\n").encode()} for _, click in kinesis_records(event)]
    for start in range(0, len(records), 500):
        reply = client("firehose").put_record_batch(DeliveryStreamName=os.environ["FIREHOSE_CLICKS_TO_LAKE_NAME"], Records=records[start : start + 500])
        if reply.get("FailedPutCount"):
            raise RuntimeError(f"Firehose refused {reply['FailedPutCount']} records; the batch will be retried")
