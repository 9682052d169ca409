"""What to build, declared: dataclasses for every resource, loadable from YAML.

Resources refer to each other by name. Where a field can point at several kinds (a rule's
target, a subscription's endpoint) the reference says which: ``queue:orders``,
``topic:alerts``, ``function:payment``, ``stream:audit``, ``bus:partner``. Names follow AWS:
a FIFO queue or topic is named ``something.fifo`` *and* declares ``fifo: true``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from eventlab.handlers import handler_dir

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
BUNDLED = "eventlab:"  # ``code: eventlab:NAME`` is a handler eventlab ships (see eventlab.handlers)
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


# A queue's settings and the SQS attribute each one sets (their ranges: services/sqs.py).
QUEUE_ATTRIBUTES = {
    "visibility_timeout": "VisibilityTimeout",
    "receive_wait_time": "ReceiveMessageWaitTimeSeconds",
    "delay": "DelaySeconds",
    "retention": "MessageRetentionPeriod",
    "max_message_size": "MaximumMessageSize",
}


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
    # The KMS key (id, ARN or alias) to encrypt with; None lets eventlab choose: a customer-managed
    # key for exactly its publishers when an AWS service sends to it, else SSE-SQS.
    kms_key: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def attributes(self) -> dict[str, str | int]:
        """The SQS attributes these settings set (high throughput: a FIFO queue's two)."""
        attributes: dict[str, str | int] = {attribute: getattr(self, setting) for setting, attribute in QUEUE_ATTRIBUTES.items()}
        if self.high_throughput:
            attributes |= {"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}
        return attributes


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
    # The KMS key (id, ARN or alias); None lets eventlab choose: a customer-managed key for exactly
    # its publishers when an AWS service publishes to it, else the AWS-managed alias/aws/sns.
    kms_key: str | None = None
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
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


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

    def code_dir(self, function: FunctionSpec) -> Path:
        """A function's code folder: ``eventlab:NAME`` is a bundled handler (FileNotFoundError
        when there is none of that name), else a path relative to the YAML file's folder (or to
        the working directory)."""
        if function.code.startswith(BUNDLED):
            return handler_dir(function.code.removeprefix(BUNDLED))
        path = Path(function.code)
        return path if path.is_absolute() or self.base_dir is None else self.base_dir / path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base_dir: Path | None = None) -> Topology:
        """Build from plain data (as YAML gives it): every field is checked against its declared
        type, and unknown keys are errors, not ignored. Raises :class:`TopologyError` with every
        problem found, each naming the field's path."""
        if isinstance(data, Mapping) and "base_dir" in data:
            raise TopologyError(["topology: 'base_dir' is set from the file's location, not in YAML"])
        problems: list[str] = []
        topology = _build(cls, data, "topology", problems)
        if problems:
            raise TopologyError(problems)
        topology.base_dir = base_dir
        return topology

    @classmethod
    def from_yaml(cls, path: str | Path, variables: Mapping[str, Any] | None = None) -> Topology:
        """Load a topology from a YAML file (see ``data/topologies/``).

        A file may declare ``variables:`` with defaults and use them as ``${name}`` in any
        string; ``variables`` here override the defaults (unknown names are errors). YAML
        anchors and aliases are refused: a few hundred bytes of nested aliases expand to
        gigabytes.
        """
        path = Path(path)
        try:
            with path.open() as handle:
                data = yaml.load(handle, Loader=_TopologyLoader)  # a SafeLoader subclass
        except _AliasRefused as refused:
            raise TopologyError([f"{path.name}: {refused}"]) from None
        except yaml.YAMLError as error:
            raise TopologyError([f"{path.name}: not valid YAML ({error})"]) from None
        except RecursionError:
            raise TopologyError([f"{path.name}: nested too deeply to be a topology"]) from None
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise TopologyError([f"{path.name}: the top level must be a mapping of keys (name, queues, ...), not a {_kind(data)}"])
        data = dict(data)
        defaults = data.pop("variables", None) or {}
        problems = _variable_problems(defaults, f"{path.name} variables")
        problems += _variable_problems(variables or {}, "variables passed in")
        if problems:
            raise TopologyError(problems)
        unknown = sorted(set(variables or {}) - set(defaults))
        if unknown:
            raise TopologyError([f"{path.name}: unknown variable(s) {unknown}; declared: {sorted(defaults)}"])
        data = _substitute(data, {**defaults, **(variables or {})}, path.name)
        return cls.from_dict(data, base_dir=path.resolve().parent)


def check_types(topology: Topology) -> list[str]:
    """Every field of a topology built in Python whose value is not of its declared type (YAML
    is checked as it is loaded), each with the field's path."""
    problems: list[str] = []
    _convert(Topology, topology, "topology", problems, built=True)
    return problems


class _AliasRefused(yaml.YAMLError):
    """An anchor or alias in a topology file."""


class _TopologyLoader(yaml.SafeLoader):
    """The safe loader, refusing anchors and aliases (the clean defence against alias bombs)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            line = event.start_mark.line + 1
            raise _AliasRefused(
                f"line {line}: YAML anchors and aliases (&{event.anchor}, *{event.anchor}) are not "
                "allowed in topology files; write the value out (or use a variable)"
            )
        return super().compose_node(parent, index)


def _kind(value: Any) -> str:
    """How a YAML value's type reads in an error: 'list', 'string', 'number', ..."""
    names = {list: "list", dict: "mapping", str: "string", bool: "boolean", int: "whole number", float: "number"}
    for kind, name in names.items():
        if type(value) is kind or (kind is str and isinstance(value, str)):
            return name
    return "null" if value is None else type(value).__name__


def _variable_problems(values: Any, where: str) -> list[str]:
    if not isinstance(values, Mapping):
        return [f"{where}: expected a mapping of names to values, got a {_kind(values)}"]
    return [
        f"{where}: {name!r} must be a string, number or boolean, not a {_kind(value)}"
        for name, value in values.items()
        if not isinstance(value, str | int | float) or not isinstance(name, str)
    ]


class _Substituted(str):
    """A string a ``${variable}`` was substituted into. Placeholders live in strings, so such a
    value may stand for a number or a boolean: it is converted to the field's declared type."""


def _substitute(data: Any, values: Mapping[str, Any], where: str) -> Any:
    """Replace ``${name}`` in every string of a YAML document (JSONPaths such as ``$.detail`` stay)."""
    if isinstance(data, str):

        def lookup(match: re.Match[str]) -> str:
            if match.group(1) not in values:
                raise TopologyError([f"{where}: {data!r} uses the undeclared variable {match.group(1)!r}"])
            value = values[match.group(1)]
            return str(value).lower() if isinstance(value, bool) else str(value)

        text, count = _PLACEHOLDER.subn(lookup, data)
        return _Substituted(text) if count else text
    if isinstance(data, list):
        return [_substitute(item, values, where) for item in data]
    if isinstance(data, Mapping):
        return {key: _substitute(value, values, where) for key, value in data.items()}
    return data


def _build(kind: Any, data: Any, path: str, problems: list[str]) -> Any:
    """Turn plain data into the dataclass ``kind`` (recursively), noting each problem with its path."""
    if not isinstance(data, Mapping):
        problems.append(f"{path}: expected a mapping, got a {_kind(data)} ({data!r})")
        return None
    odd = [key for key in data if not isinstance(key, str)]
    if odd:
        problems.append(f"{path}: keys must be names, not {odd!r}")
        return None
    hints = typing.get_type_hints(kind)
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        problems.append(f"{path}: unknown key(s) {unknown}; known: {sorted(fields)}")
    missing = sorted(
        name for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and name not in data
    )
    if missing:
        problems.append(f"{path}: missing required key(s) {missing}")
    if unknown or missing:
        return None
    values = {key: _convert(hints[key], value, f"{path}.{key}", problems) for key, value in data.items()}
    return kind(**values)


def _convert(hint: Any, value: Any, path: str, problems: list[str], *, built: bool = False) -> Any:
    """``value`` as the declared type ``hint``, checked strictly: a str is a str, an int is an
    int (not a bool, not a float), a bool is a bool, mappings have string keys, Literal values
    are among the allowed. Substituted variables are converted; every mismatch is noted.
    ``built``: the value was built in Python, so nested specs must be dataclass instances."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, path, problems, built=built)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):  # built in Python: check its fields in place
            hints = typing.get_type_hints(hint)
            for f in dataclasses.fields(hint):
                if f.compare:  # base_dir (compare=False) is set by eventlab, not declared
                    _convert(hints[f.name], getattr(value, f.name), f"{path}.{f.name}", problems, built=True)
            return value
        if built:
            problems.append(f"{path}: expected a {hint.__name__}, got a {_kind(value)} ({value!r})")
            return value
        return _build(hint, value, path, problems)
    if origin is list:
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list, got a {_kind(value)} ({value!r})")
            return value
        return [_convert(args[0], item, f"{path}[{i}]", problems, built=built) for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            problems.append(f"{path}: expected a mapping, got a {_kind(value)} ({value!r})")
            return value
        converted = {}
        for key, item in value.items():
            if args[0] is str and not isinstance(key, str):
                problems.append(f"{path}: key {key!r} must be a string (quote it in YAML)")
                continue
            converted[str(key)] = _convert(args[1], item, f"{path}.{key}", problems, built=built)
        return converted
    if origin is Literal:
        if isinstance(value, str) and value in args:
            return str(value)
        problems.append(f"{path}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if hint is Any:
        _check_json(value, path, problems)
        return _plain(value)
    if hint is str:
        if isinstance(value, str):
            return str(value)
        problems.append(f"{path}: expected a string, got a {_kind(value)} ({value!r}); quote it in YAML")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, _Substituted) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        problems.append(f"{path}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, _Substituted) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        problems.append(f"{path}: expected a whole number, got {value!r}")
        return value
    if isinstance(hint, type) and not isinstance(value, hint):
        problems.append(f"{path}: expected {hint.__name__}, got a {_kind(value)} ({value!r})")
    return value


def _plain(value: Any) -> Any:
    """A JSON-like value with substituted strings made plain ``str`` again."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _check_json(value: Any, path: str, problems: list[str]) -> None:
    """Note a value JSON cannot carry (a YAML date, set or binary, a key that is not a string, a
    non-finite number): patterns and policies are sent to AWS as JSON."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            problems.append(f"{path}: {value!r} is not a JSON number")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]", problems)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(f"{path}: key {key!r} must be a string (quote it in YAML)")
            else:
                _check_json(item, f"{path}.{key}", problems)
        return
    problems.append(f"{path}: a {_kind(value)} ({value!r}) cannot be sent as JSON; quote it in YAML")
