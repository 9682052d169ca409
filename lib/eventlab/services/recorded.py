"""What an emulator recorded of what it sent: mail (SES) and text messages (SNS SMS).

AWS keeps no such record (check the inbox, or SES's event destinations); each emulator does, at
an endpoint and in a shape of its own. This module is the one place that knows both and returns
eventlab's own records, so callers filter on fields every backend has:

- LocalStack: ``GET /_aws/ses`` (``{"messages": [{"Id", "Destination": {"ToAddresses"}, "Body":
  {"text_part"}, "Timestamp": ISO}]}``) and ``GET /_aws/sns/sms-messages``;
- MiniStack: ``GET /_ministack/ses/messages`` (``{"messages": {account: [{"MessageId", "To",
  "BodyText", "Timestamp": epoch}]}}``, shared by every run, never cleared) and
  ``GET /_ministack/sns/sms-messages`` (LocalStack's shape).

Both records outlive a run, so callers pick their own mail by a run-unique recipient or subject.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from eventlab.target import Target
from eventlab.waiting import until


@dataclass(frozen=True)
class SentEmail:
    """One mail an emulator's SES recorded as sent."""

    id: str
    source: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    text: str
    html: str
    sent_at: float | None  # epoch seconds
    kind: str = ""  # SendEmail, SendRawEmail, SendTemplatedEmail... where the backend says


@dataclass(frozen=True)
class SentSms:
    """One text message an emulator's SNS recorded as sent to a phone number."""

    phone_number: str
    message: str
    message_id: str
    subject: str = ""


def _epoch(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _localstack_mail(document: Mapping[str, Any], target: Target) -> list[SentEmail]:
    out = []
    for m in document.get("messages", []):
        destination, body = m.get("Destination") or {}, m.get("Body") or {}
        out.append(SentEmail(
            id=str(m.get("Id", "")), source=str(m.get("Source", "")),
            to=tuple(destination.get("ToAddresses") or ()), cc=tuple(destination.get("CcAddresses") or ()),
            bcc=tuple(destination.get("BccAddresses") or ()), subject=str(m.get("Subject") or ""),
            text=str(body.get("text_part") or m.get("RawData") or ""), html=str(body.get("html_part") or ""),
            sent_at=_epoch(m.get("Timestamp")), kind="SendTemplatedEmail" if m.get("Template") else "",
        ))
    return out


def _ministack_mail(document: Mapping[str, Any], target: Target) -> list[SentEmail]:
    grouped = document.get("messages") or {}
    out = []
    for m in grouped.get(target.account_id, []) if isinstance(grouped, dict) else []:
        out.append(SentEmail(
            id=str(m.get("MessageId", "")), source=str(m.get("Source", "")), to=tuple(m.get("To") or ()),
            cc=tuple(m.get("CC") or ()), bcc=tuple(m.get("BCC") or ()), subject=str(m.get("Subject") or ""),
            text=str(m.get("BodyText") or ""), html=str(m.get("BodyHtml") or ""),
            sent_at=_epoch(m.get("Timestamp")), kind=str(m.get("Type") or ""),
        ))
    return out


def _sms(document: Mapping[str, Any], target: Target) -> list[SentSms]:
    return [
        SentSms(str(m.get("PhoneNumber", number)), str(m.get("Message", "")), str(m.get("MessageId", "")),
                str(m.get("Subject") or ""))
        for number, messages in (document.get("sms_messages") or {}).items()
        for m in messages
    ]


# backend -> (path, parser), per kind of record
MAIL: dict[str, tuple[str, Callable[[Mapping[str, Any], Target], list[SentEmail]]]] = {
    "localstack": ("/_aws/ses", _localstack_mail),
    "ministack": ("/_ministack/ses/messages", _ministack_mail),
}
SMS: dict[str, tuple[str, Callable[[Mapping[str, Any], Target], list[SentSms]]]] = {
    "localstack": ("/_aws/sns/sms-messages", _sms),
    "ministack": ("/_ministack/sns/sms-messages", _sms),
}


def _read(target: Target, readers: Mapping[str, tuple[str, Callable[[Mapping[str, Any], Target], list[Any]]]], what: str) -> list[Any]:
    if not target.is_emulated or not target.endpoint_url or target.backend not in readers:
        raise RuntimeError(
            f"the {what} an emulator recorded exist on an emulator only ({', '.join(readers)}); on AWS "
            "check the recipient, or the service's delivery logs and event destinations, instead."
        )
    path, parse = readers[target.backend]
    reply = requests.get(f"{target.endpoint_url}{path}", timeout=10)
    reply.raise_for_status()
    return parse(reply.json(), target)


def sent_emails(target: Target, *, to: str | None = None) -> list[SentEmail]:
    """The mail the emulator's SES recorded as sent, optionally only that addressed to ``to``."""
    mails: list[SentEmail] = _read(target, MAIL, "sent emails")
    return [m for m in mails if to is None or to in m.to]


def wait_for_emails(target: Target, *, to: str, count: int, timeout: float = 60, settle: float = 1.0) -> list[SentEmail]:
    """Wait until the emulator recorded ``count`` mails to ``to``, then ``settle`` seconds more so
    that an unexpected extra one would show up too; returns them all."""
    until(lambda: len(sent_emails(target, to=to)) >= count, timeout=timeout, interval=0.2)
    time.sleep(settle)
    return sent_emails(target, to=to)


def sent_sms(target: Target, *, phone_number: str | None = None) -> list[SentSms]:
    """The text messages the emulator's SNS recorded as sent, optionally to one number."""
    texts: list[SentSms] = _read(target, SMS, "text messages")
    return [t for t in texts if phone_number is None or t.phone_number == phone_number]
