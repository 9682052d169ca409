"""The email and SMS senders: drain their queues into SES and SNS SMS.

A message that cannot be sent (malformed, or rejected) is reported as a batch item failure and
ends in the queue's DLQ after its receives run out. Sends are keyed by the SQS message id, so
a redelivered message is not sent twice.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from common import client, once, sqs_batch

SENDER = os.environ.get("SENDER_EMAIL", "orders@example.com")


def email(event: dict[str, Any], context: Any) -> dict[str, Any]:
    def send(message: dict[str, Any]) -> None:
        def effect() -> None:
            client("ses").send_email(
                Source=SENDER,
                Destination={"ToAddresses": [message["to"]]},
                Message={"Subject": {"Data": message["subject"]}, "Body": {"Text": {"Data": message["body"]}}},
            )

        once(f"email/{message['to']}/{message['subject']}", effect)

    return sqs_batch(event, send)


def sms(event: dict[str, Any], context: Any) -> dict[str, Any]:
    def send(message: dict[str, Any]) -> None:
        once(
            f"sms/{message['to']}/{hashlib.sha256(message['text'].encode()).hexdigest()[:16]}",
            lambda: client("sns").publish(PhoneNumber=message["to"], Message=message["text"]),
        )

    return sqs_batch(event, send)
