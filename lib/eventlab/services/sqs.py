"""SQS queues: standard and FIFO, DLQs and redrive, least-privilege queue policies."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from eventlab import policies
from eventlab.run import Run, resource_kind
from eventlab.target import Target
from eventlab.waiting import until

log = logging.getLogger(__name__)

FIFO_SUFFIX = ".fifo"
# Limits from the SQS API reference and quota pages; the topology validator reads them here.
MAX_NAME = 80  # the whole name, ".fifo" included
NAME_PATTERN = r"[A-Za-z0-9_-]+(\.fifo)?"
# (minimum, maximum) of each queue attribute eventlab sets (CreateQueue, SetQueueAttributes).
ATTRIBUTE_RANGES: dict[str, tuple[int, int]] = {
    "VisibilityTimeout": (0, 43_200),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "DelaySeconds": (0, 900),
    "MessageRetentionPeriod": (60, 1_209_600),
    "MaximumMessageSize": (1_024, 1_048_576),
}
MAX_RECEIVE_COUNT = (1, 1_000)  # the redrive policy's maxReceiveCount
MAX_TAGS = 50
# Queue policy quotas (SQS developer guide, "Amazon SQS policy quotas").
POLICY_MAX_BYTES = 8_192
POLICY_MAX_STATEMENTS = 20
POLICY_QUOTA = policies.Quota("SQS", POLICY_MAX_BYTES, POLICY_MAX_STATEMENTS)
(SEND_ACTION,) = policies.SENDS_TO["sqs"][0].actions  # what a queue policy lets a service do


@dataclass(frozen=True)
class Queue:
    name: str
    url: str
    arn: str

    @property
    def fifo(self) -> bool:
        return self.name.endswith(FIFO_SUFFIX)


def create_queue(
    run: Run,
    base: str,
    *,
    fifo: bool = False,
    content_based_deduplication: bool = False,
    attributes: Mapping[str, str | int] | None = None,
    dead_letter_queue: Queue | None = None,
    max_receive_count: int = 5,
    encrypted: bool = True,
    tags: Mapping[str, str] | None = None,
) -> Queue:
    """Create a queue named for the run; FIFO names get their ``.fifo`` suffix here.

    Validates before calling AWS: a base name that already ends in ``.fifo``, content
    deduplication on a standard queue, and a DLQ whose type differs from the queue's.
    """
    if base.endswith(FIFO_SUFFIX):
        raise ValueError(
            f"queue {base!r}: give the base name without '.fifo' and pass fifo=True; "
            "eventlab adds the suffix that AWS requires of FIFO queue names."
        )
    if content_based_deduplication and not fifo:
        raise ValueError(f"queue {base!r}: content-based deduplication needs fifo=True.")
    if dead_letter_queue is not None and dead_letter_queue.fifo != fifo:
        kind = "FIFO" if fifo else "standard"
        raise ValueError(
            f"queue {base!r} is {kind} but its DLQ {dead_letter_queue.name} is not: "
            "a FIFO queue's DLQ must be FIFO and a standard queue's must be standard."
        )
    low, high = MAX_RECEIVE_COUNT
    if not low <= max_receive_count <= high:
        raise ValueError(f"max_receive_count={max_receive_count}: AWS allows {low} to {high}.")

    name = run.name(base, suffix=FIFO_SUFFIX if fifo else "", max_length=MAX_NAME)
    attrs: dict[str, str] = {k: str(v) for k, v in (attributes or {}).items()}
    if fifo:
        attrs["FifoQueue"] = "true"
        if content_based_deduplication:
            attrs["ContentBasedDeduplication"] = "true"
    if encrypted and "KmsMasterKeyId" not in attrs:
        attrs.setdefault("SqsManagedSseEnabled", "true")
    if dead_letter_queue is not None:
        attrs["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dead_letter_queue.arn, "maxReceiveCount": max_receive_count}
        )

    client = run.target.client("sqs")
    url = client.create_queue(QueueName=name, Attributes=attrs, tags={**(tags or {}), **run.tags})["QueueUrl"]
    run.track(QUEUE, name, url, lambda: client.delete_queue(QueueUrl=url))
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return Queue(name=name, url=url, arn=arn)


def allow_senders(run: Run, queue: Queue, *, service: str, source_arns: Iterable[str]) -> policies.Policy:
    """Let ``service`` (sns/events/s3) send to the queue, also for the given source ARNs
    (added to those the queue's policy already admits)."""
    return merge_queue_policy(run, queue, {service: source_arns})


def merge_queue_policy(run: Run, queue: Queue, grants: Mapping[str, Iterable[str]]) -> policies.Policy:
    """Add grants to the queue's policy: each service principal may send for its source ARNs
    and for those it was granted before; other statements are kept (:func:`policies.merge`)."""
    client = run.target.client("sqs")
    current = client.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["Policy"]).get("Attributes", {})
    policy = policies.merge(current.get("Policy"), SEND_ACTION, queue.arn, grants)
    if problem := POLICY_QUOTA.problem(policy):
        raise ValueError(f"queue {queue.name}: {problem}. Send through fewer topics or rules.")
    client.set_queue_attributes(QueueUrl=queue.url, Attributes={"Policy": policies.to_json(policy)})
    return policy


