"""Notification processor: SNS notifications delivered through SQS become emails to the admin.

Event: an SQS batch whose record bodies are SNS envelopes (raw delivery off). Each envelope's
``Message`` is a JSON object such as ``{"EventSource": "UserService", "Message": "..."}``; the
envelope's ``Subject`` becomes the email's subject.

A record that cannot be turned into an email is reported in ``batchItemFailures``, never
dropped: SQS makes it visible again after the visibility timeout, and after
``maxReceiveCount`` receives moves it to the dead-letter queue, where it can be inspected and
redriven. Records that succeeded in the same batch are not retried. The event source mapping
must have ``FunctionResponseTypes=["ReportBatchItemFailures"]`` for this to work.

Configuration (environment): ADMIN_EMAIL (recipient), SENDER_EMAIL (a verified SES
identity), LOG_LEVEL (default INFO).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import boto3

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

SUBJECT_PREFIX = "[CRITICAL]"
_ses: Any = None


class MalformedRecord(ValueError):
    """A record that is not an SNS notification with a JSON object as its message."""


@dataclass(frozen=True)
class Notification:
    subject: str
    source: str
    text: str
    sns_message_id: str


def ses_client() -> Any:
    """One SES client per execution environment, created on first use and reused while warm."""
    global _ses
    if _ses is None:
        _ses = boto3.client("ses")
    return _ses


def parse(body: str) -> Notification:
    """The notification inside one SQS record body, or MalformedRecord saying what is wrong."""
    try:
        envelope = json.loads(body)
    except ValueError as error:
        raise MalformedRecord(f"body is not JSON: {error}") from error
    if not isinstance(envelope, dict) or envelope.get("Type") != "Notification":
        raise MalformedRecord("body is not an SNS notification envelope (raw delivery must be off)")
    try:
        inner = json.loads(envelope.get("Message", ""))
    except ValueError as error:
        raise MalformedRecord(f"SNS Message is not JSON: {error}") from error
    if not isinstance(inner, dict):
        raise MalformedRecord("SNS Message is not a JSON object")
    text = inner.get("Message")
    if not isinstance(text, str) or not text.strip():
        raise MalformedRecord("SNS Message has no 'Message' text")
    return Notification(
        subject=str(envelope.get("Subject") or "Notification"),
        source=str(inner.get("EventSource") or "unknown"),
        text=text,
        sns_message_id=str(envelope.get("MessageId", "")),
    )


def send(notification: Notification, *, admin: str, sender: str) -> str:
    """Email one notification; returns SES's message id."""
    reply = ses_client().send_email(
        Source=sender,
        Destination={"ToAddresses": [admin]},
        Message={
            "Subject": {"Data": f"{SUBJECT_PREFIX} {notification.subject}", "Charset": "UTF-8"},
            "Body": {
                "Text": {
                    "Data": (
                        f"Source: {notification.source}\n\n{notification.text}\n\n"
                        f"(SNS message {notification.sns_message_id})"
                    ),
                    "Charset": "UTF-8",
                }
            },
        },
    )
    return str(reply["MessageId"])


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    admin = os.environ.get("ADMIN_EMAIL")
    sender = os.environ.get("SENDER_EMAIL")
    if not admin or not sender:
        # Fail the whole batch: a configuration error must not consume messages.
        raise RuntimeError("ADMIN_EMAIL and SENDER_EMAIL must be set in the function's environment")

    failures = []
    for record in event.get("Records", []):
        message_id = record.get("messageId", "?")
        try:
            notification = parse(record.get("body", ""))
        except MalformedRecord as error:
            logger.error("record %s rejected (malformed): %s", message_id, error)
            failures.append({"itemIdentifier": message_id})
            continue
        try:
            ses_id = send(notification, admin=admin, sender=sender)
        except Exception:  # SES refused or was unreachable: retry this record
            logger.exception("record %s: sending the email failed; it will be retried", message_id)
            failures.append({"itemIdentifier": message_id})
            continue
        logger.info(
            "record %s: emailed %s about %r from %s (SES id %s)",
            message_id, admin, notification.subject, notification.source, ses_id,
        )
    return {"batchItemFailures": failures}
