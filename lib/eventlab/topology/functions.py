"""Lambda functions in a topology: deploy, event sources, what they may send to, and who may invoke.

A function's ``allow`` list names the resources its code sends to or writes into; its role
gets exactly those actions on exactly those ARNs, and its environment gets their names:

    queue:orders   -> sqs:SendMessage       QUEUE_ORDERS_URL
    topic:paid     -> sns:Publish           TOPIC_PAID_ARN
    bus:shop       -> events:PutEvents      BUS_SHOP_NAME
    stream:clicks  -> kinesis:PutRecord(s)  STREAM_CLICKS_NAME
    firehose:lake  -> firehose:PutRecord(s) FIREHOSE_LAKE_NAME
    bucket:store   -> s3 Get/Put/DeleteObject, ListBucket   BUCKET_STORE_NAME
    identity:a@b.c -> ses:SendEmail on that identity        SENDER_EMAIL
    sms:any        -> sns:Publish to phone numbers only: AWS gives a phone number no ARN, so the
                      grant names none and excludes every SNS ARN (NotResource arn:aws:sns:*:*:*);
                      no topic or platform endpoint is covered
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from eventlab import policies
from eventlab.topology.model import FunctionSpec, Ref

if TYPE_CHECKING:
    from eventlab.topology.apply import Deployment


def env_value(kind: str, handle: Any) -> str:
    """What the environment variable of a referenced resource holds: a queue's URL, a topic's
    ARN, any other resource's name."""
    return str({"queue": getattr(handle, "url", None), "topic": handle.arn}.get(kind) or handle.name)


def env_name(ref: Ref) -> str:
    """The environment variable that carries a referenced resource into a function."""
    suffix = {"queue": "URL", "topic": "ARN"}.get(ref.kind, "NAME")
    return f"{ref.kind.upper()}_{re.sub(r'[^A-Za-z0-9]', '_', ref.name.removesuffix('.fifo')).upper()}_{suffix}"


def _grant(deployment: Deployment, ref: Ref) -> tuple[list[dict[str, Any]], str]:
    """The statements and the environment value for one ``allow`` entry."""
    if ref.kind == "sms":
        return [policies.allow_sms_publish()], "any"
    if ref.kind == "identity":
        target = deployment.run.target
        return policies.may_send_to(f"arn:aws:ses:{target.region}:{target.account_id}:identity/{ref.name}"), ref.name
    handle = deployment.arn_table(ref.kind)[ref.name]
    statements = policies.may_send_to(handle.arn)
    if ref.kind == "bucket":  # a function's own state: it reads back what it wrote
        statements += policies.may_read_from(handle.arn)
    return statements, env_value(ref.kind, handle)


def grants_and_environment(deployment: Deployment, spec: FunctionSpec) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """What a function's ``allow`` list gives it: the statements of its role and its
    environment (the declared variables, plus one per allowed resource)."""
    statements: list[dict[str, Any]] = []
    environment = dict(spec.environment)
    for text in spec.allow:
        ref = Ref.parse(text)
        granted, value = _grant(deployment, ref)
        statements.extend(granted)
        if ref.kind == "identity":
            environment.setdefault("SENDER_EMAIL", value)
        elif ref.kind != "sms":
            environment.setdefault(env_name(ref), value)
    return statements, environment


def build(deployment: Deployment) -> None:
    """Create the topology's functions (with least-privilege roles) and their event sources."""
    from eventlab.services import lambda_

    run = deployment.run
    for spec in deployment.topology.functions:
        if spec.name in deployment.functions:
            continue
        statements, environment = grants_and_environment(deployment, spec)
        function = lambda_.create_function(
            run,
            spec.name,
            deployment.topology.code_dir(spec),
            handler=spec.handler,
            runtime=spec.runtime,
            timeout=spec.timeout,
            memory_size=spec.memory,
            environment=environment,
            statements=statements,
            reserved_concurrency=spec.reserved_concurrency,
        )
        deployment.functions[spec.name] = function
        for source in spec.event_sources:
            ref = Ref.parse(source.source)
            arn = deployment.queues[ref.name].arn if ref.kind == "queue" else deployment.streams[ref.name].arn
            lambda_.create_event_source_mapping(
                run,
                function,
                arn,
                batch_size=source.batch_size,
                maximum_batching_window=source.batching_window,
                report_batch_item_failures=source.report_batch_item_failures,
                starting_position=source.starting_position if ref.kind == "stream" else None,
            )


def allow_invoke(deployment: Deployment, name: str, service: str, source_arn: str) -> None:
    """Let ``service`` (SNS, EventBridge) invoke function ``name``, only for ``source_arn``."""
    from eventlab.services import lambda_

    key = f"permission:{name}:{source_arn}"
    if deployment.run.handles.get(key):
        return
    lambda_.add_permission(deployment.run, deployment.functions[name], principal=service, source_arn=source_arn)
    deployment.run.handles[key] = True
