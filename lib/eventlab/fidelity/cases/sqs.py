"""SQS cases (notebook 01): FIFO deduplication (window, scope, content-based) and groups,
visibility, redrive to a dead-letter queue and back (the message move task), message size and
batch limits.

Each builds one or two unencrypted queues (quick to create) and reads them with short waits,
so a case takes a second or a few.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from eventlab.fidelity.model import Case, Unsupported, doc
from eventlab.run import Run
from eventlab.services import cloudwatch, sns, sqs
from eventlab.waiting import until

DEVELOPER_GUIDE = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide"
API = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference"
FIFO_KEY_TERMS = f"{DEVELOPER_GUIDE}/FIFO-key-terms.html"
VISIBILITY = f"{DEVELOPER_GUIDE}/sqs-visibility-timeout.html"
DEAD_LETTER = f"{DEVELOPER_GUIDE}/sqs-dead-letter-queues.html"
MESSAGE_QUOTAS = f"{DEVELOPER_GUIDE}/quotas-messages.html"
SET_QUEUE_ATTRIBUTES = f"{API}/API_SetQueueAttributes.html"
CREATE_QUEUE = f"{API}/API_CreateQueue.html"
SEND_MESSAGE = f"{API}/API_SendMessage.html"
SEND_MESSAGE_BATCH = f"{API}/API_SendMessageBatch.html"
START_MESSAGE_MOVE_TASK = f"{API}/API_StartMessageMoveTask.html"
MIB = 1_048_576
OLD_MAX_MESSAGE = 262_144  # the limit until 2025, and still some emulators' default


def _code(error: ClientError) -> str:
    """The error code without SQS's query-protocol prefix."""
    return str(error.response.get("Error", {}).get("Code", "")).removeprefix("AWS.SimpleQueueService.")


def _queue(run: Run, base: str = "q", *, fifo: bool = False, attributes: dict[str, Any] | None = None, **options: Any) -> sqs.Queue:
    return sqs.create_queue(run, base, fifo=fifo, encrypted=False, attributes=attributes, **options)


def _receive(run: Run, queue: sqs.Queue, *, expected: int = 1_000, timeout: float = 2.0, delete: bool = True) -> list[dict[str, Any]]:
    return sqs.receive_all(run, queue, expected=expected, timeout=timeout, delete=delete)


def _send(run: Run, queue: sqs.Queue, body: str, **kwargs: Any) -> None:
    run.target.client("sqs").send_message(QueueUrl=queue.url, MessageBody=body, **kwargs)


# -- FIFO deduplication and groups ---------------------------------------------------------------
def dedup_window(run: Run) -> str:
    queue = _queue(run, fifo=True)
    for body in ("first", "second"):
        _send(run, queue, body, MessageGroupId="g", MessageDeduplicationId="same")
    bodies = [m["Body"] for m in _receive(run, queue, expected=2)]
    return f"{len(bodies)} of 2 delivered ({', '.join(bodies)})"


def dedup_after_delete(run: Run) -> str:
    queue = _queue(run, fifo=True)
    _send(run, queue, "first", MessageGroupId="g", MessageDeduplicationId="same")
    first = _receive(run, queue, expected=1)
    _send(run, queue, "again", MessageGroupId="g", MessageDeduplicationId="same")
    again = _receive(run, queue, expected=1, timeout=1.5)
    return f"first {'delivered' if first else 'lost'}; the resend after its deletion {'delivered' if again else 'dropped'}"


def content_based(run: Run) -> str:
    queue = _queue(run, fifo=True, content_based_deduplication=True)
    for body in ("same", "same", "other"):
        _send(run, queue, body, MessageGroupId="g")
    bodies = sorted(m["Body"] for m in _receive(run, queue, expected=3))
    return f"delivered: {', '.join(bodies)}"


def dedup_scope(run: Run, scope: str) -> str:
    attributes = {"DeduplicationScope": scope, "FifoThroughputLimit": "perMessageGroupId" if scope == "messageGroup" else "perQueue"}
    queue = _queue(run, fifo=True, attributes=attributes)
    for group in ("a", "b"):
        _send(run, queue, f"in {group}", MessageGroupId=group, MessageDeduplicationId="same")
    return f"{len(_receive(run, queue, expected=2))} of 2 delivered"


def group_order(run: Run) -> str:
    queue = _queue(run, fifo=True, content_based_deduplication=True)
    client = run.target.client("sqs")
    for start in (0, 10):
        client.send_message_batch(QueueUrl=queue.url, Entries=[
            {"Id": str(n), "MessageBody": str(n), "MessageGroupId": "g"} for n in range(start, start + 10)])
    got = [int(m["Body"]) for m in _receive(run, queue, expected=20, timeout=5.0)]
    return "20 messages in the order sent" if got == list(range(20)) else f"received {got}"


