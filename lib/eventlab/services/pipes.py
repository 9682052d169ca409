"""EventBridge Pipes: a pipe from an SQS queue to an SQS queue, with a filter, through a role
Pipes assumes that may only read the source and send to the target.

A pipe reads its source, drops the events its FilterCriteria do not match, may enrich the rest,
and sends them to its target. The filter's patterns are event patterns over the source's
record (for SQS: ``body``, ``attributes``, ``messageAttributes``...). Its shape, the queues' and
a FIFO target's message group are checked here before anything is built (:func:`pipe_problems`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from eventlab import policies
from eventlab.run import Run, resource_kind
from eventlab.services import iam
from eventlab.services.events import pattern_json
from eventlab.services.sqs import Queue
from eventlab.target import Target
from eventlab.waiting import until

# Limits from the EventBridge Pipes API reference (CreatePipe, FilterCriteria, PipeSourceSqsQueueParameters).
MAX_NAME = 64
NAME_PATTERN = r"[\.\-_A-Za-z0-9]+"
MAX_FILTERS = 5
BATCH_SIZE = (1, 10_000)
MESSAGE_GROUP_ID_MAX_CHARS = 100
PRINCIPAL = "pipes.amazonaws.com"  # the service that assumes a pipe's role
ROLE_SUFFIX = "-pipe"
# What an emulator without the Pipes API answers (LocalStack: its gateway knows no such service).
MISSING_API_CODES = frozenset({"InternalFailure", "NotImplemented", "NotImplementedError"})


@dataclass(frozen=True)
class Pipe:
    name: str
    arn: str
    source: Queue
    target: Queue


def pipe_problems(
    source: Queue, target: Queue, *, filters: Sequence[Mapping[str, Any]], batch_size: int = 1,
    message_group_id: str | None = None,
) -> list[str]:
    """Why Pipes would refuse (or mis-send) this pipe, before anything is built."""
    problems = []
    if source.arn == target.arn:
        problems.append(f"the pipe's source and target are the same queue ({source.name}): it would loop")
    if len(filters) > MAX_FILTERS:
        problems.append(f"{len(filters)} filters; FilterCriteria takes at most {MAX_FILTERS}")
    for n, pattern in enumerate(filters):
        if not isinstance(pattern, Mapping) or not pattern:
            problems.append(f"filter {n}: an event pattern is a non-empty JSON object, not {pattern!r}")
    low, high = BATCH_SIZE
    if not low <= batch_size <= high:
        problems.append(f"batch_size={batch_size}: an SQS source takes {low} to {high}")
    if target.fifo and not message_group_id:
        problems.append(f"target {target.name} is a FIFO queue: give message_group_id (SqsQueueParameters.MessageGroupId)")
    if message_group_id is not None and not target.fifo:
        problems.append(f"message_group_id is for a FIFO target; {target.name} is a standard queue")
    if message_group_id is not None and not 1 <= len(message_group_id) <= MESSAGE_GROUP_ID_MAX_CHARS:
        problems.append(f"message_group_id is {len(message_group_id)} characters; AWS takes 1 to {MESSAGE_GROUP_ID_MAX_CHARS}")
    return problems


def create_role(run: Run, base: str, source: Queue, target: Queue) -> iam.Role:
    """The role Pipes assumes: read (and delete from) the source queue, send to the target."""
    statements = [*policies.may_read_from(source.arn), *policies.may_send_to(target.arn)]
    return iam.create_role(run, f"{base}{ROLE_SUFFIX}", service=PRINCIPAL, policy=policies.document(*statements))


def create_pipe(
    run: Run, base: str, source: Queue, target: Queue, *, role: iam.Role, filters: Sequence[Mapping[str, Any]] = (),
    batch_size: int = 1, message_group_id: str | None = None,
) -> Pipe:
    """A running pipe from ``source`` to ``target`` that passes only events matching one of
    ``filters`` (none: every event); checked first (:func:`pipe_problems`), ValueError if refused."""
    if problems := pipe_problems(source, target, filters=filters, batch_size=batch_size, message_group_id=message_group_id):
        raise ValueError(f"pipe {base!r}: " + "; ".join(problems))
    name = run.name(base, max_length=MAX_NAME)
    source_parameters: dict[str, Any] = {"SqsQueueParameters": {"BatchSize": batch_size}}
    if filters:
        source_parameters["FilterCriteria"] = {"Filters": [{"Pattern": pattern_json(p)} for p in filters]}
    target_parameters: dict[str, Any] = {}
    if message_group_id is not None:
        target_parameters["SqsQueueParameters"] = {"MessageGroupId": message_group_id}
    client = run.target.client("pipes")
    arn = client.create_pipe(
        Name=name, RoleArn=role.arn, Source=source.arn, SourceParameters=source_parameters, Target=target.arn,
        TargetParameters=target_parameters, DesiredState="RUNNING", Tags=run.tags,
    )["Arn"]
    run.track(PIPE, name, arn, lambda: client.delete_pipe(Name=name))
    return Pipe(name=name, arn=arn, source=source, target=target)


def wait_running(run: Run, pipe: Pipe, *, timeout: float) -> str:
    """Wait until the pipe's CurrentState is RUNNING (a new pipe starts in CREATING); returns the state seen last."""
    client = run.target.client("pipes")
    seen = [""]

    def running() -> bool:
        seen[0] = str(client.describe_pipe(Name=pipe.name).get("CurrentState", ""))
        return seen[0] == "RUNNING"

    until(running, timeout=timeout, interval=1.0)
    return seen[0]


def api_missing(error: ClientError) -> bool:
    """True when the backend has no Pipes API at all (the error is about the service, not the pipe)."""
    http = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(error.response.get("Error", {}).get("Code", ""))
    return http == 501 or code in MISSING_API_CODES


def record_body(message_body: str) -> str:
    """What a pipe's SQS target received, unwrapped: the source message's body when the pipe sent
    the whole SQS record (its default, without an input template), else the body as it came."""
    try:
        record = json.loads(message_body)
    except ValueError:
        return message_body
    if isinstance(record, dict) and isinstance(record.get("body"), str) and re.fullmatch(r"[\w-]+", str(record.get("messageId", ""))):
        return str(record["body"])
    return message_body


# -- what a run leaves behind ------------------------------------------------------------------
def _find_pipes(target: Target, prefix: str) -> Iterator[str]:
    """Pipes named under the prefix; none on a backend without the Pipes API (it can hold none)."""
    try:
        pages = list(target.client("pipes").get_paginator("list_pipes").paginate(NamePrefix=prefix))
    except ClientError as error:
        if api_missing(error):
            return
        raise
    for page in pages:
        yield from (p["Name"] for p in page.get("Pipes", []) if p["Name"].startswith(prefix))


PIPE = resource_kind("pipes:pipe", _find_pipes, lambda t, name: t.client("pipes").delete_pipe(Name=name))
