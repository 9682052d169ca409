"""A test handler whose behaviour the event chooses: echo, fail, sleep, crash, or consume batches.

Whatever it is asked to record it sends to the queue in SINK_QUEUE_URL, with its own boto3
client: that also proves the handler's AWS calls reach the emulator, not AWS.
"""

import json
import logging
import os
import time

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)
print("probe: module imported")

_sqs = None


def _sink(record):
    global _sqs
    if _sqs is None:
        _sqs = boto3.client("sqs")
    _sqs.send_message(QueueUrl=os.environ["SINK_QUEUE_URL"], MessageBody=json.dumps(record))


def handler(event, context):
    if isinstance(event, dict) and "Records" in event and event["Records"][0].get("eventSource") == "aws:sqs":
        return _consume(event["Records"])
    if isinstance(event, dict) and event.get("Records") and "Sns" in event["Records"][0]:
        _sink({"from": "sns", "message": event["Records"][0]["Sns"]["Message"], "pid": os.getpid()})
        return None
    if isinstance(event, dict) and "detail-type" in event:
        _sink({"from": "events", "detail": event["detail"], "pid": os.getpid()})
        return None
    event = event or {}
    print(f"probe: marker {event.get('marker', '-')}")
    logger.info("probe: request %s", context.aws_request_id)
    if event.get("sink"):
        _sink({"from": "invoke", "marker": event.get("marker"), "pid": os.getpid()})
    if event.get("sleep"):
        time.sleep(float(event["sleep"]))
    if event.get("exit") is not None:
        os._exit(int(event["exit"]))
    if event.get("fail"):
        raise ValueError(f"probe asked to fail: {event['fail']}")
    return {
        "pid": os.getpid(),
        "event": event,
        "env": {k: os.environ.get(k) for k in ("X", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME")},
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


def _consume(records):
    """Report each record whose body says "poison" as a batch item failure; sink the rest."""
    failures = []
    for record in records:
        body = record["body"]
        if "poison" in body:
            logger.warning("probe: rejecting %s", record["messageId"])
            failures.append({"itemIdentifier": record["messageId"]})
        else:
            _sink({"from": "sqs", "body": body, "batch": len(records), "pid": os.getpid()})
    return {"batchItemFailures": failures}