def get_queue_attributes(run: Run, queue: Queue) -> dict[str, str]:
    """All attributes of a queue."""
    reply = run.target.client("sqs").get_queue_attributes(
        QueueUrl=queue.url, AttributeNames=["All"]
    )
    return dict(reply["Attributes"])


def receive_all(
    run: Run,
    queue: Queue,
    *,
    expected: int | None = None,
    quiet_s: float = 0.0,
    timeout: float = 30.0,
    delete: bool = True,
    wait_s: int = 1,
) -> list[dict[str, Any]]:
    """Receive until ``expected`` messages arrived (or, with None, until the queue is empty), then
    until a receive comes back empty and ``quiet_s`` more seconds pass without a message, so that
    extra deliveries (duplicates) are caught too; or until ``timeout``. Long polls of ``wait_s``.

    Returns the messages with all their attributes (``ApproximateReceiveCount`` among them).
    They are deleted unless ``delete`` is False; then they stay hidden for ``timeout`` (at least
    30 s), long enough to be read once. With ``quiet_s`` 0 it stops as soon as ``expected`` arrived.
    """
    client = run.target.client("sqs")
    deadline = time.monotonic() + timeout
    got: list[dict[str, Any]] = []
    quiet_since: float | None = None
    kwargs: dict[str, Any] = {
        "QueueUrl": queue.url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": wait_s,
        "MessageSystemAttributeNames": ["All"], "MessageAttributeNames": ["All"],
    }
    if not delete:
        kwargs["VisibilityTimeout"] = max(30, int(timeout))
    while True:
        batch = client.receive_message(**kwargs).get("Messages", [])
        satisfied = expected is None or len(got) + len(batch) >= expected
        if batch:
            got.extend(batch)
            if delete:
                delete_messages(run, queue, batch)
            quiet_since = None
            if satisfied and expected is not None and quiet_s <= 0:
                return got
        elif satisfied:
            quiet_since = quiet_since if quiet_since is not None else time.monotonic()
            if time.monotonic() - quiet_since >= quiet_s:
                return got
        if time.monotonic() >= deadline:
            return got


def receive_bodies(
    run: Run, queue: Queue, expected: int, *, timeout: float = 20.0, quiet_s: float = 1.0
) -> list[Any]:
    """The JSON bodies of :func:`receive_all` (deleted); a warning when fewer than ``expected`` came."""
    bodies = [json.loads(m["Body"]) for m in receive_all(run, queue, expected=expected, quiet_s=quiet_s, timeout=timeout)]
    if len(bodies) < expected:
        log.warning("queue %s: %d of %d message(s) within %.0f s", queue.name, len(bodies), expected, timeout)
    return bodies


def delete_messages(run: Run, queue: Queue, messages: Sequence[dict[str, Any]]) -> None:
    """Delete received messages (up to 10 per call) by their receipt handles."""
    client = run.target.client("sqs")
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        client.delete_message_batch(
            QueueUrl=queue.url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
        )


