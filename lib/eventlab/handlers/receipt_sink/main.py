"""Lambda handler for the path comparison: report every record it was invoked with.

It POSTs the records to the receipt sink named by ``EVENTLAB_SINK_URL`` (an
:class:`eventlab.measure.consumers.HttpReceiver` on 127.0.0.1), in the sink's format:
``{"consumer": ..., "items": [{"payload": ..., "received_ns": ...}]}``. Standard library only,
so the function needs no packages. The receipt time is taken first thing.
"""

import json
import os
import time
import urllib.request


def handler(event, context):
    received_ns = time.time_ns()
    records = event.get("Records") or [event]
    items = [{"payload": record.get("body", record), "received_ns": received_ns} for record in records]
    body = json.dumps({"consumer": context.function_name, "items": items}).encode()
    request = urllib.request.Request(
        os.environ["EVENTLAB_SINK_URL"], data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()
    return {"batchItemFailures": []}
