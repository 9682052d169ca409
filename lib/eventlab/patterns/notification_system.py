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

Notebook 05's lessons live here too: :func:`article_handler_lesson` runs the article's own
handler (``eventlab/handlers/notification/article.py``) and mapping, which lose a malformed
alert and its subject; :func:`partial_batch` shows the fixed one returning only the malformed
record until it reaches the DLQ; :func:`runtimes` sets the article's ``python3.9`` beside the
function's runtime.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from eventlab.leaks import destroy_run
from eventlab.locations import topology_file
from eventlab.run import Run, TeardownReport
from eventlab.services import lambda_, recorded, ses, sns, sqs
from eventlab.topology import Topology, apply
from eventlab.waiting import until

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
    handler: str = "main.handler",
    report_batch_item_failures: bool = True,
) -> NotificationSystem:
    """Build the system under ``run`` (the topology, with these values for its variables), after
    verifying the sender with SES; what was built before a failure stays in the run's ledger for
    :meth:`Run.destroy`.

    ``function_timeout`` defaults to the smaller of 30 s and the visibility timeout: Lambda
    requires the queue's visibility timeout to be at least the function's timeout (the topology's
    check says so before anything is built).

    ``handler="article.handler"`` with ``report_batch_item_failures=False`` builds the article's
    own function and mapping instead (notebook 05 shows why not to): see
    ``eventlab/handlers/notification/article.py``.
    """
    timeout = function_timeout if function_timeout is not None else min(30, visibility_timeout)
    topology = Topology.from_yaml(topology_path(), {
        "admin_email": admin_email, "sender": sender, "visibility_timeout": visibility_timeout,
        "max_receive_count": max_receive_count, "batch_size": batch_size, "function_timeout": timeout,
        "receive_wait_seconds": receive_wait_seconds, "log_level": log_level,
        "handler": handler, "report_batch_item_failures": report_batch_item_failures,
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


# -- notebook 05's lessons: the article's handler, a partial batch, the runtime -------------------

GOOD = {"EventSource": "UserService", "Message": "Database connection failed. User registration impacted."}
MALFORMED = "this is not JSON"
ARTICLE_DECODE_ERROR = "Error decoding JSON"  # what the article's handler logs, then returns 200
ARTICLE_SENT = "Simulated email notification sent"
REJECTED = "rejected (malformed)"  # what the fixed handler logs for a batch item failure
ARTICLE_RUNTIME = "python3.9"  # the article's Terraform: runtime = "python3.9"


@dataclass(frozen=True)
class ArticleLesson:
    """What the article's handler did with one good and one malformed alert."""

    system: NotificationSystem
    published_subject: str
    logged_subjects: list[str]  # the subject each processed alert was logged with
    decode_errors: int  # times the malformed alert was handled (1: never retried)
    left_in_queue: int  # visible + in flight, after the visibility timeout passed
    in_dlq: list[str]  # bodies in the DLQ
    waited_s: float
    lines: list[str] = field(repr=False, default_factory=list)


def article_handler_lesson(run: Run, *, admin_email: str, sender: str, visibility_timeout: int = 3,
                           subject: str = "Critical Application Error", timeout: float = 60.0) -> ArticleLesson:
    """Deploy the article's function and mapping under ``run`` (a run of its own: the names are
    the notification system's), publish a good then a malformed alert, and wait until both were
    handled and the visibility timeout passed twice more: a message Lambda had not deleted would
    be visible again by then, on its way to the DLQ."""
    system = deploy(run, admin_email=admin_email, sender=sender, visibility_timeout=visibility_timeout,
                                        handler="article.handler", report_batch_item_failures=False)
    system.publish(subject, GOOD)
    system.publish(subject, MALFORMED)
    started = time.monotonic()

    def handled() -> list[str]:
        lines = lambda_.filter_log_events(run, system.function)
        done = any(ARTICLE_DECODE_ERROR in line for line in lines) and any(ARTICLE_SENT in line for line in lines)
        return lines if done else []

    if not until(handled, timeout=timeout):
        log.warning("the article's handler did not handle both alerts within %.0f s", timeout)
    time.sleep(2 * visibility_timeout + 1)
    lines = lambda_.filter_log_events(run, system.function)
    dead = sqs.peek(run, system.dlq)
    return ArticleLesson(
        system=system,
        published_subject=subject,
        logged_subjects=[m.removeprefix("Subject: ").strip() for m in map(message_of, lines) if m.startswith("Subject: ")],
        decode_errors=sum(ARTICLE_DECODE_ERROR in line for line in lines),
        left_in_queue=sqs.approximate_count(run, system.queue),
        in_dlq=[json.loads(m["Body"]).get("Message", m["Body"]) for m in dead],
        waited_s=round(time.monotonic() - started, 1),
        lines=lines,
    )


def message_of(line: str) -> str:
    """A log line's message, without the Python runtime's ``[LEVEL]\ttime\tid\t`` prefix."""
    return line.split("\t", 3)[3] if request_id(line) is not None else line


def request_id(line: str) -> str | None:
    """The request id of a log line the Python runtime formatted (``[LEVEL]\\ttime\\tid\\tmessage``)."""
    parts = line.split("\t")
    return parts[2] if len(parts) >= 4 and parts[0].startswith("[") else None


@dataclass(frozen=True)
class PartialBatch:
    """The fixed handler given a good and a malformed alert in one batch."""

    good_subject: str
    emails_for_good: int  # emails with the good alert's subject, after the malformed one reached the DLQ
    rejections: int  # batch item failures logged for the malformed alert
    dlq_messages: list[dict[str, Any]]
    shared_invocation: bool  # the first rejection and the good alert's email were in one invocation
    lines: list[str] = field(repr=False, default_factory=list)


def partial_batch(system: NotificationSystem, *, good_subject: str = "Critical event beside a malformed one",
                  timeout: float | None = None) -> PartialBatch:
    """Pause the system's mapping, publish a good and a malformed alert, resume it (so that both
    come in one batch), and wait until the malformed one is in the DLQ. The function is invoked
    once first, with no records: a cold start longer than the queue's visibility timeout would
    let SQS hand the whole batch out again, and then the good alert would be sent twice.
    """
    run = system.run
    lambda_.invoke(run, system.function, {"Records": []})
    queue_timeout = int(sqs.get_queue_attributes(run, system.queue)["VisibilityTimeout"])
    wait = timeout if timeout is not None else 30 * queue_timeout + 30
    lambda_.set_mapping_enabled(run, system.mapping.uuid, False)
    try:
        system.publish(good_subject, GOOD)
        system.publish("Critical Application Error", MALFORMED)
        sqs.wait_for_count(run, system.queue, 2, timeout=30)
    finally:
        lambda_.set_mapping_enabled(run, system.mapping.uuid, True)
    dead = sqs.receive_all(run, system.dlq, expected=1, timeout=wait, delete=False)
    emails = recorded.sent_emails(run.target, to=system.admin_email)
    lines = lambda_.filter_log_events(run, system.function)
    rejected = [line for line in lines if REJECTED in line]
    emailed = [line for line in lines if "emailed" in line and repr(good_subject) in line]
    first = request_id(rejected[0]) if rejected else None
    return PartialBatch(
        good_subject=good_subject,
        emails_for_good=sum(e.subject.endswith(good_subject) for e in emails),
        rejections=len(rejected),
        dlq_messages=dead,
        shared_invocation=first is not None and any(request_id(line) == first for line in emailed),
        lines=lines,
    )


def runtimes(system: NotificationSystem, today: date) -> list[dict[str, Any]]:
    """The article's runtime beside the one Lambda reports for the system's function, each with
    where it is on AWS's deprecation path ``today`` (:data:`eventlab.services.lambda_.RUNTIME_DATES`)."""
    configured = system.run.target.client("lambda").get_function_configuration(FunctionName=system.function.name)["Runtime"]
    rows = []
    for who, runtime in (("the article", ARTICLE_RUNTIME), ("this notebook's function", configured)):
        dates = lambda_.RUNTIME_DATES.get(runtime)
        rows.append({
            "function": who, "runtime": runtime, "status": lambda_.runtime_status(runtime, today),
            "deprecated": dates[0] if dates else None, "block create": dates[1] if dates else None,
            "block update": dates[2] if dates else None,
        })
    return rows
