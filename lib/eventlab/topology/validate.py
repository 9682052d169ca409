"""Check a whole topology before the first AWS call: every problem at once, each with its fix.

Nothing that passes here may fail halfway through ``apply()``: every field is of its declared
type, every reference resolves, every value is within the range its service takes, and every
name ``apply()`` generates (roles, archives, log groups, with the run prefix) fits its
service's limit. The limits are read from the service modules (``services/sqs.MAX_NAME``, ...),
where each has its one home; limits only AWS enforces (the emulators accept more) are checked
too, so a topology that works locally can be built on AWS.
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping
from io import BytesIO

from eventlab.services import events, firehose, kinesis, lambda_, sns, sqs, tags
from eventlab.topology import plan
from eventlab.topology.model import (
    FunctionSpec,
    QueueSpec,
    Ref,
    RuleTargetSpec,
    Topology,
    TopologyError,
    check_types,
)
from eventlab.topology.patterns import (
    PatternError,
    validate_event_pattern,
    validate_filter_policy,
    validate_schedule,
)

log = logging.getLogger(__name__)

# What a declared name may be: run.name() takes these as a base (the run prefix and suffixes
# such as ".fifo" are added to it); every service's own pattern allows them.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Queue settings and the SQS attribute each one sets (ranges in services/sqs.py).
_QUEUE_ATTRIBUTES = {
    "visibility_timeout": "VisibilityTimeout",
    "receive_wait_time": "ReceiveMessageWaitTimeSeconds",
    "delay": "DelaySeconds",
    "retention": "MessageRetentionPeriod",
    "max_message_size": "MaximumMessageSize",
}
# What a function's ``allow`` may name: resources its role may send to or write into, an SES
# sender identity (``identity:orders@example.com``) and ``sms:any`` (SMS to phone numbers).
REF_KINDS_SENDABLE = ("queue", "topic", "bus", "stream", "bucket", "firehose", "identity", "sms")


def _base(name: str) -> str:
    return name.removesuffix(".fifo")


def _outside(value: int, bounds: tuple[int, int]) -> bool:
    return not bounds[0] <= value <= bounds[1]


def validate(topology: Topology, *, prefix: str | None = None) -> None:
    """Raise :class:`TopologyError` listing every problem; return quietly if it can be built.

    ``prefix`` is the run's name prefix (``apply()`` passes it); by default one of the length
    every run's has.
    """
    problems = check_types(topology)
    if problems:  # the checks below rely on the declared types
        raise TopologyError(problems)
    prefix = prefix or plan.EXAMPLE_PREFIX
    add = problems.append
    bad_names: set[str] = set()

    def check_name(kind: str, name: str, fifo_allowed: bool = False) -> None:
        base = _base(name) if fifo_allowed else name
        if not _NAME_RE.fullmatch(base):
            add(f"{kind} {name!r}: use letters, digits, '-' and '_', starting with a letter or digit")
            bad_names.add(f"{kind} {name!r}")

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
    fifo_topics = {t.name for t in topology.topics if t.fifo}
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

    def check_tags(where: str, declared: dict[str, str], max_tags: int) -> None:
        for problem in tags.tag_problems(declared, max_tags=max_tags):
            add(f"{where}: {problem}")

    def check_dead_letter_queue(where: str, text: str, *, fifo: bool, who: str) -> None:
        """A DLQ reference of a subscription or rule target: it exists and is of the right type."""
        ref = resolve(text, where, ("queue",), default="queue")
        if ref and queues[ref.name].fifo != fifo:
            kind = "FIFO" if fifo else "standard"
            add(f"{where}: {who} needs a {kind} queue as its dead-letter queue, not {ref.name!r}")

    # -- queues ------------------------------------------------------------------------------
    for queue in topology.queues:
        where = f"queue {queue.name!r}"
        check_name("queue", queue.name, fifo_allowed=True)
        if queue.fifo and not queue.name.endswith(".fifo"):
            add(f"{where}: a FIFO queue's name must end in '.fifo' (call it {queue.name + '.fifo'!r})")
        if not queue.fifo and queue.name.endswith(".fifo"):
            add(f"{where}: only FIFO queues end in '.fifo'; add 'fifo: true' or rename it")
        if (queue.content_based_deduplication or queue.high_throughput) and not queue.fifo:
            add(f"{where}: content-based deduplication and high throughput need 'fifo: true'")
        for setting, attribute in _QUEUE_ATTRIBUTES.items():
            value, bounds = getattr(queue, setting), sqs.ATTRIBUTE_RANGES[attribute]
            if _outside(value, bounds):
                add(f"{where}: {setting}={value} is outside {bounds[0]}..{bounds[1]} (SQS {attribute})")
        if _outside(queue.max_receive_count, sqs.MAX_RECEIVE_COUNT):
            low, high = sqs.MAX_RECEIVE_COUNT
            add(f"{where}: max_receive_count={queue.max_receive_count} is outside {low}..{high}")
        check_tags(where, queue.tags, sqs.MAX_TAGS)
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

    # -- topics and subscriptions --------------------------------------------------------------
    for topic in topology.topics:
        where = f"topic {topic.name!r}"
        check_name("topic", topic.name, fifo_allowed=True)
        if topic.fifo != topic.name.endswith(".fifo"):
            add(f"{where}: FIFO topics (and only they) are named '*.fifo' with 'fifo: true'")
        if topic.content_based_deduplication and not topic.fifo:
            add(f"{where}: content-based deduplication needs 'fifo: true'")
        check_tags(where, topic.tags, sns.MAX_TAGS)
        endpoints = Counter((sub.protocol, sub.endpoint) for sub in topic.subscriptions)
        for (protocol, endpoint), count in endpoints.items():
            if count > 1:
                add(f"{where}: {count} {protocol} subscriptions to {endpoint!r}; SNS keeps one subscription per endpoint, so merge them")
        filtered = sum(1 for sub in topic.subscriptions if sub.filter_policy is not None)
        if filtered > sns.FILTER_POLICIES_PER_TOPIC:
            add(f"{where}: {filtered} filter policies; SNS allows {sns.FILTER_POLICIES_PER_TOPIC} per topic (default quota)")
        for index, sub in enumerate(topic.subscriptions):
            at = f"{where} subscription {index}"
            if topic.fifo and sub.protocol not in sns.FIFO_PROTOCOLS:
                add(f"{at}: FIFO topics deliver only to SQS queues, not over {sub.protocol}")
            if sub.protocol == "sqs":
                ref = resolve(sub.endpoint, at, ("queue",), default="queue")
                if ref and topic.fifo and not queues[ref.name].fifo:
                    add(f"{at}: a FIFO topic delivers only to FIFO queues, not {ref.name!r}")
            elif sub.protocol == "lambda":
                resolve(sub.endpoint, at, ("function",), default="function")
            elif sub.protocol in ("http", "https"):
                if not re.fullmatch(rf"{sub.protocol}://[^\s/]+(/\S*)?", sub.endpoint):
                    add(f"{at}: an {sub.protocol} endpoint is a URL starting with {sub.protocol}://")
            elif sub.protocol in ("email", "email-json"):
                if not _EMAIL_RE.fullmatch(sub.endpoint):
                    add(f"{at}: an {sub.protocol} endpoint is an email address, not {sub.endpoint!r}")
            elif sub.protocol == "firehose":
                add(f"{at}: SNS delivers to Firehose only with a subscription role, which eventlab does not create; use a rule target firehose:NAME or a function")
            if sub.raw_message_delivery and sub.protocol not in sns.RAW_DELIVERY_PROTOCOLS:
                add(f"{at}: raw delivery works for {sorted(sns.RAW_DELIVERY_PROTOCOLS)}, not {sub.protocol}")
            if sub.filter_policy is not None:
                try:
                    validate_filter_policy(sub.filter_policy, sub.filter_policy_scope)
                except PatternError as error:
                    add(f"{at} filter policy: {error}")
            if sub.dead_letter is not None:
                check_dead_letter_queue(f"{at} dead_letter", sub.dead_letter, fifo=topic.fifo,
                                        who=f"a subscription to a {'FIFO' if topic.fifo else 'standard'} topic")

    # -- buses and rules ---------------------------------------------------------------------
    for bus in topology.buses:
        check_name("bus", bus.name)
        if bus.name == "default":
            add("bus 'default': the default bus exists already; leave 'bus' unset on rules to use it")
        if bus.archive is not None:
            if bus.archive.retention_days < 0:
                add(f"bus {bus.name!r} archive: retention_days must be 0 (keep forever) or more")
            if bus.archive.event_pattern is not None:
                try:
                    validate_event_pattern(bus.archive.event_pattern, events.ARCHIVE_PATTERN_MAX_CHARS)
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
        if len(rule.description) > events.DESCRIPTION_MAX_CHARS:
            add(f"{where}: the description is {len(rule.description)} characters; EventBridge allows {events.DESCRIPTION_MAX_CHARS}")
        if len(rule.targets) > events.MAX_TARGETS:
            add(f"{where}: {len(rule.targets)} targets; EventBridge allows {events.MAX_TARGETS} per rule")
        for target in rule.targets:
            _check_target(target, f"{where} target {target.id!r}", resolve, queues, fifo_topics, check_dead_letter_queue, add)
        repeated = sorted(i for i, n in Counter(t.id for t in rule.targets).items() if n > 1)
        if repeated:
            add(f"{where}: target ids must be unique; repeated: {repeated}")

    # -- streams, buckets, delivery streams -----------------------------------------------------
    for stream in topology.streams:
        where = f"stream {stream.name!r}"
        check_name("stream", stream.name)
        if stream.on_demand == (stream.shards is not None):
            add(f"{where}: give shards, or on_demand: true with shards: null")
        if stream.shards is not None and _outside(stream.shards, kinesis.SHARDS):
            add(f"{where}: shards={stream.shards} is outside {kinesis.SHARDS[0]}..{kinesis.SHARDS[1]}")
        if _outside(stream.retention_hours, kinesis.RETENTION_HOURS):
            add(f"{where}: retention_hours must be {kinesis.RETENTION_HOURS[0]}..{kinesis.RETENTION_HOURS[1]}")
        if len(stream.consumers) > kinesis.MAX_CONSUMERS:
            add(f"{where}: at most {kinesis.MAX_CONSUMERS} enhanced fan-out consumers")
        for consumer, count in Counter(stream.consumers).items():
            if count > 1:
                add(f"{where}: consumer {consumer!r} is listed {count} times")

    for bucket in topology.buckets:
        if not _BUCKET_RE.fullmatch(bucket.name):
            add(f"bucket {bucket.name!r}: use lowercase letters, digits and '-', starting with a letter or digit")
            bad_names.add(f"bucket {bucket.name!r}")

    for delivery in topology.delivery_streams:
        where = f"delivery stream {delivery.name!r}"
        check_name("delivery stream", delivery.name)
        resolve(delivery.bucket, f"{where} bucket", ("bucket",), default="bucket")
        if delivery.source is not None:
            resolve(delivery.source, f"{where} source", ("stream",), default="stream")
        if _outside(delivery.buffer_seconds, firehose.BUFFER_SECONDS) or _outside(delivery.buffer_mb, firehose.BUFFER_MB):
            add(f"{where}: buffering is {firehose.BUFFER_SECONDS[0]}..{firehose.BUFFER_SECONDS[1]} seconds and {firehose.BUFFER_MB[0]}..{firehose.BUFFER_MB[1]} MB")
        if len(delivery.prefix) > firehose.PREFIX_MAX_CHARS:
            add(f"{where}: the prefix is {len(delivery.prefix)} characters; Firehose allows {firehose.PREFIX_MAX_CHARS}")
        if "!{" in delivery.prefix:
            add(f"{where}: prefix expressions (!{{...}}) need an error prefix with !{{firehose:error-output-type}}, which eventlab does not set; use a plain prefix")

    # -- functions ---------------------------------------------------------------------------
    reserved = 0
    mappings: Counter[tuple[str, str]] = Counter()
    for function in topology.functions:
        where = f"function {function.name!r}"
        check_name("function", function.name)
        _check_function_code(function, topology, where, add)
        _check_runtime(function, where, add)
        if _outside(function.timeout, lambda_.TIMEOUT_SECONDS):
            add(f"{where}: timeout must be {lambda_.TIMEOUT_SECONDS[0]}..{lambda_.TIMEOUT_SECONDS[1]} seconds")
        if _outside(function.memory, lambda_.MEMORY_MB):
            add(f"{where}: memory={function.memory} is outside the {lambda_.MEMORY_MB[0]}..{lambda_.MEMORY_MB[1]} MB Lambda takes")
        for key in function.environment:
            if not re.fullmatch(lambda_.ENVIRONMENT_KEY_PATTERN, key):
                add(f"{where}: environment variable {key!r}: Lambda takes names of two or more letters, digits and '_', starting with a letter")
            elif key in lambda_.RESERVED_ENVIRONMENT_KEYS:
                add(f"{where}: environment variable {key!r} is set by the Lambda runtime and cannot be declared")
        if function.reserved_concurrency is not None:
            if function.reserved_concurrency < 0:
                add(f"{where}: reserved_concurrency must be 0 or more")
            reserved += max(function.reserved_concurrency, 0)
        for source in function.event_sources:
            ref = resolve(source.source, f"{where} event source", ("queue", "stream"))
            if ref is None:
                continue
            mappings[(function.name, str(ref))] += 1
            if _outside(source.batching_window, lambda_.BATCHING_WINDOW_SECONDS):
                low, high = lambda_.BATCHING_WINDOW_SECONDS
                add(f"{where}: batching_window for {ref} must be {low}..{high} seconds")
            if ref.kind == "queue":
                queue = queues[ref.name]
                bounds = lambda_.SQS_FIFO_BATCH_SIZE if queue.fifo else lambda_.SQS_BATCH_SIZE
                if _outside(source.batch_size, bounds):
                    add(f"{where}: batch_size for {queue.name!r} must be {bounds[0]}..{bounds[1]}")
                if queue.fifo and source.batching_window:
                    add(f"{where}: Lambda takes no batching window from a FIFO queue ({queue.name!r}); set batching_window: 0")
                elif source.batch_size > lambda_.SQS_BATCH_WITHOUT_WINDOW and source.batching_window < 1:
                    add(f"{where}: a batch_size over {lambda_.SQS_BATCH_WITHOUT_WINDOW} from {queue.name!r} needs batching_window of 1 s or more")
                if queue.visibility_timeout < function.timeout:
                    add(f"{where}: queue {queue.name!r} visibility timeout ({queue.visibility_timeout} s) is shorter than the function timeout ({function.timeout} s); messages would be received twice (AWS recommends 6x)")
            elif _outside(source.batch_size, lambda_.STREAM_BATCH_SIZE):
                low, high = lambda_.STREAM_BATCH_SIZE
                add(f"{where}: batch_size for {ref} must be {low}..{high}")
        for text in function.allow:
            resolve(text, f"{where} allow", REF_KINDS_SENDABLE)
    for (name, source), count in mappings.items():
        if count > 1:
            add(f"function {name!r}: {count} event sources read {source}; Lambda allows one mapping per source and function")
    most = lambda_.ACCOUNT_CONCURRENCY - lambda_.MIN_UNRESERVED_CONCURRENCY
    if reserved > most:
        add(f"functions reserve {reserved} concurrent executions together; an account (default quota {lambda_.ACCOUNT_CONCURRENCY}) keeps {lambda_.MIN_UNRESERVED_CONCURRENCY} unreserved, so at most {most}")

    problems += plan.name_problems(topology, prefix, known_bad=frozenset(bad_names))
    if not problems:  # sizes are worked out on a topology whose references resolve
        problems += plan.size_problems(topology, prefix)
    if problems:
        raise TopologyError(list(dict.fromkeys(problems)))


def _check_target(
    target: RuleTargetSpec,
    at: str,
    resolve: Callable[..., Ref | None],
    queues: Mapping[str, QueueSpec],
    fifo_topics: set[str],
    check_dead_letter_queue: Callable[..., None],
    add: Callable[[str], None],
) -> None:
    """One rule target: its id, its reference and the settings its kind takes (``resolve``,
    ``check_dead_letter_queue`` and ``add`` are :func:`validate`'s)."""
    if not re.fullmatch(events.TARGET_ID_PATTERN, target.id):
        add(f"{at}: a target id is 1 to 64 letters, digits, '.', '-' and '_'")
    ref = resolve(target.arn, at, ("queue", "topic", "function", "stream", "bus", "firehose"))
    given = [x for x in (target.input_path, target.input, target.input_transformer) if x is not None]
    if len(given) > 1:
        add(f"{at}: input, input_path and input_transformer exclude each other")
    if target.input is not None:
        if len(target.input) > events.INPUT_MAX_CHARS:
            add(f"{at}: input is {len(target.input)} characters; EventBridge allows {events.INPUT_MAX_CHARS}")
        try:
            json.loads(target.input)
        except ValueError:
            add(f"{at}: input must be JSON text (it is sent as the event), e.g. '{{\"kind\": \"tick\"}}'")
    for label, path, limit in (
        ("input_path", target.input_path, events.INPUT_PATH_MAX_CHARS),
        ("partition_key_path", target.partition_key_path, events.PARTITION_KEY_PATH_MAX_CHARS),
    ):
        if path is not None and (not path.startswith("$") or len(path) > limit):
            add(f"{at}: {label} is a JSONPath such as $.detail, at most {limit} characters")
    transformer = target.input_transformer
    if transformer is not None:
        if len(transformer.paths) > events.INPUT_PATHS_MAX:
            add(f"{at}: input_transformer has {len(transformer.paths)} paths; EventBridge allows {events.INPUT_PATHS_MAX}")
        for key, path in transformer.paths.items():
            if not path.startswith("$") or len(path) > events.INPUT_PATH_MAX_CHARS:
                add(f"{at}: input_transformer path {key!r} is a JSONPath such as $.detail.id, at most {events.INPUT_PATH_MAX_CHARS} characters")
        if not 1 <= len(transformer.template) <= events.INPUT_TEMPLATE_MAX_CHARS:
            add(f"{at}: input_transformer template must be 1..{events.INPUT_TEMPLATE_MAX_CHARS} characters")
    if ref is not None and ref.kind == "topic" and ref.name in fifo_topics:
        add(f"{at}: EventBridge does not deliver to SNS FIFO topics; target a FIFO queue instead")
    fifo_queue = ref is not None and ref.kind == "queue" and queues[ref.name].fifo
    if fifo_queue and not target.message_group_id:
        add(f"{at}: a FIFO queue target needs message_group_id")
    if fifo_queue and not queues[ref.name].content_based_deduplication:
        add(f"{at}: EventBridge sends to a FIFO queue without deduplication ids; give queue {ref.name!r} content_based_deduplication: true")
    if target.message_group_id is not None:
        if ref is not None and not fifo_queue:
            add(f"{at}: message_group_id applies to FIFO queue targets only")
        if not 1 <= len(target.message_group_id) <= events.MESSAGE_GROUP_ID_MAX_CHARS:
            add(f"{at}: message_group_id must be 1..{events.MESSAGE_GROUP_ID_MAX_CHARS} characters")
    if ref is not None and ref.kind == "stream" and not target.partition_key_path:
        add(f"{at}: a Kinesis target needs partition_key_path (e.g. $.detail.orderId)")
    if ref is not None and ref.kind != "stream" and target.partition_key_path is not None:
        add(f"{at}: partition_key_path applies to stream targets only")
    if target.dead_letter is not None:
        check_dead_letter_queue(f"{at} dead_letter", target.dead_letter, fifo=False, who="an EventBridge target")
    if target.maximum_retry_attempts is not None and _outside(target.maximum_retry_attempts, events.RETRY_ATTEMPTS):
        add(f"{at}: maximum_retry_attempts must be {events.RETRY_ATTEMPTS[0]}..{events.RETRY_ATTEMPTS[1]}")
    if target.maximum_event_age is not None and _outside(target.maximum_event_age, events.EVENT_AGE_SECONDS):
        add(f"{at}: maximum_event_age must be {events.EVENT_AGE_SECONDS[0]}..{events.EVENT_AGE_SECONDS[1]} seconds")


def _check_function_code(function: FunctionSpec, topology: Topology, where: str, add: Callable[[str], None]) -> None:
    """The code folder exists, packages within Lambda's size limits and holds the handler."""
    try:
        folder = topology.code_dir(function)
    except FileNotFoundError:
        add(f"{where}: no bundled handler {function.code!r}")
        return
    if not folder.is_dir():
        add(f"{where}: code folder {str(folder)!r} does not exist")
        return
    try:
        zipped = lambda_.package(folder)
    except (OSError, ValueError) as error:
        add(f"{where}: its code cannot be packaged: {error}")
        return
    if len(zipped) > lambda_.PACKAGE_MAX_ZIPPED_BYTES:
        add(f"{where}: its package is {len(zipped) / 2**20:.1f} MB zipped; Lambda takes {lambda_.PACKAGE_MAX_ZIPPED_BYTES // 2**20} MB in a request")
    with zipfile.ZipFile(BytesIO(zipped)) as archive:
        files = {info.filename: info.file_size for info in archive.infolist()}
    if sum(files.values()) > lambda_.PACKAGE_MAX_UNZIPPED_BYTES:
        add(f"{where}: its code is {sum(files.values()) / 2**20:.1f} MB unzipped; Lambda allows {lambda_.PACKAGE_MAX_UNZIPPED_BYTES // 2**20} MB")
    handler = function.handler
    module, dot, attribute = handler.rpartition(".")
    if len(handler) > lambda_.HANDLER_MAX_CHARS or not dot or not module or not attribute or re.search(r"\s", handler):
        add(f"{where}: handler {handler!r} is module.function (e.g. main.handler), at most {lambda_.HANDLER_MAX_CHARS} characters")
        return
    path = module.replace(".", "/")
    if f"{path}.py" not in files and f"{path}/__init__.py" not in files:
        add(f"{where}: handler {handler!r} needs {path}.py in {str(folder)!r}, which has no such file")


def _check_runtime(function: FunctionSpec, where: str, add: Callable[[str], None]) -> None:
    """A Python runtime Lambda creates functions with (deprecated ones with a warning)."""
    if function.runtime in lambda_.PYTHON_RUNTIMES:
        return
    if function.runtime in lambda_.DEPRECATED_PYTHON_RUNTIMES:
        log.warning("%s: runtime %s is deprecated by Lambda; use %s", where, function.runtime, lambda_.DEFAULT_RUNTIME)
        return
    if function.runtime.startswith("python"):
        add(f"{where}: runtime {function.runtime!r} is not a Python runtime Lambda creates functions with; use one of {', '.join(lambda_.PYTHON_RUNTIMES)}")
    else:
        add(f"{where}: runtime {function.runtime!r}: eventlab's Lambda executor runs Python handlers only; use one of {', '.join(lambda_.PYTHON_RUNTIMES)}")
