"""What to build, declared: dataclasses for every resource, loadable from YAML.

Resources refer to each other by name. Where a field can point at several kinds (a rule's
target, a subscription's endpoint) the reference says which: ``queue:orders``,
``topic:alerts``, ``function:payment``, ``stream:audit``, ``bus:partner``. Names follow AWS:
a FIFO queue or topic is named ``something.fifo`` *and* declares ``fifo: true``.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
REF_KINDS = ("queue", "topic", "function", "stream", "bus", "bucket", "firehose", "identity", "sms")


class TopologyError(ValueError):
    """A topology that cannot be built; lists every problem found, each with its fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid topology:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class Ref:
    """A typed reference like ``queue:orders``."""

    kind: str
    name: str

    @classmethod
    def parse(cls, text: str, *, default_kind: str | None = None) -> Ref:
        kind, sep, name = text.partition(":")
        if not sep:
            if default_kind is None:
                raise ValueError(f"reference {text!r}: write it as kind:name, kind one of {REF_KINDS}")
            return cls(default_kind, text)
        if kind not in REF_KINDS or not name:
            raise ValueError(f"reference {text!r}: kind must be one of {REF_KINDS}")
        return cls(kind, name)

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass
class QueueSpec:
    """An SQS queue. Times in seconds; AWS defaults unless said otherwise."""

    name: str
    fifo: bool = False
    content_based_deduplication: bool = False
    high_throughput: bool = False
    visibility_timeout: int = 30
    receive_wait_time: int = 0
    delay: int = 0
    retention: int = 345_600
    max_message_size: int = 262_144
    dead_letter: str | None = None
    max_receive_count: int = 5
    encrypted: bool = True
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class SubscriptionSpec:
    """A subscription of an SNS topic: ``endpoint`` is ``queue:NAME``, ``function:NAME`` or a URL/address."""

    protocol: Literal["sqs", "lambda", "http", "https", "email-json", "email", "firehose"]
    endpoint: str
    raw_message_delivery: bool = False
    filter_policy: dict[str, Any] | None = None
    filter_policy_scope: Literal["MessageAttributes", "MessageBody"] = "MessageAttributes"
    dead_letter: str | None = None


@dataclass
class TopicSpec:
    """An SNS topic and its subscriptions."""

    name: str
    fifo: bool = False
    content_based_deduplication: bool = False
    encrypted: bool = True
    subscriptions: list[SubscriptionSpec] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class ArchiveSpec:
    """An EventBridge archive of a bus, optionally filtered, for replay."""

    retention_days: int = 1
    event_pattern: dict[str, Any] | None = None


@dataclass
class BusSpec:
    """A custom EventBridge bus."""

    name: str
    archive: ArchiveSpec | None = None


@dataclass
class InputTransformerSpec:
    """EventBridge's InputPathsMap and InputTemplate."""

    paths: dict[str, str]
    template: str


@dataclass
class RuleTargetSpec:
    """Where a rule sends what it matched: ``arn`` is ``queue:``, ``topic:``, ``function:``,
    ``stream:``, ``bus:`` or ``firehose:`` (a delivery stream) and a name."""

    id: str
    arn: str
    input_path: str | None = None
    input: str | None = None
    input_transformer: InputTransformerSpec | None = None
    maximum_retry_attempts: int | None = None
    maximum_event_age: int | None = None
    dead_letter: str | None = None
    message_group_id: str | None = None
    partition_key_path: str | None = None


@dataclass
class RuleSpec:
    """An EventBridge rule on ``bus`` (None: the default bus): a pattern or a schedule."""

    name: str
    bus: str | None = None
    event_pattern: dict[str, Any] | None = None
    schedule: str | None = None
    description: str = ""
    targets: list[RuleTargetSpec] = field(default_factory=list)


@dataclass
class StreamSpec:
    """A Kinesis data stream: provisioned ``shards``, or ``on_demand``; EFO ``consumers`` by name."""

    name: str
    shards: int | None = 1
    on_demand: bool = False
    encrypted: bool = True
    retention_hours: int = 24
    consumers: list[str] = field(default_factory=list)


@dataclass
class BucketSpec:
    """An S3 bucket: private and encrypted."""

    name: str


@dataclass
class DeliveryStreamSpec:
    """A Firehose delivery stream into ``bucket``, direct or reading the Kinesis ``source`` stream.

    LocalStack's Firehose reads a Kinesis source through a Java consumer that cannot be
    installed without a JDK download, so on the emulator a ``source`` is refused: feed the
    delivery stream directly (a rule target ``firehose:NAME``, or a function)."""

    name: str
    bucket: str
    source: str | None = None
    prefix: str = ""
    buffer_seconds: int = 60
    buffer_mb: int = 1
    compression: Literal["UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY"] = "UNCOMPRESSED"


