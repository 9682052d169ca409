"""The article's serverless notification system: SNS → SQS (with a DLQ) → Lambda → SES email.

The topology is ``data/topologies/notification-system.yaml`` (read it for the picture and the
article's settings); the handler is ``eventlab/handlers/notification``. An application publishes
a critical event to the topic; the queue buffers the notifications; the function reads them in
batches of up to 10 and emails the admin. Records that cannot be processed are reported as batch
item failures, come back after the visibility timeout, and after ``max_receive_count`` receives
land in the dead-letter queue: nothing is lost silently.

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
from pathlib import Path
from typing import Any

from eventlab.leaks import destroy_run
from eventlab.locations import topology_file
from eventlab.run import Run, TeardownReport
from eventlab.services import lambda_, ses, sns, sqs
from eventlab.topology import Topology, apply

log = logging.getLogger(__name__)

# The declared names of its parts (their run's prefix is added).
NAMES = {"topic": "critical-events", "queue": "notifications", "dlq": "notifications-dlq", "function": "notify-admin"}


def topology_path() -> Path:
    return topology_file("notification-system")


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
    visibility_timeout: int = 300,
    max_receive_count: int = 5,
    batch_size: int = 10,
    function_timeout: int | None = None,
    receive_wait_seconds: int = 10,
    log_level: str = "INFO",
) -> NotificationSystem:
    """Build the system under ``run`` (the topology, with these values for its variables), after
    verifying the sender with SES; what was built before a failure stays in the run's ledger for
    :meth:`Run.destroy`.

    ``function_timeout`` defaults to the smaller of 30 s and the visibility timeout: Lambda
    requires the queue's visibility timeout to be at least the function's timeout (the topology's
    check says so before anything is built).
    """
    timeout = function_timeout if function_timeout is not None else min(30, visibility_timeout)
    topology = Topology.from_yaml(topology_path(), {
        "admin_email": admin_email, "sender": sender, "visibility_timeout": visibility_timeout,
        "max_receive_count": max_receive_count, "batch_size": batch_size, "function_timeout": timeout,
        "receive_wait_seconds": receive_wait_seconds, "log_level": log_level,
    })
    ses.verify_email_identity(run, sender)
    built = apply(topology, run)
    system = NotificationSystem(
        run=run, topic=built.topics[NAMES["topic"]], queue=built.queues[NAMES["queue"]], dlq=built.queues[NAMES["dlq"]],
        function=built.functions[NAMES["function"]], mapping=built.mappings[f"{NAMES['function']}/queue:{NAMES['queue']}"],
        admin_email=admin_email, sender=sender,
    )
    log.info("notification system deployed: %s", system.outputs())
    return system


def destroy(run: Run) -> TeardownReport:
    """Delete the system: through the run's ledger, or by the run's prefix for a run rebuilt from
    its id alone (``Run(target, run_id=...)``, as ``eventlab destroy`` does); see
    :func:`eventlab.leaks.destroy_run`."""
    return destroy_run(run)
