"""Lambda functions in a topology: deploy, event sources, what they may send to, and who may invoke.

A function's ``allow`` list names the resources its code sends to or writes into; its role
gets exactly what :func:`eventlab.policies.may_send_to` says on exactly those ARNs (a bucket
also what :func:`eventlab.policies.may_read_from` says: a function reads back its own state),
and its environment gets their names:

    queue:orders   -> QUEUE_ORDERS_URL        topic:paid     -> TOPIC_PAID_ARN
    bus:shop       -> BUS_SHOP_NAME           stream:clicks  -> STREAM_CLICKS_NAME
    firehose:lake  -> FIREHOSE_LAKE_NAME      bucket:store   -> BUCKET_STORE_NAME
    identity:a@b.c -> SENDER_EMAIL (ses:SendEmail on that identity)
    sms:any        -> sns:Publish to phone numbers only: AWS gives a phone number no ARN, so the
                      grant names none and excludes every SNS ARN (NotResource arn:aws:sns:*:*:*);
                      no topic or platform endpoint is covered
"""

from __future__ import annotations

import re
from typing import Any

from eventlab import policies
from eventlab.run import Run
from eventlab.services import lambda_
from eventlab.topology.handles import Handles
from eventlab.topology.model import FunctionSpec, Ref


def env_name(ref: Ref) -> str:
    """The environment variable that carries a referenced resource into a function."""
    suffix = {"queue": "URL", "topic": "ARN"}.get(ref.kind, "NAME")
    return f"{ref.kind.upper()}_{re.sub(r'[^A-Za-z0-9]', '_', ref.name.removesuffix('.fifo')).upper()}_{suffix}"


def env_value(kind: str, handle: Any) -> str:
    """What that variable holds: a queue's URL, a topic's ARN, any other resource's name."""
    if kind == "queue":
        return str(handle.url)
    return str(handle.arn if kind == "topic" else handle.name)


def _grant(built: Handles, ref: Ref) -> tuple[list[dict[str, Any]], str]:
    """The statements and the environment value for one ``allow`` entry."""
    if ref.kind == "sms":
        return [policies.allow_sms_publish()], "any"
    if ref.kind == "identity":
        return policies.may_send_to(built.arn(ref)), ref.name
    handle = built.table(ref.kind)[ref.name]
    statements = policies.may_send_to(handle.arn)
    if ref.kind == "bucket":  # a function's own state: it reads back what it wrote
        statements += policies.may_read_from(handle.arn)
    return statements, env_value(ref.kind, handle)


def grants_and_environment(built: Handles, spec: FunctionSpec) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """What a function's ``allow`` list gives it: the statements of its role and its
    environment (the declared variables, plus one per allowed resource)."""
    statements: list[dict[str, Any]] = []
    environment = dict(spec.environment)
    for text in spec.allow:
        ref = Ref.parse(text)
        granted, value = _grant(built, ref)
        statements.extend(granted)
        if ref.kind == "identity":
            environment.setdefault("SENDER_EMAIL", value)
        elif ref.kind != "sms":
            environment.setdefault(env_name(ref), value)
    return statements, environment


def source_arn(built: Handles, source: str) -> str:
    """The ARN of an event source reference (``queue:NAME`` or ``stream:NAME``)."""
    return built.arn(Ref.parse(source))


def build(built: Handles, run: Run) -> None:
    """Create the topology's functions that are missing (with least-privilege roles) and their
    event sources."""
    for spec in built.topology.functions:
        if spec.name not in built.functions:
            statements, environment = grants_and_environment(built, spec)
            built.functions[spec.name] = lambda_.create_function(
                run,
                spec.name,
                built.topology.code_dir(spec),
                handler=spec.handler,
                runtime=spec.runtime,
                timeout=spec.timeout,
                memory_size=spec.memory,
                environment=environment,
                statements=statements,
                reserved_concurrency=spec.reserved_concurrency,
                description=spec.description,
                tags=spec.tags,
            )
        for source in spec.event_sources:
            key = f"{spec.name}/{source.source}"
            if key in built.mappings:
                continue
            is_stream = Ref.parse(source.source).kind == "stream"
            built.mappings[key] = lambda_.create_event_source_mapping(
                run,
                built.functions[spec.name],
                source_arn(built, source.source),
                batch_size=source.batch_size,
                maximum_batching_window=source.batching_window,
                report_batch_item_failures=source.report_batch_item_failures,
                starting_position=source.starting_position if is_stream else None,
            )


def allow_invoke(built: Handles, run: Run, name: str, service: str, source: str) -> None:
    """Let ``service`` (SNS, EventBridge) invoke function ``name``, only for the ``source`` ARN."""
    if (name, source) in built.invokers:
        return
    lambda_.add_permission(run, built.functions[name], principal=service, source_arn=source)
    built.invokers.add((name, source))
