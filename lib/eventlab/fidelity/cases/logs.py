"""CloudWatch Logs cases: a JSON filter pattern selects lines by a field (notebook 08's trace of
one correlation id through the pipeline)."""

from __future__ import annotations

import json
import time

from eventlab.fidelity.model import Case, doc
from eventlab.run import Run
from eventlab.services import logs

FILTER_SYNTAX = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html"


def json_filter(run: Run) -> str:
    """Two JSON lines with different correlation ids; FilterLogEvents with a pattern on one id."""
    group = logs.create_log_group(run, run.name("filter", max_length=logs.LOG_GROUP_MAX_CHARS))
    client = run.target.client("logs")
    client.create_log_stream(logGroupName=group, logStreamName="s")
    now = time.time_ns() // 1_000_000
    client.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": now + i, "message": json.dumps({"correlation_id": cid, "hop": "producer"})} for i, cid in enumerate(("a-1", "b-2"))
    ])
    lines = logs.filter_log_events(run, group, '{ $.correlation_id = "a-1" }')
    return f"{len(lines)} of 2 lines returned"


CASES = [
    Case("logs.filter-pattern.json-field", "logs", "a JSON filter pattern returns only the log events whose field has the value",
         "1 of 2 lines returned",
         doc(FILTER_SYNTAX, "Metric filters and FilterLogEvents match JSON log events with selectors such as { $.eventType = \"UpdateTrail\" }; only events whose field equals the value match."),
         json_filter),
]
