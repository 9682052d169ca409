"""SES: sender identities, and (on the emulator only) the mail LocalStack recorded as sent."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import requests

from eventlab.run import Run, resource_kind
from eventlab.target import Target
from eventlab.waiting import until

log = logging.getLogger(__name__)

# What SES takes as an identity: an email address, or a domain.
ADDRESS_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"
IDENTITY_PATTERN = rf"{ADDRESS_PATTERN}|[a-z0-9.-]+\.[a-z]{{2,}}"


@dataclass(frozen=True)
class Identity:
    address: str
    arn: str
    created: bool  # False: it existed before this run, and the run leaves it alone


def identity_arn(target: Target, address: str) -> str:
    return f"arn:aws:ses:{target.region}:{target.account_id}:identity/{address}"


def verify_email_identity(run: Run, address: str) -> Identity:
    """Ask SES to verify a sender address, unless it is already known to SES.

    An identity this run creates is deleted with the run; one that existed before is never
    touched. On AWS the owner must click the link SES mails before sending works (and, in the
    SES sandbox, recipients must be verified too); LocalStack verifies at once.
    """
    client = run.target.client("ses")
    arn = identity_arn(run.target, address)
    # ListIdentities, not GetIdentityVerificationAttributes: LocalStack answers "Success" for
    # any address asked about, even one it never saw (and then rejects mail from it).
    known = {
        identity
        for page in client.get_paginator("list_identities").paginate(IdentityType="EmailAddress")
        for identity in page.get("Identities", [])
    }
    if address in known:
        status = (
            client.get_identity_verification_attributes(Identities=[address])["VerificationAttributes"]
            .get(address, {})
            .get("VerificationStatus")
        )
        if status != "Success":
            log.warning("SES identity %s is %s: confirm the verification mail before sending", address, status)
        return Identity(address=address, arn=arn, created=False)
    client.verify_email_identity(EmailAddress=address)
    run.track(IDENTITY, address, arn, lambda: client.delete_identity(Identity=address))
    if not run.target.is_emulated:
        log.warning("SES sent a verification mail to %s: open its link before the first send", address)
    return Identity(address=address, arn=arn, created=True)


def list_sent_emails(target: Target, *, to: str | None = None) -> list[dict[str, Any]]:
    """The messages LocalStack's SES recorded as sent (``GET /_aws/ses``), optionally only
    those addressed to ``to``. Emulator only: AWS has no such record."""
    if not target.is_emulated or not target.endpoint_url:
        raise RuntimeError(
            "list_sent_emails reads LocalStack's record of sent mail; on AWS check the inbox, "
            "or SES's sending statistics and event destinations, instead."
        )
    reply = requests.get(f"{target.endpoint_url}/_aws/ses", timeout=10)
    reply.raise_for_status()
    messages: list[dict[str, Any]] = reply.json().get("messages", [])
    if to is not None:
        messages = [
            m for m in messages
            if to in (m.get("Destination") or {}).get("ToAddresses", [])
        ]
    return messages


def wait_for_emails(target: Target, *, to: str, count: int, timeout: float = 60, settle: float = 1.0) -> list[dict[str, Any]]:
    """Wait until LocalStack recorded ``count`` emails to ``to`` (emulator only), then ``settle``
    seconds more so that an unexpected extra email would show up too; returns them all."""
    until(lambda: len(list_sent_emails(target, to=to)) >= count, timeout=timeout, interval=0.2)
    time.sleep(settle)
    return list_sent_emails(target, to=to)


# An address is no run's name: an identity is deleted through the ledger of the run that made it.
IDENTITY = resource_kind("ses:identity")
