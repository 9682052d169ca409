"""Check a whole topology before the first AWS call: every problem at once, each with its fix."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from eventlab.topology.model import Ref, Topology, TopologyError
from eventlab.topology.patterns import (
    PatternError,
    validate_event_pattern,
    validate_filter_policy,
    validate_schedule,
)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# (minimum, maximum) of each SQS setting, from the SQS API reference.
_QUEUE_LIMITS = {
    "visibility_timeout": (0, 43_200),
    "receive_wait_time": (0, 20),
    "delay": (0, 900),
    "retention": (60, 1_209_600),
    "max_message_size": (1_024, 1_048_576),
    "max_receive_count": (1, 1_000),
}
# Longest base name that still fits the service's limit after "el-<8>-" (and ".fifo").
_PREFIX = len("el-00000000-")
_MAX_BASE = {"queue": 80, "topic": 256, "bus": 64, "rule": 64, "stream": 128, "bucket": 63, "delivery stream": 64, "function": 64}
_RAW_PROTOCOLS = {"sqs", "http", "https", "firehose"}
# What a function's ``allow`` may name: resources its role may send to or write into, an SES
# sender identity (``identity:orders@example.com``) and ``sms:any`` (SMS to phone numbers).
REF_KINDS_SENDABLE = ("queue", "topic", "bus", "stream", "bucket", "firehose", "identity", "sms")


def _base(name: str) -> str:
    return name.removesuffix(".fifo")


def validate(topology: Topology) -> None:
    """Raise :class:`TopologyError` listing every problem; return quietly if it can be built."""
    problems: list[str] = []
    add = problems.append

    def check_name(kind: str, name: str, fifo_allowed: bool = False) -> None:
        base = _base(name) if fifo_allowed else name
        if not _NAME_RE.match(base):
            add(f"{kind} {name!r}: use letters, digits, '-' and '_'")
        elif _PREFIX + len(name) > _MAX_BASE[kind]:
            add(f"{kind} {name!r}: with the run prefix it exceeds {_MAX_BASE[kind]} characters; shorten it")

    for kind, names in {
        "queue": [q.name for q in topology.queues],
        "topic": [t.name for t in topology.topics],
        "bus": [b.name for b in topology.buses],
        "rule": [r.name for r in topology.rules],
        "stream": [s.name for s in topology.streams],
        "bucket": [b.name for b in topology.buckets],
        "delivery stream": [d.name for d in topology.delivery_streams],
        "function": [f.name for f in topology.functions],
    }.items():
        for name, count in Counter(names).items():
            if count > 1:
                add(f"{kind} {name!r} is declared {count} times")

    queues = {q.name: q for q in topology.queues}
    known = {
        "queue": set(queues),
        "topic": {t.name for t in topology.topics},
        "bus": {b.name for b in topology.buses},
        "stream": {s.name for s in topology.streams},
        "bucket": {b.name for b in topology.buckets},
        "function": {f.name for f in topology.functions},
        "firehose": {d.name for d in topology.delivery_streams},
    }

    def resolve(text: str, where: str, allowed: tuple[str, ...], default: str | None = None) -> Ref | None:
        try:
            ref = Ref.parse(text, default_kind=default)
        except ValueError as error:
            add(f"{where}: {error}")
            return None
        if ref.kind not in allowed:
            add(f"{where}: {ref} cannot be used here; use one of {', '.join(k + ':NAME' for k in allowed)}")
            return None
        if ref.kind == "identity":
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+|[a-z0-9.-]+\.[a-z]{2,}", ref.name):
                add(f"{where}: {ref} is not an email address or domain")
                return None
            return ref
        if ref.kind == "sms":
            if ref.name != "any":
                add(f"{where}: write sms:any (SMS goes to phone numbers, which have no ARN)")
                return None
            return ref
        if ref.name not in known[ref.kind]:
            add(f"{where}: unknown {ref.kind} {ref.name!r}; declare it under {ref.kind}s")
            return None
        return ref

    for queue in topology.queues:
        where = f"queue {queue.name!r}"
        check_name("queue", queue.name, fifo_allowed=True)
        if queue.fifo and not queue.name.endswith(".fifo"):
            add(f"{where}: a FIFO queue's name must end in '.fifo' (call it {queue.name + '.fifo'!r})")
        if not queue.fifo and queue.name.endswith(".fifo"):
            add(f"{where}: only FIFO queues end in '.fifo'; add 'fifo: true' or rename it")
        if (queue.content_based_deduplication or queue.high_throughput) and not queue.fifo:
            add(f"{where}: content-based deduplication and high throughput need 'fifo: true'")
        for setting, (low, high) in _QUEUE_LIMITS.items():
            value = getattr(queue, setting)
            if not low <= value <= high:
                add(f"{where}: {setting}={value} is outside {low}..{high}")
        if queue.dead_letter is not None:
            dlq = queues.get(queue.dead_letter)
            if dlq is None:
                add(f"{where}: unknown dead-letter queue {queue.dead_letter!r}; declare it under queues")
            elif dlq.fifo != queue.fifo:
                add(f"{where}: its DLQ {dlq.name!r} must be {'FIFO' if queue.fifo else 'standard'} like the queue")
            elif dlq.name == queue.name:
                add(f"{where}: a queue cannot be its own dead-letter queue")
            elif dlq.retention < queue.retention:
                add(f"{where}: its DLQ keeps messages {dlq.retention} s, less than the queue's {queue.retention} s; messages could expire in the DLQ before anyone looks")

    for queue in topology.queues:
        chain, current = [queue.name], queue.dead_letter
        while current in queues and current not in chain:
            chain.append(current)
            current = queues[current].dead_letter
        if current in chain and current is not None:
            add(f"queue {queue.name!r}: dead-letter queues form a loop ({' -> '.join([*chain, current])})")
            break

    for topic in topology.topics:
        where = f"topic {topic.name!r}"
        check_name("topic", topic.name, fifo_allowed=True)
        if topic.fifo != topic.name.endswith(".fifo"):
            add(f"{where}: FIFO topics (and only they) are named '*.fifo' with 'fifo: true'")
        if topic.content_based_deduplication and not topic.fifo:
            add(f"{where}: content-based deduplication needs 'fifo: true'")
        for index, sub in enumerate(topic.subscriptions):
            at = f"{where} subscription {index}"
            if sub.protocol == "sqs":
                ref = resolve(sub.endpoint, at, ("queue",), default="queue")
                if ref and topic.fifo and not queues[ref.name].fifo:
                    add(f"{at}: a FIFO topic delivers only to FIFO queues, not {ref.name!r}")
            elif sub.protocol == "lambda":
                resolve(sub.endpoint, at, ("function",), default="function")
                if topic.fifo:
                    add(f"{at}: FIFO topics deliver only to SQS queues")
            elif sub.protocol in ("http", "https") and not sub.endpoint.startswith(f"{sub.protocol}://"):
                add(f"{at}: an {sub.protocol} endpoint is a URL starting with {sub.protocol}://")
            if sub.raw_message_delivery and sub.protocol not in _RAW_PROTOCOLS:
                add(f"{at}: raw delivery works for {sorted(_RAW_PROTOCOLS)}, not {sub.protocol}")
            if sub.filter_policy is not None:
                try:
                    validate_filter_policy(sub.filter_policy, sub.filter_policy_scope)
                except PatternError as error:
                    add(f"{at} filter policy: {error}")
            if sub.dead_letter is not None:
                resolve(sub.dead_letter, f"{at} dead_letter", ("queue",), default="queue")

    for bus in topology.buses:
        check_name("bus", bus.name)
        if bus.name == "default":
            add("bus 'default': the default bus exists already; leave 'bus' unset on rules to use it")
        if bus.archive and bus.archive.event_pattern is not None:
            try:
                validate_event_pattern(bus.archive.event_pattern)
            except PatternError as error:
                add(f"bus {bus.name!r} archive pattern: {error}")

    for rule in topology.rules:
        where = f"rule {rule.name!r}"
        check_name("rule", rule.name)
        if rule.bus is not None and rule.bus not in known["bus"]:
            add(f"{where}: unknown bus {rule.bus!r}; declare it under buses (or leave bus unset for the default bus)")
        if (rule.event_pattern is None) == (rule.schedule is None):
            add(f"{where}: give exactly one of event_pattern or schedule")
        if rule.event_pattern is not None:
            try:
                validate_event_pattern(rule.event_pattern)
            except PatternError as error:
                add(f"{where} pattern: {error}")
        if rule.schedule is not None:
            if rule.bus is not None:
                add(f"{where}: scheduled rules run on the default bus only")
            try:
                validate_schedule(rule.schedule)
            except PatternError as error:
                add(f"{where}: {error}")
        if len(rule.targets) > 5:
            add(f"{where}: {len(rule.targets)} targets; EventBridge allows 5 per rule")
        for target in rule.targets:
            at = f"{where} target {target.id!r}"
            ref = resolve(target.arn, at, ("queue", "topic", "function", "stream", "bus", "firehose"))
            given = [x for x in (target.input_path, target.input, target.input_transformer) if x is not None]
            if len(given) > 1:
                add(f"{at}: input, input_path and input_transformer exclude each other")
            if ref and ref.kind == "queue" and queues[ref.name].fifo and not target.message_group_id:
                add(f"{at}: a FIFO queue target needs message_group_id")
            if ref and ref.kind == "stream" and not target.partition_key_path:
                add(f"{at}: a Kinesis target needs partition_key_path (e.g. $.detail.orderId)")
            if target.dead_letter is not None:
                resolve(target.dead_letter, f"{at} dead_letter", ("queue",), default="queue")
            if target.maximum_retry_attempts is not None and not 0 <= target.maximum_retry_attempts <= 185:
                add(f"{at}: maximum_retry_attempts must be 0..185")
            if target.maximum_event_age is not None and not 60 <= target.maximum_event_age <= 86_400:
                add(f"{at}: maximum_event_age must be 60..86400 seconds")
        repeated = sorted(i for i, n in Counter(t.id for t in rule.targets).items() if n > 1)
        if repeated:
            add(f"{where}: target ids must be unique; repeated: {repeated}")

    for stream in topology.streams:
        where = f"stream {stream.name!r}"
        check_name("stream", stream.name)
        if stream.on_demand == (stream.shards is not None):
            add(f"{where}: give shards, or on_demand: true with shards: null")
        if stream.shards is not None and not 1 <= stream.shards <= 500:
            add(f"{where}: shards={stream.shards} is outside 1..500")
        if not 24 <= stream.retention_hours <= 8_760:
            add(f"{where}: retention_hours must be 24..8760")
        if len(stream.consumers) > 20:
            add(f"{where}: at most 20 enhanced fan-out consumers")

    for bucket in topology.buckets:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", bucket.name):
            add(f"bucket {bucket.name!r}: use lowercase letters, digits and '-'")
        check_name("bucket", bucket.name)

    for delivery in topology.delivery_streams:
        where = f"delivery stream {delivery.name!r}"
        check_name("delivery stream", delivery.name)
        resolve(delivery.bucket, f"{where} bucket", ("bucket",), default="bucket")
        if delivery.source is not None:
            resolve(delivery.source, f"{where} source", ("stream",), default="stream")
        if not 0 <= delivery.buffer_seconds <= 900 or not 1 <= delivery.buffer_mb <= 128:
            add(f"{where}: buffering is 0..900 seconds and 1..128 MB")

    for function in topology.functions:
        where = f"function {function.name!r}"
        check_name("function", function.name)
        if function.code.startswith("eventlab:"):
            bundled = Path(__file__).resolve().parent.parent / "patterns" / "handlers" / function.code.removeprefix("eventlab:")
            if not bundled.is_dir():
                add(f"{where}: no bundled handler {function.code!r}")
        else:
            folder = Path(function.code)
            if not folder.is_absolute() and topology.base_dir is not None:
                folder = topology.base_dir / folder
            if not folder.is_dir():
                add(f"{where}: code folder {str(folder)!r} does not exist")
        if not 1 <= function.timeout <= 900:
            add(f"{where}: timeout must be 1..900 seconds")
        for source in function.event_sources:
            ref = resolve(source.source, f"{where} event source", ("queue", "stream"))
            if ref and ref.kind == "queue":
                queue = queues[ref.name]
                limit = 10 if queue.fifo else 10_000
                if not 1 <= source.batch_size <= limit:
                    add(f"{where}: batch_size for {queue.name!r} must be 1..{limit}")
                if queue.visibility_timeout < function.timeout:
                    add(f"{where}: queue {queue.name!r} visibility timeout ({queue.visibility_timeout} s) is shorter than the function timeout ({function.timeout} s); messages would be received twice (AWS recommends 6x)")
        for text in function.allow:
            resolve(text, f"{where} allow", REF_KINDS_SENDABLE)

    if problems:
        raise TopologyError(problems)

