"""Batch probe: logs, per invocation, when it started and ended and which records it was given.

Notebook 05 reads these lines back from CloudWatch Logs to see what an SQS event source mapping
does over time: how many records each batch carried (the batching window, the batch size) and
how many invocations ran at once (concurrency), from the handler's own clock. ``SLEEP_SECONDS``
(default 0) makes each invocation take that long, as a slow handler would.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

MARKER = "batch_probe"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    start = time.time()
    records = event.get("Records", [])
    time.sleep(float(os.environ.get("SLEEP_SECONDS", "0")))
    print(json.dumps({MARKER: {
        "request_id": getattr(context, "aws_request_id", ""),
        "start": start,
        "end": time.time(),
        "size": len(records),
        "bodies": [r.get("body", "") for r in records],
    }}))
    return {"batchItemFailures": []}
