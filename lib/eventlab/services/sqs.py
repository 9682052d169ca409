"""SQS queues: standard and FIFO, DLQs and redrive, least-privilege queue policies."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from eventlab import policies
from eventlab.run import Run, resource_kind
from eventlab.target import Target

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
SEND_ACTION = "sqs:SendMessage"


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
    text = policies.to_json(policy)
    if len(text.encode()) > POLICY_MAX_BYTES or len(policy["Statement"]) > POLICY_MAX_STATEMENTS:
        raise ValueError(
            f"queue {queue.name}: its policy would be {len(text.encode())} bytes in "
            f"{len(policy['Statement'])} statements; SQS allows {POLICY_MAX_BYTES} bytes and "
            f"{POLICY_MAX_STATEMENTS} statements. Send through fewer topics or rules."
        )
    client.set_queue_attributes(QueueUrl=queue.url, Attributes={"Policy": text})
    return policy


def get_queue_attributes(run: Run, queue: Queue) -> dict[str, str]:
    """All attributes of a queue."""
    reply = run.target.client("sqs").get_queue_attributes(
        QueueUrl=queue.url, AttributeNames=["All"]
    )
    return dict(reply["Attributes"])


def receive_all(
    run: Run, queue: Queue, *, expected: int, timeout: float = 30, delete: bool = False
) -> list[dict[str, Any]]:
    """Receive until ``expected`` messages arrived or ``timeout`` passed (long polling), with all
    their attributes (``ApproximateReceiveCount`` among them). Messages stay in the queue unless
    ``delete``: they are hidden for the visibility timeout of the receive, long enough to read
    them once."""
    client = run.target.client("sqs")
    deadline = time.monotonic() + timeout
    messages: list[dict[str, Any]] = []
    while len(messages) < expected and time.monotonic() < deadline:
        reply = client.receive_message(
            QueueUrl=queue.url,
            MaxNumberOfMessages=min(10, expected - len(messages)),
            WaitTimeSeconds=1,
            VisibilityTimeout=max(30, int(timeout)),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        for message in reply.get("Messages", []):
            messages.append(message)
            if delete:
                client.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    return messages


# -- what a run leaves behind ------------------------------------------------------------------
def _find_queues(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("sqs").get_paginator("list_queues").paginate(QueueNamePrefix=prefix):
        yield from (url.rsplit("/", 1)[-1] for url in page.get("QueueUrls", []))


def _delete_queue(target: Target, name: str) -> None:
    client = target.client("sqs")
    client.delete_queue(QueueUrl=client.get_queue_url(QueueName=name)["QueueUrl"])


QUEUE = resource_kind("sqs:queue", _find_queues, _delete_queue)