@dataclass
class FunctionSpec:
    """A Lambda function from a folder of handler code, with its SQS/Kinesis event sources."""

    name: str
    code: str
    handler: str = "main.handler"
    runtime: str = "python3.13"
    timeout: int = 30
    memory: int = 128
    environment: dict[str, str] = field(default_factory=dict)
    event_sources: list[EventSourceSpec] = field(default_factory=list)
    reserved_concurrency: int | None = None
    allow: list[str] = field(default_factory=list)


@dataclass
class EventSourceSpec:
    """An event source mapping: ``source`` is ``queue:NAME`` or ``stream:NAME``."""

    source: str
    batch_size: int = 10
    batching_window: int = 0
    report_batch_item_failures: bool = True
    starting_position: Literal["TRIM_HORIZON", "LATEST"] = "TRIM_HORIZON"


@dataclass
class Topology:
    """Everything one pattern needs, built by :func:`eventlab.topology.apply`."""

    name: str = "topology"
    queues: list[QueueSpec] = field(default_factory=list)
    topics: list[TopicSpec] = field(default_factory=list)
    buses: list[BusSpec] = field(default_factory=list)
    rules: list[RuleSpec] = field(default_factory=list)
    streams: list[StreamSpec] = field(default_factory=list)
    buckets: list[BucketSpec] = field(default_factory=list)
    delivery_streams: list[DeliveryStreamSpec] = field(default_factory=list)
    functions: list[FunctionSpec] = field(default_factory=list)
    # Where relative function code folders are found: the YAML file's folder when loaded from one.
    base_dir: Path | None = field(default=None, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base_dir: Path | None = None) -> Topology:
        """Build from plain data (as YAML gives it); unknown keys are errors, not ignored."""
        if "base_dir" in data:
            raise TopologyError(["topology: 'base_dir' is set from the file's location, not in YAML"])
        topology: Topology = _build(cls, data, "topology")
        topology.base_dir = base_dir
        return topology

    @classmethod
    def from_yaml(cls, path: str | Path, variables: Mapping[str, Any] | None = None) -> Topology:
        """Load a topology from a YAML file (see ``data/topologies/``).

        A file may declare ``variables:`` with defaults and use them as ``${name}`` in any
        string; ``variables`` here override the defaults (unknown names are errors).
        """
        path = Path(path)
        with path.open() as handle:
            data = yaml.safe_load(handle) or {}
        defaults = data.pop("variables", None) or {}
        unknown = sorted(set(variables or {}) - set(defaults))
        if unknown:
            raise TopologyError([f"{path.name}: unknown variable(s) {unknown}; declared: {sorted(defaults)}"])
        data = _substitute(data, {**defaults, **(variables or {})}, path.name)
        return cls.from_dict(data, base_dir=path.resolve().parent)


def _substitute(data: Any, values: Mapping[str, Any], where: str) -> Any:
    """Replace ``${name}`` in every string of a YAML document (JSONPaths such as ``$.detail`` stay)."""
    if isinstance(data, str):

        def lookup(match: re.Match[str]) -> str:
            if match.group(1) not in values:
                raise TopologyError([f"{where}: {data!r} uses the undeclared variable {match.group(1)!r}"])
            return str(values[match.group(1)])

        return _PLACEHOLDER.sub(lookup, data)
    if isinstance(data, list):
        return [_substitute(item, values, where) for item in data]
    if isinstance(data, Mapping):
        return {key: _substitute(value, values, where) for key, value in data.items()}
    return data


def _build(kind: Any, data: Any, path: str) -> Any:
    """Turn plain data into the dataclass ``kind`` (recursively), naming the path of any error."""
    if not isinstance(data, Mapping):
        raise TopologyError([f"{path}: expected a mapping, got {type(data).__name__}"])
    hints = typing.get_type_hints(kind)
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise TopologyError([f"{path}: unknown key(s) {unknown}; known: {sorted(fields)}"])
    values = {}
    for key, value in data.items():
        values[key] = _convert(hints[key], value, f"{path}.{key}")
    try:
        return kind(**values)
    except TypeError as error:
        raise TopologyError([f"{path}: {error}"]) from None


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, path)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    if origin is list:
        if not isinstance(value, list):
            raise TopologyError([f"{path}: expected a list"])
        return [_convert(args[0], item, f"{path}[{i}]") for i, item in enumerate(value)]
    if hint is bool and isinstance(value, str):  # "${flag}" substituted into a string
        if value.lower() not in ("true", "false"):
            raise TopologyError([f"{path}: expected true or false, got {value!r}"])
        return value.lower() == "true"
    if hint is int and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise TopologyError([f"{path}: expected a whole number, got {value!r}"]) from None
    return value