def group_in_flight(run: Run) -> str:
    queue = _queue(run, fifo=True, content_based_deduplication=True)
    for body, group in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        _send(run, queue, body, MessageGroupId=group)
    client = run.target.client("sqs")
    first = client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=1, VisibilityTimeout=30)["Messages"][0]["Body"]
    rest = sorted(m["Body"] for m in client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []))
    return f"first {first}; while it is in flight: {', '.join(rest) or 'nothing'}"


def fifo_message_delay(run: Run) -> str:
    queue = _queue(run, fifo=True, content_based_deduplication=True)
    try:
        _send(run, queue, "x", MessageGroupId="g", DelaySeconds=5)
    except ClientError as error:
        return f"rejected with {_code(error)}"
    return "accepted"


# -- visibility and redrive ----------------------------------------------------------------------
def visibility_hides(run: Run) -> str:
    queue = _queue(run)
    _send(run, queue, "x")
    client = run.target.client("sqs")
    client.receive_message(QueueUrl=queue.url, VisibilityTimeout=2, WaitTimeSeconds=1)
    hidden = not client.receive_message(QueueUrl=queue.url, WaitTimeSeconds=0).get("Messages")
    time.sleep(2.2)
    back = client.receive_message(QueueUrl=queue.url, WaitTimeSeconds=2, MessageSystemAttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
    count = back[0]["Attributes"].get("ApproximateReceiveCount") if back else None
    return f"hidden while invisible: {'yes' if hidden else 'no'}; back after the timeout with receive count {count}"


def visibility_zero(run: Run) -> str:
    queue = _queue(run)
    _send(run, queue, "x")
    client = run.target.client("sqs")
    handle = client.receive_message(QueueUrl=queue.url, VisibilityTimeout=60, WaitTimeSeconds=1)["Messages"][0]["ReceiptHandle"]
    client.change_message_visibility(QueueUrl=queue.url, ReceiptHandle=handle, VisibilityTimeout=0)
    again = client.receive_message(QueueUrl=queue.url, WaitTimeSeconds=1).get("Messages", [])
    return "visible again at once" if again else "still hidden"


def redrive(run: Run) -> str:
    dlq = _queue(run, "dlq")
    queue = _queue(run, "src", dead_letter_queue=dlq, max_receive_count=2, attributes={"VisibilityTimeout": 1})
    _send(run, queue, "poison")
    client = run.target.client("sqs")
    receives = 0
    for _ in range(4):
        if client.receive_message(QueueUrl=queue.url, WaitTimeSeconds=1).get("Messages"):
            receives += 1
        time.sleep(1.1)
    in_dlq = len(_receive(run, dlq, expected=1, timeout=2.0))
    return f"received {receives} times from the queue, then {in_dlq} in the DLQ"


# -- sizes and batches ---------------------------------------------------------------------------
def message_size(run: Run) -> str:
    queue = _queue(run, attributes={"MaximumMessageSize": MIB})
    verdicts = []
    for size in (MIB, MIB + 1):
        try:
            _send(run, queue, "x" * size)
            verdicts.append(f"{size} bytes accepted")
        except ClientError as error:
            verdicts.append(f"{size} bytes rejected with {_code(error)}")
    return "; ".join(verdicts)


def default_message_size(run: Run) -> str:
    """A queue created without MaximumMessageSize: its default, and a message just over 256 KiB."""
    queue = _queue(run)
    default = sqs.get_queue_attributes(run, queue).get("MaximumMessageSize")
    try:
        _send(run, queue, "x" * (OLD_MAX_MESSAGE + 1))
        verdict = "accepted"
    except ClientError as error:
        verdict = f"rejected with {_code(error)}"
    return f"MaximumMessageSize {default}; {OLD_MAX_MESSAGE + 1} bytes {verdict}"


def batch_entries(run: Run) -> str:
    queue = _queue(run)
    client = run.target.client("sqs")
    try:
        client.send_message_batch(QueueUrl=queue.url, Entries=[{"Id": str(n), "MessageBody": "x"} for n in range(11)])
    except ClientError as error:
        return f"rejected with {_code(error)}"
    return "accepted"


def batch_total_size(run: Run) -> str:
    queue = _queue(run, attributes={"MaximumMessageSize": MIB})
    client = run.target.client("sqs")
    try:
        client.send_message_batch(QueueUrl=queue.url, Entries=[{"Id": str(n), "MessageBody": "x" * 600_000} for n in range(2)])
    except ClientError as error:
        return f"rejected with {_code(error)}"
    return "accepted"


def batch_distinct_ids(run: Run) -> str:
    queue = _queue(run)
    client = run.target.client("sqs")
    try:
        client.send_message_batch(QueueUrl=queue.url, Entries=[{"Id": "same", "MessageBody": "x"}, {"Id": "same", "MessageBody": "y"}])
    except ClientError as error:
        return f"rejected with {_code(error)}"
    return "accepted"


def message_move_task(run: Run) -> str:
    """One message in a dead-letter queue, StartMessageMoveTask back to its source: what moved."""
    dlq = sqs.create_queue(run, "mm-dlq", encrypted=False)
    source = sqs.create_queue(run, "mm-src", dead_letter_queue=dlq, max_receive_count=1, encrypted=False)
    client = run.target.client("sqs")
    client.send_message(QueueUrl=dlq.url, MessageBody="dead letter")
    try:
        client.start_message_move_task(SourceArn=dlq.arn, DestinationArn=source.arn)
    except ClientError as error:
        raise Unsupported(f"StartMessageMoveTask is refused with {_code(error)}") from None
    until(lambda: sqs.approximate_count(run, source) >= 1, timeout=30, interval=0.2)
    return f"{sqs.approximate_count(run, source)} message(s) moved back, {sqs.approximate_count(run, dlq)} left in the DLQ"


CASES = [
    Case("sqs.fifo.dedup-window", "sqs", "a FIFO queue drops a resend with the same deduplication id within 5 minutes",
         "1 of 2 delivered (first)",
         doc(FIFO_KEY_TERMS, "If messages with the same deduplication ID are sent within the 5-minute deduplication interval, they are treated as duplicates and only one copy is delivered."),
         dedup_window),
    Case("sqs.fifo.dedup-after-delete", "sqs", "deduplication lasts after the message was received and deleted",
         "first delivered; the resend after its deletion dropped",
         doc(FIFO_KEY_TERMS, "Amazon SQS continues tracking the deduplication ID even after the message has been received and deleted."),
         dedup_after_delete),
    Case("sqs.fifo.content-based", "sqs", "content-based deduplication hashes the body",
         "delivered: other, same",
         doc(FIFO_KEY_TERMS, "If you don't specify a deduplication ID and content-based deduplication is enabled, Amazon SQS generates one by hashing the message body."),
         content_based),
    Case("sqs.fifo.dedup-scope-queue", "sqs", "with DeduplicationScope queue, one id deduplicates across groups",
         "1 of 2 delivered",
         doc(SET_QUEUE_ATTRIBUTES, "DeduplicationScope says whether deduplication occurs at the message group or the queue level; queue is the default."),
         lambda run: dedup_scope(run, "queue")),
    Case("sqs.fifo.dedup-scope-group", "sqs", "with DeduplicationScope messageGroup, the same id in two groups is two messages",
         "2 of 2 delivered",
         doc(SET_QUEUE_ATTRIBUTES, "DeduplicationScope messageGroup: deduplication occurs within each message group only."),
         lambda run: dedup_scope(run, "messageGroup")),
    Case("sqs.fifo.group-order", "sqs", "a message group is received in the order sent",
         "20 messages in the order sent",
         doc(FIFO_KEY_TERMS, "Messages within the same message group are always processed one at a time, in strict order."),
         group_order),
    Case("sqs.fifo.group-in-flight", "sqs", "a group with a message in flight yields nothing more until it is deleted; other groups go on",
         "first a1; while it is in flight: b1",
         doc(FIFO_KEY_TERMS, "Messages within the same message group are processed one at a time: no two messages of a group are processed simultaneously."),
         group_in_flight),
    Case("sqs.fifo.no-per-message-delay", "sqs", "a FIFO queue refuses a per-message DelaySeconds",
         "rejected with InvalidParameterValue",
         doc(SEND_MESSAGE, "When you set FifoQueue, you can't set DelaySeconds per message; you can set it only on the queue."),
         fifo_message_delay),
    Case("sqs.visibility.hides", "sqs", "a received message is hidden for its visibility timeout, then comes back",
         "hidden while invisible: yes; back after the timeout with receive count 2",
         doc(VISIBILITY, "During the visibility timeout other consumers cannot receive the message; if it is not deleted before the timeout ends, it becomes visible again."),
         visibility_hides),
    Case("sqs.visibility.change-to-zero", "sqs", "ChangeMessageVisibility 0 makes a message visible at once",
         "visible again at once",
         doc(VISIBILITY, "Changing a message's visibility timeout to 0 makes it immediately visible to other consumers."),
         visibility_zero),
    Case("sqs.redrive.max-receive-count", "sqs", "after maxReceiveCount receives a message moves to the dead-letter queue",
         "received 2 times from the queue, then 1 in the DLQ",
         doc(DEAD_LETTER, "When the ReceiveCount of a message exceeds the queue's maxReceiveCount, Amazon SQS moves the message to the dead-letter queue."),
         redrive),
    Case("sqs.size.max-message", "sqs", "a message of 1 MiB is accepted, one byte more is refused",
         f"{MIB} bytes accepted; {MIB + 1} bytes rejected with InvalidParameterValue",
         doc(MESSAGE_QUOTAS, "The maximum message size is 1 MiB (1,048,576 bytes)."),
         message_size),
    Case("sqs.size.default-max", "sqs", "a queue created without MaximumMessageSize takes messages up to 1 MiB",
         f"MaximumMessageSize {MIB}; {OLD_MAX_MESSAGE + 1} bytes accepted",
         doc(CREATE_QUEUE, "MaximumMessageSize: valid values an integer from 1,024 bytes (1 KiB) to 1,048,576 bytes (1 MiB). Default: 1,048,576 bytes (1 MiB)."),
         default_message_size),
    Case("sqs.batch.ten-entries", "sqs", "a batch holds at most 10 entries",
         "rejected with TooManyEntriesInBatchRequest",
         doc(SEND_MESSAGE_BATCH, "You can send up to 10 messages in one SendMessageBatch; more give TooManyEntriesInBatchRequest."),
         batch_entries),
    Case("sqs.batch.total-size", "sqs", "a batch's messages total at most 1 MiB",
         "rejected with BatchRequestTooLong",
         doc(SEND_MESSAGE_BATCH, "The maximum total payload size (the sum of the lengths of all batched messages) is 1 MiB; a longer batch gives BatchRequestTooLong."),
         batch_total_size),
    Case("sqs.batch.distinct-ids", "sqs", "the entries of a batch need distinct ids",
         "rejected with BatchEntryIdsNotDistinct",
         doc(SEND_MESSAGE_BATCH, "Two or more batch entries in the request with the same Id give BatchEntryIdsNotDistinct."),
         batch_distinct_ids),
    Case("sqs.redrive.message-move-task", "sqs", "StartMessageMoveTask moves a dead-letter queue's messages back to their source",
         "1 message(s) moved back, 0 left in the DLQ",
         doc(START_MESSAGE_MOVE_TASK, "StartMessageMoveTask moves the messages of a dead-letter queue to another queue, by default back to their source queue."),
         message_move_task),
]


# -- CloudWatch metrics SQS publishes itself (notebook 08) -----------------------------------------
SQS_METRICS = f"{DEVELOPER_GUIDE}/sqs-available-cloudwatch-metrics.html"


def queue_metrics(run: Run) -> str:
    """Send a message, then ask CloudWatch which AWS/SQS metrics it lists for the queue: AWS
    pushes them every minute (so on AWS this waits up to ten minutes); a few seconds elsewhere."""
    queue = _queue(run)
    _send(run, queue, "counted")
    listed = cloudwatch.wait_for_metric(run.target, "AWS/SQS", {"QueueName": queue.name}, "ApproximateNumberOfMessagesVisible")
    return "ApproximateNumberOfMessagesVisible listed" if listed else "no AWS/SQS metric for the queue"


CASES.append(
    Case("sqs.cloudwatch.queue-metrics", "sqs", "SQS publishes a queue's metrics (queue depth among them) to CloudWatch by itself",
         "ApproximateNumberOfMessagesVisible listed",
         doc(SQS_METRICS, "Amazon SQS automatically publishes operational metrics to CloudWatch under the AWS/SQS namespace, ApproximateNumberOfMessagesVisible and ApproximateAgeOfOldestMessage among them."),
         queue_metrics),
)


# -- a queue policy for another topic (notebook 08) ------------------------------------------------
SNS_TO_SQS = "https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html"


def policy_for_another_topic(run: Run) -> str:
    """A queue whose policy lets SNS send only for another topic, subscribed to this one: publish."""
    topic, other = sns.create_topic(run, "t", encrypted=False), sns.create_topic(run, "t-old", encrypted=False)
    queue = _queue(run)
    sqs.allow_senders(run, queue, service=sns.PRINCIPAL, source_arns=[other.arn])
    sns.subscribe(run, topic, "sqs", queue.arn, raw_message_delivery=True)
    sns.publish(run, topic, "to a queue that does not admit this topic")
    return "delivered" if _receive(run, queue, expected=1, timeout=3.0) else "dropped"


CASES.append(
    Case("sqs.policy.source-arn", "sqs", "SNS cannot deliver to a queue whose policy admits only another topic",
         "dropped",
         doc(SNS_TO_SQS, "For a topic to send messages to a queue, the queue's policy must allow the SNS principal sqs:SendMessage with the topic as aws:SourceArn; without that grant the deliveries fail."),
         policy_for_another_topic),
)
