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

from botocore.exceptions import ClientError

from eventlab import policies
from eventlab.run import Run, TeardownReport
from eventlab.services import iam, lambda_, ses, sns, sqs

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
        lambda_.handler_dir(HANDLER),
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
    (``Run(target, run_id=...)``, e.g. by ``eventlab destroy``) finds the resources by name.

    A sender identity that this deployment verified is deleted only through the ledger: by name
    there is no telling it apart from one that existed before.
    """
    if not run.resources:
        _track_by_name(run)
    return run.destroy()


def _track_by_name(run: Run) -> None:
    """Put the deletions of everything :func:`deploy` creates into the ledger, oldest first."""
    target = run.target
    sqs_client, sns_client = target.client("sqs"), target.client("sns")
    lambda_client, iam_client = target.client("lambda"), target.client("iam")
    account, region = target.account_id, target.region

    for base in (NAMES["dlq"], NAMES["queue"]):
        name = run.name(base, max_length=sqs.MAX_NAME)
        try:
            url = sqs_client.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError:
            continue
        run.track("sqs:queue", name, url, lambda url=url: sqs_client.delete_queue(QueueUrl=url))

    topic_name = run.name(NAMES["topic"], max_length=sns.MAX_NAME)
    topic_arn = f"arn:aws:sns:{region}:{account}:{topic_name}"
    run.track("sns:topic", topic_name, topic_arn, lambda: sns_client.delete_topic(TopicArn=topic_arn))
    try:
        pages = sns_client.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        for page in pages:
            for sub in page.get("Subscriptions", []):
                arn = sub["SubscriptionArn"]
                if arn.startswith("arn:"):
                    run.track("sns:subscription", arn, arn,
                              lambda arn=arn: sns_client.unsubscribe(SubscriptionArn=arn))
    except ClientError:
        pass

    function_name = run.name(NAMES["function"], max_length=lambda_.MAX_NAME)
    group = f"/aws/lambda/{function_name}"
    logs_client = target.client("logs")
    run.track("logs:log-group", group, group, lambda: logs_client.delete_log_group(logGroupName=group))
    role_name = run.name(f"{NAMES['function']}-role", max_length=iam.MAX_NAME)
    run.track("iam:role", role_name, role_name, lambda: _delete_role(iam_client, role_name))
    run.track("lambda:function", function_name, function_name,
              lambda: lambda_.delete_function(run, function_name))
    try:
        mappings = lambda_client.list_event_source_mappings(FunctionName=function_name)["EventSourceMappings"]
    except ClientError:
        mappings = []
    for mapping in mappings:
        uuid = mapping["UUID"]
        run.track("lambda:event-source-mapping", uuid, uuid,
                  lambda uuid=uuid: lambda_.delete_event_source_mapping(run, uuid))


def _delete_role(client: Any, name: str) -> None:
    for page in client.get_paginator("list_role_policies").paginate(RoleName=name):
        for policy_name in page["PolicyNames"]:
            client.delete_role_policy(RoleName=name, PolicyName=policy_name)
    client.delete_role(RoleName=name)
