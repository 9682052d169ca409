"""The article's serverless notification system: SNS → SQS (with a DLQ) → Lambda → SES email.

An application publishes a critical event to a topic; a queue subscribed to it buffers the
notifications; a function reads them in batches of up to 10 and emails the admin. Records that
cannot be processed are reported as batch item failures, come back after the visibility
timeout, and after ``max_receive_count`` receives land in the dead-letter queue: nothing is lost
silently.

    system = notification_system.deploy(run, admin_email="admin@example.com", sender="alerts@example.com")
    system.publish("Critical Application Error", {"EventSource": "UserService", "Message": "..."})
    system.outputs()   # {"topic_arn": ..., "queue_url": ..., "function_name": ..., ...}

Everything is created under the run (named, tagged, in its ledger); :func:`destroy` deletes it,
also from another process that only knows the run id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eventlab import policies
from eventlab.handlers import handler_dir
from eventlab.leaks import Leak, delete_leaks
from eventlab.run import Resource, Run, TeardownReport
from eventlab.services import lambda_, ses, sns, sqs

log = logging.getLogger(__name__)

HANDLER = "notification"
# The article's queue settings.
DELAY_SECONDS = 0
MAXIMUM_MESSAGE_SIZE = 262_144
RETENTION_SECONDS = 345_600  # 4 days
RECEIVE_WAIT_SECONDS = 10  # long polling
VISIBILITY_TIMEOUT = 300
MAX_RECEIVE_COUNT = 5
BATCH_SIZE = 10
DLQ_RETENTION_SECONDS = 1_209_600  # 14 days: longer than the queue's, so dead letters outlive their source
PROJECT_TAGS = {"Environment": "Dev", "Project": "EDA-Demo"}
NAMES = {"topic": "critical-events", "queue": "notifications", "dlq": "notifications-dlq",
         "function": "notify-admin"}


@dataclass(frozen=True)
class NotificationSystem:
    run: Run
    topic: sns.Topic
    queue: sqs.Queue
    dlq: sqs.Queue
    function: lambda_.Function
    mapping: lambda_.EventSourceMapping
    admin_email: str
    sender: str

    def outputs(self) -> dict[str, str]:
        """What the CLI prints after ``eventlab deploy notification-system``."""
        return {
            "run_id": self.run.run_id,
            "topic_arn": self.topic.arn,
            "queue_url": self.queue.url,
            "dlq_url": self.dlq.url,
            "function_name": self.function.name,
            "log_group": self.function.log_group,
            "admin_email": self.admin_email,
        }

    def publish(self, subject: str, message: Mapping[str, Any] | str) -> str:
        """Publish a critical event (a dict is sent as JSON); returns the SNS message id."""
        body = message if isinstance(message, str) else json.dumps(message)
        return sns.publish(self.run, self.topic, body, Subject=subject)


def deploy(
    run: Run,
    *,
    admin_email: str,
    sender: str,
    visibility_timeout: int = VISIBILITY_TIMEOUT,
    max_receive_count: int = MAX_RECEIVE_COUNT,
    batch_size: int = BATCH_SIZE,
    function_timeout: int | None = None,
    receive_wait_seconds: int = RECEIVE_WAIT_SECONDS,
    log_level: str = "INFO",
) -> NotificationSystem:
    """Build the system under ``run``; on any failure, what was built so far stays in the
    run's ledger for :meth:`Run.destroy`.

    ``function_timeout`` defaults to the smaller of 30 s and the visibility timeout: Lambda
    requires the queue's visibility timeout to be at least the function's timeout.
    """
    if "@" not in admin_email or "@" not in sender:
        raise ValueError(f"admin_email={admin_email!r}, sender={sender!r}: give two email addresses.")
    timeout = function_timeout if function_timeout is not None else min(30, visibility_timeout)
    if timeout > visibility_timeout:
        raise ValueError(
            f"function_timeout={timeout} s exceeds visibility_timeout={visibility_timeout} s: a message "
            "would reappear while still being processed. Lower the one or raise the other."
        )

    identity = ses.verify_email_identity(run, sender)

    dlq = sqs.create_queue(
        run, NAMES["dlq"], attributes={"MessageRetentionPeriod": DLQ_RETENTION_SECONDS}
    )
    queue = sqs.create_queue(
        run,
        NAMES["queue"],
        attributes={
            "DelaySeconds": DELAY_SECONDS,
            "MaximumMessageSize": MAXIMUM_MESSAGE_SIZE,
            "MessageRetentionPeriod": RETENTION_SECONDS,
            "ReceiveMessageWaitTimeSeconds": receive_wait_seconds,
            "VisibilityTimeout": visibility_timeout,
        },
        dead_letter_queue=dlq,
        max_receive_count=max_receive_count,
    )
    sqs_client = run.target.client("sqs")
    for tagged in (queue, dlq):
        sqs_client.tag_queue(QueueUrl=tagged.url, Tags=PROJECT_TAGS)

    topic = sns.create_topic(run, NAMES["topic"])
    run.target.client("sns").tag_resource(
        ResourceArn=topic.arn, Tags=[{"Key": k, "Value": v} for k, v in PROJECT_TAGS.items()]
    )
    sns.subscribe_queue(run, topic, queue)  # the queue's policy admits this topic only

    recipient_arn = ses.identity_arn(run.target, admin_email)
    function = lambda_.create_function(
        run,
        NAMES["function"],
        handler_dir(HANDLER),
        handler="main.handler",
        timeout=timeout,
        environment={"ADMIN_EMAIL": admin_email, "SENDER_EMAIL": sender, "LOG_LEVEL": log_level},
        # SES authorises SendEmail against the sender's identity (and, in the sandbox, the recipient's).
        statements=[policies.allow(["ses:SendEmail"], [identity.arn, recipient_arn])],
        description="Emails the admin about critical events (eventlab notification system)",
    )
    run.target.client("lambda").tag_resource(Resource=function.arn, Tags=PROJECT_TAGS)
    mapping = lambda_.create_event_source_mapping(
        run, function, queue.arn, batch_size=batch_size, report_batch_item_failures=True
    )
    system = NotificationSystem(
        run=run, topic=topic, queue=queue, dlq=dlq, function=function, mapping=mapping,
        admin_email=admin_email, sender=sender,
    )
    log.info("notification system deployed: %s", system.outputs())
    return system


def destroy(run: Run) -> TeardownReport:
    """Delete the system. With a live run its ledger is used; a run rebuilt from its id alone
    (``Run(target, run_id=...)``, as ``eventlab destroy`` does) finds the resources by the run's
    name prefix.

    A sender identity that this deployment verified is deleted only through the ledger: by name
    there is no telling it apart from one that existed before.
    """
    if run.resources:
        return run.destroy()
    deleted, failed = delete_leaks(run.target, run.prefix)

    def found(leak: Leak) -> Resource:
        return Resource(kind=leak.kind, name=leak.name, arn=leak.name, delete=lambda: None)

    return TeardownReport(deleted=[found(leak) for leak in deleted], failed=[(found(leak), why) for leak, why in failed])
