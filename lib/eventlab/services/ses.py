"""SES: sender identities (the mail an emulator recorded as sent: :mod:`eventlab.services.recorded`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eventlab.run import Run, resource_kind
from eventlab.target import Target

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


# An address is no run's name: an identity is deleted through the ledger of the run that made it.
IDENTITY = resource_kind("ses:identity")