def peek(run: Run, queue: Queue, *, max_messages: int = 10) -> list[dict[str, Any]]:
    """Up to ``max_messages`` messages, looked at without consuming them: each is handed back
    (visible again) at once. With all attributes: a DLQ's say which queue each came from."""
    client = run.target.client("sqs")
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(3):
        batch = client.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=5,
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if batch:  # hand every message back at once, seen before or not
            client.change_message_visibility_batch(
                QueueUrl=queue.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(batch)],
            )
        new = [m for m in batch if m["MessageId"] not in seen]
        seen.update((m["MessageId"], m) for m in new)
        if len(seen) >= max_messages or not new:
            break
    return list(seen.values())[:max_messages]


def approximate_count(run: Run, queue: Queue) -> int:
    """Visible messages plus those received and not yet deleted (SQS's approximate counters)."""
    return sum(_counters(run, queue))


def in_flight(run: Run, queue: Queue) -> int:
    """Messages received and not yet deleted (hidden until their visibility timeout ends)."""
    return _counters(run, queue)[1]


def _counters(run: Run, queue: Queue) -> tuple[int, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = run.target.client("sqs").get_queue_attributes(QueueUrl=queue.url, AttributeNames=names)["Attributes"]
    return int(attrs[names[0]]), int(attrs[names[1]])


def wait_for_count(run: Run, queue: Queue, count: int, timeout: float = 30.0) -> int:
    """Wait until a queue holds at least ``count`` messages; returns what it holds then."""

    def enough() -> int:
        held = approximate_count(run, queue)
        return held if held >= count else 0

    return until(enough, timeout=timeout, interval=0.2) or approximate_count(run, queue)


@dataclass
class RedriveResult:
    """How messages were moved back from a DLQ."""

    method: str
    moved: int
    status: str
    detail: dict[str, Any] = field(default_factory=dict)


def redrive(run: Run, dlq: Queue, source: Queue, *, timeout: float = 30.0) -> RedriveResult:
    """Move every message of ``dlq`` back to ``source``.

    Uses ``StartMessageMoveTask`` (the DLQ redrive API; LocalStack 2026.3.0 implements it) and
    waits for the task to finish. Where the API is missing it falls back to receive, send to
    the source, delete, and says so in ``method``.
    """
    client = run.target.client("sqs")
    # a move task takes only visible messages: let any in-flight one (someone looking) come back
    until(lambda: in_flight(run, dlq) == 0, timeout=timeout, interval=0.2)
    try:
        client.start_message_move_task(SourceArn=dlq.arn, DestinationArn=source.arn)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        log.warning("StartMessageMoveTask unavailable (%s): moving messages by hand", code)
        return _redrive_by_hand(run, dlq, source, code)

    def latest_task() -> dict[str, Any]:
        tasks = client.list_message_move_tasks(SourceArn=dlq.arn, MaxResults=1).get("Results", [])
        return tasks[0] if tasks else {}

    until(lambda: latest_task().get("Status") in {"COMPLETED", "FAILED", "CANCELLED"}, timeout=timeout, interval=0.2)
    task = latest_task()
    return RedriveResult(
        "StartMessageMoveTask", int(task.get("ApproximateNumberOfMessagesMoved", 0)), task.get("Status", "UNKNOWN"),
        {k: v for k, v in task.items() if k not in {"SourceArn", "DestinationArn"}},
    )


def _redrive_by_hand(run: Run, dlq: Queue, source: Queue, reason: str) -> RedriveResult:
    client = run.target.client("sqs")
    moved = 0
    for message in receive_all(run, dlq):
        kwargs: dict[str, Any] = {"QueueUrl": source.url, "MessageBody": message["Body"]}
        if source.fifo:
            kwargs |= {"MessageGroupId": "redrive", "MessageDeduplicationId": message["MessageId"]}
        client.send_message(**kwargs)
        moved += 1
    return RedriveResult("receive-send-delete", moved, "COMPLETED", {"reason": reason})


# -- what a run leaves behind ------------------------------------------------------------------
def _find_queues(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("sqs").get_paginator("list_queues").paginate(QueueNamePrefix=prefix):
        yield from (url.rsplit("/", 1)[-1] for url in page.get("QueueUrls", []))


def _delete_queue(target: Target, name: str) -> None:
    client = target.client("sqs")
    client.delete_queue(QueueUrl=client.get_queue_url(QueueName=name)["QueueUrl"])


QUEUE = resource_kind("sqs:queue", _find_queues, _delete_queue)
