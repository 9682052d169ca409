"""Bad topologies, one AWS limit each: every one is refused by validate() (or while loading),
with a message that names the problem, before anything is built.

Each case names the limit it checks and where AWS states it. Cases marked "AWS only" are limits
the emulators do not enforce: a topology must still be buildable on AWS.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eventlab.topology import (
    ArchiveSpec,
    BusSpec,
    FunctionSpec,
    QueueSpec,
    Topology,
    TopologyError,
    validate,
)

CODE = {"code": "eventlab:ecommerce", "handler": "inventory.handler"}


def fn(name: str = "f", **fields: Any) -> dict[str, Any]:
    return {"name": name, **CODE, **fields}


def rule(name: str = "r", **fields: Any) -> dict[str, Any]:
    return {"name": name, "event_pattern": {"source": ["shop"]}, **fields}


def topic_to(queue: str = "q", **subscription: Any) -> dict[str, Any]:
    return {"name": "t", "subscriptions": [{"protocol": "sqs", "endpoint": f"queue:{queue}", **subscription}]}


def body_policy(policy: dict[str, Any]) -> dict[str, Any]:
    return {"queues": [{"name": "q"}], "topics": [topic_to(filter_policy=policy, filter_policy_scope="MessageBody")]}


def target(**fields: Any) -> dict[str, Any]:
    return {"queues": [{"name": "q"}], "rules": [rule(targets=[{"id": "t", "arn": "queue:q", **fields}])]}


def fifo_target(**queue: Any) -> dict[str, Any]:
    return {
        "queues": [{"name": "q.fifo", "fifo": True, **queue}],
        "rules": [rule(targets=[{"id": "t", "arn": "queue:q.fifo", "message_group_id": "g"}])],
    }


def stream_rule(name: str, kind: str = "stream") -> dict[str, Any]:
    arn = {"stream": "stream:s", "bus": "bus:b", "firehose": "firehose:d"}[kind]
    extra = {"partition_key_path": "$.id"} if kind == "stream" else {}
    return {
        "streams": [{"name": "s"}], "buses": [{"name": "b"}], "buckets": [{"name": "lake"}],
        "delivery_streams": [{"name": "d", "bucket": "lake"}],
        "rules": [rule(name, targets=[{"id": "t", "arn": arn, **extra}])],
    }


def source(queue: dict[str, Any], **mapping: Any) -> dict[str, Any]:
    return {"queues": [queue], "functions": [fn(event_sources=[{"source": f"queue:{queue['name']}", **mapping}])]}


def stream_source(**mapping: Any) -> dict[str, Any]:
    return {"streams": [{"name": "s"}], "functions": [fn(event_sources=[{"source": "stream:s", **mapping}])]}


def many_rules_to(kind: str, count: int) -> dict[str, Any]:
    """``count`` rules with long names that all send to one queue or topic (its policy grows)."""
    dest = {"queues": [{"name": "q"}]} if kind == "queue" else {"topics": [{"name": "q"}]}
    return {**dest, "rules": [rule(f"r{i:03d}-{'x' * 45}", targets=[{"id": "t", "arn": f"{kind}:q"}]) for i in range(count)]}


@dataclass(frozen=True)
class Case:
    id: str
    limit: str  # the AWS (or eventlab) rule, and where it is stated
    data: dict[str, Any]
    expect: str  # a fragment of the problem reported


CASES = [
    # -- names (SQS/SNS/EventBridge/Kinesis/Firehose/Lambda/IAM/S3 API references) ------------
    Case("queue-name-newline", "SQS QueueName: alphanumerics, '-' and '_' only", {"queues": [{"name": "orders\n"}]}, "use letters, digits"),
    Case("topic-name-newline", "SNS topic names: alphanumerics, '-' and '_' only", {"topics": [{"name": "alerts\n"}]}, "use letters, digits"),
    Case("rule-name-space", "EventBridge rule Name: [.-_A-Za-z0-9]+", {"rules": [rule("my rule")]}, "use letters, digits"),
    Case("bus-name-dot", "eventlab run names: no '.' in a base name", {"buses": [{"name": "a.b"}]}, "use letters, digits"),
    Case("function-name-leading-dash", "Lambda FunctionName: starts with a letter or digit here", {"functions": [fn("-f")]}, "use letters, digits"),
    Case("queue-name-80", "SQS QueueName: at most 80 characters with the run prefix", {"queues": [{"name": "q" * 69}]}, "SQS queue"),
    Case("fifo-queue-name-80", "SQS QueueName: 80 characters including '.fifo'", {"queues": [{"name": "q" * 64 + ".fifo", "fifo": True}]}, "over the 80"),
    Case("topic-name-256", "SNS topic name: at most 256 characters", {"topics": [{"name": "t" * 245}]}, "over the 256"),
    Case("rule-name-64", "EventBridge PutRule Name: at most 64 characters", {"rules": [rule("r" * 53)]}, "over the 64"),
    Case("rule-role-stream", "IAM RoleName 64: '<rule>-events' for a stream target", stream_rule("r" * 46, "stream"), "IAM role (for its stream"),
    Case("rule-role-bus", "IAM RoleName 64: '<rule>-events' for a bus target", stream_rule("r" * 46, "bus"), "IAM role (for its stream"),
    Case("rule-role-firehose", "IAM RoleName 64: '<rule>-events' for a Firehose target", stream_rule("r" * 46, "firehose"), "IAM role (for its stream"),
    Case("function-role-64", "IAM RoleName 64: '<function>-role'", {"functions": [fn("f" * 48)]}, "its IAM role"),
    Case("function-name-64", "Lambda function name: at most 64 characters", {"functions": [fn("f" * 53)]}, "Lambda function"),
    Case("firehose-role-64", "IAM RoleName 64: '<delivery stream>-firehose'", {"buckets": [{"name": "lake"}], "delivery_streams": [{"name": "d" * 44, "bucket": "lake"}]}, "its IAM role"),
    Case("firehose-name-64", "Firehose DeliveryStreamName: at most 64 characters", {"buckets": [{"name": "lake"}], "delivery_streams": [{"name": "d" * 53, "bucket": "lake"}]}, "Firehose delivery stream"),
    Case("archive-name-48", "EventBridge CreateArchive ArchiveName: at most 48 characters", {"buses": [{"name": "b" * 29, "archive": {}}]}, "its archive"),
    Case("stream-name-128", "Kinesis StreamName: at most 128 characters", {"streams": [{"name": "s" * 117}]}, "over the 128"),
    Case("consumer-name-128", "Kinesis RegisterStreamConsumer ConsumerName: at most 128", {"streams": [{"name": "s", "consumers": ["c" * 129]}]}, "enhanced fan-out consumer"),
    Case("consumer-name-space", "Kinesis ConsumerName: [a-zA-Z0-9_.-]+", {"streams": [{"name": "s", "consumers": ["my consumer"]}]}, "not a valid name"),
    Case("iam-role-case", "IAM role names are unique regardless of case", {"functions": [fn("Pay"), fn("pay")]}, "would both create the IAM role"),
    Case("bucket-trailing-dash", "S3 bucket names begin and end with a letter or digit", {"buckets": [{"name": "lake-"}]}, "must begin and end"),
    Case("bucket-uppercase", "S3 bucket names: lowercase letters, digits, '.', '-'", {"buckets": [{"name": "Lake"}]}, "lowercase"),
    Case("bucket-underscore", "S3 bucket names: no '_'", {"buckets": [{"name": "my_lake"}]}, "lowercase"),
    Case("bucket-63", "S3 bucket names: 3 to 63 characters", {"buckets": [{"name": "b" * 52}]}, "over the 63"),
    Case("bucket-ol-s3", "S3 bucket names must not end with '--ol-s3'", {"buckets": [{"name": "x--ol-s3"}]}, "--ol-s3"),
    Case("bucket-s3alias", "S3 bucket names must not end with '-s3alias'", {"buckets": [{"name": "data-s3alias"}]}, "-s3alias"),
    Case("bucket-x-s3", "S3 bucket names must not end with '--x-s3'", {"buckets": [{"name": "data--x-s3"}]}, "--x-s3"),
    Case("bucket-table-s3", "S3 bucket names must not end with '--table-s3'", {"buckets": [{"name": "data--table-s3"}]}, "--table-s3"),
    # -- SQS queues (CreateQueue attributes, quotas) -----------------------------------------
    Case("visibility-43201", "SQS VisibilityTimeout: 0 to 43,200 s", {"queues": [{"name": "q", "visibility_timeout": 43_201}]}, "visibility_timeout=43201"),
    Case("visibility-float", "SQS VisibilityTimeout is a whole number of seconds", {"queues": [{"name": "q", "visibility_timeout": 1.5}]}, "visibility_timeout: expected a whole number"),
    Case("visibility-string", "SQS VisibilityTimeout is a number, not text", {"queues": [{"name": "q", "visibility_timeout": "30"}]}, "expected a whole number"),
    Case("wait-21", "SQS ReceiveMessageWaitTimeSeconds: 0 to 20", {"queues": [{"name": "q", "receive_wait_time": 21}]}, "receive_wait_time=21"),
    Case("delay-901", "SQS DelaySeconds: 0 to 900", {"queues": [{"name": "q", "delay": 901}]}, "delay=901"),
    Case("retention-59", "SQS MessageRetentionPeriod: 60 to 1,209,600 s", {"queues": [{"name": "q", "retention": 59}]}, "retention=59"),
    Case("message-size-1023", "SQS MaximumMessageSize: 1,024 to 1,048,576 bytes", {"queues": [{"name": "q", "max_message_size": 1_023}]}, "max_message_size=1023"),
    Case("message-size-1mib", "SQS MaximumMessageSize: at most 1 MiB", {"queues": [{"name": "q", "max_message_size": 1_048_577}]}, "max_message_size=1048577"),
    Case("receive-count-0", "SQS redrive maxReceiveCount: 1 to 1,000", {"queues": [{"name": "q", "max_receive_count": 0}]}, "max_receive_count=0"),
    Case("receive-count-1001", "SQS redrive maxReceiveCount: 1 to 1,000", {"queues": [{"name": "q", "max_receive_count": 1001}]}, "max_receive_count=1001"),
    Case("receive-count-bool", "a count is a whole number, not a boolean", {"queues": [{"name": "q", "max_receive_count": True}]}, "expected a whole number"),
    Case("fifo-yes", "FifoQueue is a boolean", {"queues": [{"name": "q.fifo", "fifo": "yes"}]}, "expected true or false"),
    Case("fifo-suffix", "SQS FIFO queue names end in '.fifo'", {"queues": [{"name": "q", "fifo": True}]}, "must end in '.fifo'"),
    Case("tags-list", "SQS tags are key-value pairs", {"queues": [{"name": "q", "tags": ["x"]}]}, "tags: expected a mapping"),
    Case("tag-value-int", "SQS tag values are strings", {"queues": [{"name": "q", "tags": {"team": 5}}]}, "expected a string"),
    Case("tag-key-int", "SQS tag keys are strings", {"queues": [{"name": "q", "tags": {5: "x"}}]}, "must be a string"),
    Case("tag-aws-prefix", "SQS tag keys: the 'aws:' prefix is reserved", {"queues": [{"name": "q", "tags": {"aws:team": "x"}}]}, "reserved for AWS"),
    Case("tag-key-128", "SQS tag keys: at most 128 characters", {"queues": [{"name": "q", "tags": {"k" * 129: "x"}}]}, "1 to 128"),
    Case("tag-value-256", "SQS tag values: at most 256 characters", {"queues": [{"name": "q", "tags": {"k": "v" * 257}}]}, "AWS allows 256"),
    Case("tag-count-50", "SQS: at most 50 tags per queue (eventlab adds 2)", {"queues": [{"name": "q", "tags": {f"k{i}": "v" for i in range(49)}}]}, "at most 48"),
    Case("tag-eventlab", "eventlab's run tags cannot be overridden", {"queues": [{"name": "q", "tags": {"eventlab:run": "x"}}]}, "set by eventlab"),
    Case("tag-character", "SQS tags: letters, digits, spaces and _ . : / = + - @", {"queues": [{"name": "q", "tags": {"k": "a#b"}}]}, "may hold only"),
    Case("topic-tag-aws", "SNS tag keys: the 'aws:' prefix is reserved", {"topics": [{"name": "t", "tags": {"aws:x": "y"}}]}, "reserved for AWS"),
    # -- SNS subscriptions and filter policies (filter policy constraints page) ------------------
    Case("filter-depth-combinations", "SNS: 150 combinations, each array's values times its depth", body_policy({"a": {"b": {"c": {"d": [1, 2, 3, 4]}}}, "e": {"f": [1, 2, 3, 4, 5]}}), "160 value combinations"),
    Case("filter-or-combinations", "SNS: $or branches add up, then multiply", body_policy({"a": list(range(10)), "$or": [{"b": list(range(8))}, {"c": list(range(8))}]}), "value combinations"),
    Case("filter-flat-combinations", "SNS: 150 combinations", {"queues": [{"name": "q"}], "topics": [topic_to(filter_policy={"a": list(range(13)), "b": list(range(12))})]}, "156 value combinations"),
    Case("filter-six-keys", "SNS: a filter policy has at most five keys", {"queues": [{"name": "q"}], "topics": [topic_to(filter_policy={k: ["x"] for k in "abcdef"})]}, "6 keys"),
    Case("filter-numeric-high", "SNS numeric matching: -1e9 to 1e9 (AWS only)", {"queues": [{"name": "q"}], "topics": [topic_to(filter_policy={"n": [{"numeric": [">", 2e9]}]})]}, "outside the -1e+09 to 1e+09"),
    Case("filter-numeric-low", "SNS numeric matching: -1e9 to 1e9 (AWS only)", {"queues": [{"name": "q"}], "topics": [topic_to(filter_policy={"n": [{"numeric": [">=", -1.5e9, "<", 0]}]})]}, "outside the -1e+09"),
    Case("filter-size", "SNS: a filter policy is at most 256 KB", {"queues": [{"name": "q"}], "topics": [topic_to(filter_policy={"a": ["x" * 270_000]})]}, "SNS allows 262144"),
    Case("filter-date", "SNS filter policies are JSON (a YAML date is not)", {"queues": [{"name": "q"}], "topics": [topic_to(filter_policy={"day": [datetime.date(2026, 1, 1)]})]}, "cannot be sent as JSON"),
    Case("filter-anything-but-suffix", "SNS anything-but takes a prefix only (LocalStack refuses more)", {"queues": [{"name": "q"}], "topics": [topic_to(filter_policy={"a": [{"anything-but": {"suffix": "x"}}]})]}, "'anything-but' takes"),
    Case("filter-prefix-ignore-case", "SNS prefix takes a string", {"queues": [{"name": "q"}], "topics": [topic_to(filter_policy={"a": [{"prefix": {"equals-ignore-case": "x"}}]})]}, "'prefix' takes a string"),
    Case("filter-cidr-host-bits", "SNS cidr: a network, no host bits", {"queues": [{"name": "q"}], "topics": [topic_to(filter_policy={"ip": [{"cidr": "10.0.0.1/24"}]})]}, "'cidr' takes"),
    Case("filter-nested-attributes", "SNS: attribute policies are flat", {"queues": [{"name": "q"}], "topics": [topic_to(filter_policy={"a": {"b": ["x"]}})]}, "MessageBody"),
    Case("filter-scope", "SNS FilterPolicyScope: MessageAttributes or MessageBody", {"queues": [{"name": "q"}], "topics": [topic_to(filter_policy={"a": ["x"]}, filter_policy_scope="Headers")]}, "is not one of"),
    Case("protocol-unknown", "SNS Subscribe Protocol", {"topics": [{"name": "t", "subscriptions": [{"protocol": "smtp", "endpoint": "x"}]}]}, "is not one of"),
    Case("email-endpoint", "SNS email endpoints are email addresses", {"topics": [{"name": "t", "subscriptions": [{"protocol": "email", "endpoint": "ops"}]}]}, "email address"),
    Case("http-endpoint", "SNS http endpoints are URLs", {"topics": [{"name": "t", "subscriptions": [{"protocol": "http", "endpoint": "http://"}]}]}, "URL starting with http://"),
    Case("firehose-subscription", "SNS Firehose subscriptions need a SubscriptionRoleArn", {"topics": [{"name": "t", "subscriptions": [{"protocol": "firehose", "endpoint": "firehose:d"}]}]}, "subscription role"),
    Case("duplicate-subscription", "SNS: one subscription per topic and endpoint", {"queues": [{"name": "q"}], "topics": [{"name": "t", "subscriptions": [{"protocol": "sqs", "endpoint": "queue:q"}, {"protocol": "sqs", "endpoint": "queue:q", "raw_message_delivery": True}]}]}, "2 sqs subscriptions"),
    Case("fifo-topic-http", "SNS FIFO topics deliver to SQS only", {"topics": [{"name": "t.fifo", "fifo": True, "subscriptions": [{"protocol": "https", "endpoint": "https://example.com/x"}]}]}, "FIFO topics deliver only to SQS"),
    Case("subscription-dlq-fifo", "SNS: a standard subscription's DLQ is a standard queue", {"queues": [{"name": "q"}, {"name": "d.fifo", "fifo": True}], "topics": [topic_to(dead_letter="d.fifo")]}, "needs a standard queue"),
    Case("raw-lambda", "SNS raw delivery: SQS, HTTP/S and Firehose only", {"functions": [fn()], "topics": [{"name": "t", "subscriptions": [{"protocol": "lambda", "endpoint": "function:f", "raw_message_delivery": True}]}]}, "raw delivery"),
    Case("filter-policies-200", "SNS: 200 filter policies per topic (default quota)", {"topics": [{"name": "t", "subscriptions": [{"protocol": "https", "endpoint": f"https://example.com/{i}", "filter_policy": {"a": ["x"]}} for i in range(201)]}]}, "201 filter policies"),
    # -- EventBridge rules, targets, archives (API reference and quotas) -------------------------
    Case("target-id-space", "EventBridge Target Id: 1-64 of [.-_A-Za-z0-9]", target(id="my target"), "a target id is 1 to 64"),
    Case("target-id-65", "EventBridge Target Id: at most 64 characters", target(id="t" * 65), "a target id is 1 to 64"),
    Case("targets-6", "EventBridge: 5 targets per rule", {"queues": [{"name": "q"}], "rules": [rule(targets=[{"id": f"t{i}", "arn": "queue:q"} for i in range(6)])]}, "6 targets"),
    Case("pattern-size", "EventBridge event pattern size: 2,048 characters (AWS only)", {"rules": [rule(event_pattern={"source": [f"s{i:05d}" for i in range(300)]})]}, "characters as JSON"),
    Case("pattern-size-4096", "EventBridge PutRule EventPattern: at most 4,096 (AWS only)", {"rules": [rule(event_pattern={"source": ["x" * 4100]})]}, "characters as JSON"),
    Case("pattern-key-int", "event patterns are JSON objects with string keys", {"rules": [rule(event_pattern={1: ["x"]})]}, "must be a string"),
    Case("pattern-wildcard-stars", "EventBridge wildcards: no '**'", {"rules": [rule(event_pattern={"detail": {"sku": [{"wildcard": "a**b"}]}})]}, "consecutive wildcard characters"),
    Case("pattern-anything-but-empty", "EventBridge: no empty prefix in anything-but", {"rules": [rule(event_pattern={"detail": {"s": [{"anything-but": {"prefix": ""}}]}})]}, "non-empty string"),
    Case("pattern-cidr-no-mask", "EventBridge cidr: address/bits", {"rules": [rule(event_pattern={"detail": {"ip": [{"cidr": "10.0.0.0"}]}})]}, "'cidr' takes"),
    Case("pattern-empty-array", "EventBridge: an empty array matches nothing", {"rules": [rule(event_pattern={"source": []})]}, "empty array"),
    Case("schedule-newline", "EventBridge ScheduleExpression: rate() or cron()", {"rules": [{"name": "r", "schedule": "rate(5 minutes)\n"}]}, "use rate("),
    Case("schedule-256", "EventBridge ScheduleExpression: at most 256 characters", {"rules": [{"name": "r", "schedule": "cron(0 12 * * ? " + "2026," * 60 + "2027)"}]}, "use rate("),
    Case("description-512", "EventBridge rule Description: at most 512 characters", {"rules": [rule(description="d" * 513)]}, "description is 513"),
    Case("input-not-json", "EventBridge target Input: valid JSON text", target(input="hello"), "input must be JSON"),
    Case("input-8192", "EventBridge target Input: at most 8,192 characters", target(input='"' + "x" * 9000 + '"'), "EventBridge allows 8192"),
    Case("input-path-dollar", "EventBridge InputPath: a JSONPath", target(input_path="detail"), "input_path is a JSONPath"),
    Case("input-path-256", "EventBridge InputPath: at most 256 characters", target(input_path="$." + "a" * 255), "at most 256"),
    Case("transformer-paths-100", "EventBridge InputPathsMap: at most 100 entries", target(input_transformer={"paths": {f"k{i}": "$.a" for i in range(101)}, "template": "<k0>"}), "101 paths"),
    Case("transformer-template-empty", "EventBridge InputTemplate: 1 to 8,192 characters", target(input_transformer={"paths": {"a": "$.a"}, "template": ""}), "template must be 1.."),
    Case("transformer-path", "EventBridge InputPathsMap values are JSONPaths", target(input_transformer={"paths": {"a": "detail.a"}, "template": "<a>"}), "is a JSONPath"),
    Case("transformer-paths-type", "EventBridge InputPathsMap maps names to JSONPaths", target(input_transformer={"paths": {"a": 1}, "template": "<a>"}), "expected a string"),
    Case("fifo-target-dedup", "EventBridge: a FIFO queue target needs content-based deduplication", fifo_target(), "content_based_deduplication"),
    Case("fifo-target-group", "EventBridge SqsParameters MessageGroupId for FIFO queues", {"queues": [{"name": "q.fifo", "fifo": True, "content_based_deduplication": True}], "rules": [rule(targets=[{"id": "t", "arn": "queue:q.fifo"}])]}, "needs message_group_id"),
    Case("group-on-standard", "EventBridge SqsParameters apply to FIFO queues", target(message_group_id="g"), "FIFO queue targets only"),
    Case("group-100", "EventBridge MessageGroupId: at most 100 characters", fifo_target(content_based_deduplication=True) | {"rules": [rule(targets=[{"id": "t", "arn": "queue:q.fifo", "message_group_id": "g" * 101}])]}, "1..100 characters"),
    Case("partition-key-on-queue", "EventBridge KinesisParameters apply to streams", target(partition_key_path="$.id"), "stream targets only"),
    Case("stream-target-key", "EventBridge Kinesis targets need PartitionKeyPath", {"streams": [{"name": "s"}], "rules": [rule(targets=[{"id": "t", "arn": "stream:s"}])]}, "needs partition_key_path"),
    Case("target-dlq-fifo", "EventBridge DLQs are standard queues ('SQS FIFO is not supported')", {"queues": [{"name": "q"}, {"name": "d.fifo", "fifo": True}], "rules": [rule(targets=[{"id": "t", "arn": "queue:q", "dead_letter": "d.fifo"}])]}, "needs a standard queue"),
    Case("retry-186", "EventBridge RetryPolicy MaximumRetryAttempts: 0 to 185", target(maximum_retry_attempts=186), "0..185"),
    Case("event-age-59", "EventBridge MaximumEventAgeInSeconds: 60 to 86,400", target(maximum_event_age=59), "60..86400"),
    Case("event-age-86401", "EventBridge MaximumEventAgeInSeconds: 60 to 86,400", target(maximum_event_age=86_401), "60..86400"),
    Case("archive-retention", "EventBridge CreateArchive RetentionDays: 0 or more", {"buses": [{"name": "b", "archive": {"retention_days": -1}}]}, "retention_days"),
    Case("archive-pattern-4096", "EventBridge CreateArchive EventPattern: at most 4,096", {"buses": [{"name": "b", "archive": {"event_pattern": {"source": ["x" * 4100]}}}]}, "EventBridge allows 4096"),
    Case("fifo-topic-target", "EventBridge does not support SNS FIFO topics as targets", {"topics": [{"name": "t.fifo", "fifo": True}], "rules": [rule(targets=[{"id": "t", "arn": "topic:t.fifo"}])]}, "SNS FIFO topics"),
    Case("target-kind", "rule targets are queues, topics, functions, streams, buses, Firehose", {"rules": [rule(targets=[{"id": "t", "arn": "table:orders"}])]}, "kind must be one of"),
    # -- Kinesis streams ----------------------------------------------------------------------
    Case("shards-0", "Kinesis ShardCount: at least 1", {"streams": [{"name": "s", "shards": 0}]}, "shards=0"),
    Case("shards-501", "Kinesis shard quota: 500 per stream (default)", {"streams": [{"name": "s", "shards": 501}]}, "shards=501"),
    Case("shards-string", "Kinesis ShardCount is a number", {"streams": [{"name": "s", "shards": "2"}]}, "expected a whole number"),
    Case("stream-retention-23", "Kinesis retention: 24 to 8,760 hours", {"streams": [{"name": "s", "retention_hours": 23}]}, "retention_hours"),
    Case("stream-retention-8761", "Kinesis retention: 24 to 8,760 hours", {"streams": [{"name": "s", "retention_hours": 8761}]}, "retention_hours"),
    Case("consumers-21", "Kinesis: 20 enhanced fan-out consumers per stream", {"streams": [{"name": "s", "consumers": [f"c{i}" for i in range(21)]}]}, "at most 20"),
    Case("consumer-twice", "Kinesis consumer names are unique per stream", {"streams": [{"name": "s", "consumers": ["c", "c"]}]}, "listed 2 times"),
    # -- Firehose -----------------------------------------------------------------------------
    Case("buffer-901", "Firehose BufferingHints IntervalInSeconds: 0 to 900", {"buckets": [{"name": "lake"}], "delivery_streams": [{"name": "d", "bucket": "lake", "buffer_seconds": 901}]}, "buffering is"),
    Case("buffer-mb-0", "Firehose BufferingHints SizeInMBs: 1 to 128", {"buckets": [{"name": "lake"}], "delivery_streams": [{"name": "d", "bucket": "lake", "buffer_mb": 0}]}, "buffering is"),
    Case("buffer-mb-129", "Firehose BufferingHints SizeInMBs: 1 to 128", {"buckets": [{"name": "lake"}], "delivery_streams": [{"name": "d", "bucket": "lake", "buffer_mb": 129}]}, "buffering is"),
    Case("prefix-1024", "Firehose S3 Prefix: at most 1,024 characters", {"buckets": [{"name": "lake"}], "delivery_streams": [{"name": "d", "bucket": "lake", "prefix": "p" * 1025}]}, "Firehose allows 1024"),
    Case("prefix-expression", "Firehose: prefix expressions need an ErrorOutputPrefix expression", {"buckets": [{"name": "lake"}], "delivery_streams": [{"name": "d", "bucket": "lake", "prefix": "y=!{timestamp:yyyy}/"}]}, "prefix expressions"),
    Case("compression", "Firehose CompressionFormat", {"buckets": [{"name": "lake"}], "delivery_streams": [{"name": "d", "bucket": "lake", "compression": "BZIP2"}]}, "is not one of"),
    # -- Lambda functions and event sources (API reference, quotas) -----------------------------
    Case("memory-64", "Lambda MemorySize: 128 to 10,240 MB", {"functions": [fn(memory=64)]}, "memory=64"),
    Case("memory-10241", "Lambda MemorySize: 128 to 10,240 MB", {"functions": [fn(memory=10_241)]}, "memory=10241"),
    Case("memory-text", "Lambda MemorySize is a number of MB", {"functions": [fn(memory="128MB")]}, "expected a whole number"),
    Case("timeout-0", "Lambda Timeout: 1 to 900 s", {"functions": [fn(timeout=0)]}, "timeout must be 1..900"),
    Case("timeout-901", "Lambda Timeout: 1 to 900 s", {"functions": [fn(timeout=901)]}, "timeout must be 1..900"),
    Case("runtime-node", "eventlab's executor runs Python only", {"functions": [fn(runtime="nodejs20.x")]}, "runs Python handlers only"),
    Case("runtime-python37", "Lambda no longer creates python3.7 functions", {"functions": [fn(runtime="python3.7")]}, "not a Python runtime Lambda creates"),
    Case("runtime-unknown", "Lambda Runtime identifiers", {"functions": [fn(runtime="python3.99")]}, "not a Python runtime Lambda creates"),
    Case("env-key-digit", "Lambda environment keys: [a-zA-Z][a-zA-Z0-9_]+", {"functions": [fn(environment={"1ABC": "x"})]}, "environment variable '1ABC'"),
    Case("env-key-short", "Lambda environment keys: at least two characters", {"functions": [fn(environment={"A": "x"})]}, "environment variable 'A'"),
    Case("env-key-reserved", "Lambda reserved environment variables", {"functions": [fn(environment={"AWS_REGION": "x"})]}, "set by the Lambda runtime"),
    Case("env-value-int", "Lambda environment values are strings", {"functions": [fn(environment={"LEVEL": 5})]}, "expected a string"),
    Case("env-4kb", "Lambda environment: 4 KB in total", {"functions": [fn(environment={"BIG": "x" * 5000})]}, "Lambda allows 4096"),
    Case("env-4kb-generated", "Lambda environment: 4 KB with the variables eventlab adds", {"queues": [{"name": "q"}], "functions": [fn(environment={"BIG": "x" * 4030}, allow=["queue:q"])]}, "Lambda allows 4096"),
    Case("reserved-negative", "Lambda ReservedConcurrentExecutions: 0 or more", {"functions": [fn(reserved_concurrency=-1)]}, "0 or more"),
    Case("reserved-sum", "Lambda: 100 of the account's 1,000 stay unreserved (AWS only)", {"functions": [fn("a", reserved_concurrency=500), fn("b", reserved_concurrency=401)]}, "reserve 901"),
    Case("handler-no-dot", "Lambda Handler: module.function", {"functions": [fn(handler="main")]}, "is module.function"),
    Case("handler-missing", "the handler's module is in the package", {"functions": [fn(handler="nosuch.handler")]}, "needs nosuch.py"),
    Case("handler-space", "Lambda Handler: no whitespace", {"functions": [fn(handler="inventory. handler")]}, "is module.function"),
    Case("handler-128", "Lambda Handler: at most 128 characters", {"functions": [fn(handler="a" * 121 + ".handler")]}, "at most 128"),
    Case("bundled-missing", "the code folder exists", {"functions": [fn(code="eventlab:nosuch")]}, "no bundled handler"),
    Case("sqs-batch-10001", "Lambda SQS BatchSize: 1 to 10,000", source({"name": "q", "visibility_timeout": 60}, batch_size=10_001, batching_window=1), "must be 1..10000"),
    Case("fifo-batch-11", "Lambda SQS FIFO BatchSize: at most 10", source({"name": "q.fifo", "fifo": True, "visibility_timeout": 60}, batch_size=11), "must be 1..10"),
    Case("fifo-window", "Lambda: no batching window for FIFO queues", source({"name": "q.fifo", "fifo": True, "visibility_timeout": 60}, batching_window=1), "no batching window"),
    Case("batch-11-no-window", "Lambda: SQS batches over 10 need a window of 1 s or more", source({"name": "q", "visibility_timeout": 60}, batch_size=11), "batching_window of 1 s"),
    Case("window-301", "Lambda MaximumBatchingWindowInSeconds: 0 to 300", source({"name": "q", "visibility_timeout": 60}, batching_window=301), "0..300"),
    Case("stream-batch-0", "Lambda Kinesis BatchSize: 1 to 10,000", stream_source(batch_size=0), "must be 1..10000"),
    Case("stream-batch-10001", "Lambda Kinesis BatchSize: 1 to 10,000", stream_source(batch_size=10_001), "must be 1..10000"),
    Case("starting-position", "eventlab takes TRIM_HORIZON or LATEST", stream_source(starting_position="AT_TIMESTAMP"), "is not one of"),
    Case("mapping-twice", "Lambda: one event source mapping per source and function", {"queues": [{"name": "q", "visibility_timeout": 60}], "functions": [fn(event_sources=[{"source": "queue:q"}, {"source": "queue:q"}])]}, "2 event sources read"),
    Case("visibility-under-timeout", "Lambda: queue visibility timeout at least the function timeout", source({"name": "q", "visibility_timeout": 10}), "shorter than the function timeout"),
    Case("allow-unknown", "a function may send to declared resources only", {"functions": [fn(allow=["queue:nope"])]}, "unknown queue 'nope'"),
    Case("role-policy-10240", "IAM: a role's inline policies, 10,240 characters (AWS only)", {"queues": [{"name": f"q{i:02d}-{'x' * 60}"} for i in range(70)], "functions": [fn(allow=[f"queue:q{i:02d}-{'x' * 60}" for i in range(70)])]}, "IAM allows 10240"),
    # -- resource policies (SQS and SNS policy quotas; AWS only) --------------------------------
    Case("queue-policy-8192", "SQS policy: at most 8,192 bytes", many_rules_to("queue", 80), "SQS allows 8192"),
    Case("topic-policy-30kb", "SNS policy: at most 30 KB", many_rules_to("topic", 290), "SNS allows 30720"),
    # -- structure of the document ------------------------------------------------------------
    Case("name-int", "a topology's name is text", {"name": 123}, "topology.name: expected a string"),
    Case("queue-name-int", "a queue's name is text", {"queues": [{"name": 123}]}, "queues[0].name: expected a string"),
    Case("queue-name-null", "a queue's name is required", {"queues": [{"name": None}]}, "expected a string, got a null"),
    Case("queue-missing-name", "a queue's name is required", {"queues": [{"fifo": True}]}, "missing required key(s) ['name']"),
    Case("queues-mapping", "queues is a list", {"queues": {"name": "q"}}, "queues: expected a list"),
    Case("unknown-key", "no silently ignored settings", {"queues": [{"name": "q", "visibilty_timeout": 30}]}, "unknown key(s) ['visibilty_timeout']"),
    Case("non-string-key", "keys are names", {1: "x"}, "keys must be names"),
    Case("archive-list", "an archive is a mapping", {"buses": [{"name": "b", "archive": ["x"]}]}, "archive: expected a mapping"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_bad_topology_is_refused_with_its_reason(case: Case) -> None:
    with pytest.raises(TopologyError) as caught:
        validate(Topology.from_dict(case.data))
    assert any(case.expect in p for p in caught.value.problems), f"{case.limit}: {caught.value.problems}"


GOOD = [
    ("rule-45-stream", stream_rule("r" * 45, "stream")),
    ("rule-46-queue-only", {"queues": [{"name": "q"}], "rules": [rule("r" * 46, targets=[{"id": "t", "arn": "queue:q"}])]}),
    ("function-47", {"functions": [fn("f" * 47)]}),
    ("bus-28-archive", {"buses": [{"name": "b" * 28, "archive": {}}]}),
    ("memory-bounds", {"functions": [fn("a", memory=128), fn("b", memory=10_240)]}),
    ("filter-150", body_policy({"a": list(range(5)), "b": {"c": list(range(15))}, "d": [1]})),  # 5 x (15 x 2) x 1
    ("numeric-1e9", {"queues": [{"name": "q"}], "topics": [topic_to(filter_policy={"n": [{"numeric": [">=", -1e9, "<=", 1e9]}]})]}),
    ("bucket-63", {"buckets": [{"name": "b" * 51}]}),
    ("queue-80", {"queues": [{"name": "q" * 68}]}),
    ("fifo-target", fifo_target(content_based_deduplication=True)),
    ("sqs-batch-window", source({"name": "q", "visibility_timeout": 60}, batch_size=100, batching_window=1)),
]


@pytest.mark.parametrize(("name", "data"), GOOD, ids=[g[0] for g in GOOD])
def test_topologies_at_the_limits_pass(name: str, data: dict[str, Any]) -> None:
    validate(Topology.from_dict(data))


def test_deprecated_python_runtimes_pass_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="eventlab.topology.validate"):
        validate(Topology.from_dict({"functions": [fn(runtime="python3.9")]}))
    assert "python3.9 is deprecated" in caplog.text
    for runtime in ("python3.10", "python3.11", "python3.12", "python3.13", "python3.14"):
        validate(Topology.from_dict({"functions": [fn(runtime=runtime)]}))


def test_the_prefix_of_the_run_counts() -> None:
    """apply() passes the run's prefix: a longer run id leaves less room for names."""
    topology = Topology.from_dict({"functions": [fn("f" * 47)]})
    validate(topology, prefix="el-abcdefgh")
    with pytest.raises(TopologyError, match="its IAM role 'el-abcdefghi-"):
        validate(topology, prefix="el-abcdefghi")


# -- code folders ---------------------------------------------------------------------------------

def test_code_that_cannot_be_packaged_is_refused(tmp_path: Path) -> None:
    empty, bad_bundle = tmp_path / "empty", tmp_path / "bundle"
    empty.mkdir()
    bad_bundle.mkdir()
    (bad_bundle / "main.py").write_text("def handler(event, context):\n    return event\n")
    (bad_bundle / "bundle.txt").write_text("json\n")
    topology = Topology.from_dict({"functions": [
        {"name": "a", "code": str(empty)},
        {"name": "b", "code": str(bad_bundle)},
        {"name": "c", "code": str(tmp_path / "nosuch")},
    ]})
    with pytest.raises(TopologyError) as caught:
        validate(topology)
    problems = "\n".join(caught.value.problems)
    assert "function 'a': its code cannot be packaged: handler folder" in problems
    assert "function 'b': its code cannot be packaged" in problems and "not an eventlab module" in problems
    assert "function 'c': code folder" in problems


def test_a_package_over_lambdas_upload_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventlab.services import lambda_

    (tmp_path / "main.py").write_text("def handler(event, context):\n    return event\n")
    monkeypatch.setattr(lambda_, "PACKAGE_MAX_ZIPPED_BYTES", 10)
    monkeypatch.setattr(lambda_, "PACKAGE_MAX_UNZIPPED_BYTES", 10)
    with pytest.raises(TopologyError) as caught:
        validate(Topology.from_dict({"functions": [{"name": "f", "code": str(tmp_path)}]}))
    assert any("zipped; Lambda takes" in p for p in caught.value.problems)
    assert any("unzipped; Lambda allows" in p for p in caught.value.problems)


# -- topologies built in Python are checked the same way --------------------------------------------

@pytest.mark.parametrize(
    ("topology", "expect"),
    [
        (Topology(queues=[QueueSpec(123)]), "topology.queues[0].name: expected a string"),  # type: ignore[arg-type]
        (Topology(queues=[QueueSpec("q", visibility_timeout=1.5)]), "expected a whole number, got 1.5"),  # type: ignore[arg-type]
        (Topology(queues=[QueueSpec("q", tags=["x"])]), "tags: expected a mapping"),  # type: ignore[arg-type]
        (Topology(buses=[BusSpec("b", archive={"retention_days": 1})]), "expected a ArchiveSpec"),  # type: ignore[arg-type]
        (Topology(functions=[FunctionSpec("f", code="eventlab:ecommerce", environment={"A1": 1})]), "expected a string"),  # type: ignore[dict-item]
        (Topology(buses=[BusSpec("b", archive=ArchiveSpec(retention_days=True))]), "expected a whole number"),
    ],
    ids=["name-int", "float", "tags-list", "archive-dict", "env-int", "bool-as-int"],
)
def test_dataclass_topologies_are_type_checked(topology: Topology, expect: str) -> None:
    with pytest.raises(TopologyError) as caught:
        validate(topology)
    assert any(expect in p for p in caught.value.problems), caught.value.problems


# -- YAML ---------------------------------------------------------------------------------------------

# Four levels of nine aliases each (6,561 leaves): the shape of the 445-byte bomb, kept
# small enough to expand harmlessly on code that does not refuse aliases.
ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(4)]
    + ["name: *e"]
)

YAML_CASES = [
    ("alias-bomb", "nested aliases expand exponentially", ALIAS_BOMB, "anchors and aliases"),
    ("merge-key", "anchors and merge keys are aliases too", "queues:\n  - &base {name: a, delay: 5}\n  - <<: *base\n    name: b\n", "anchors and aliases"),
    ("top-level-list", "the top level is a mapping", "- name: q\n", "the top level must be a mapping"),
    ("top-level-scalar", "the top level is a mapping", "just text\n", "the top level must be a mapping"),
    ("name-int", "a name is text", "name: 123\n", "topology.name: expected a string"),
    ("tags-list", "tags are key-value pairs", "queues:\n  - name: q\n    tags: [x]\n", "tags: expected a mapping"),
    ("tag-value-number", "tag values are strings", "queues:\n  - name: q\n    tags: {team: 7}\n", "expected a string"),
    ("tag-value-null", "tag values are strings", "queues:\n  - name: q\n    tags: {team: }\n", "expected a string"),
    ("float", "whole seconds", "queues:\n  - name: q\n    visibility_timeout: 1.5\n", "expected a whole number, got 1.5"),
    ("syntax", "valid YAML", "queues: [\n", "not valid YAML"),
    ("python-tag", "the safe loader builds no objects", "name: !!python/object/apply:os.system [echo]\n", "not valid YAML"),
    ("deep-nesting", "no unbounded recursion", "name: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ("variables-list", "variables map names to values", "variables: [a]\nname: x\n", "expected a mapping of names to values"),
    ("variable-list-value", "variables are scalars", "variables: {a: [1, 2]}\nname: x\n", "must be a string, number or boolean"),
    ("variable-bad-int", "a substituted number must be a whole number", "variables: {t: 1.5}\nqueues:\n  - name: q\n    visibility_timeout: \"${t}\"\n", "expected a whole number, got '1.5'"),
    ("undeclared-variable", "variables are declared", "queues:\n  - name: \"${x}\"\n", "undeclared variable"),
    ("date", "patterns are JSON", "rules:\n  - name: r\n    event_pattern: {time: [2026-01-01]}\n", "cannot be sent as JSON"),
    ("runtime", "Python only", "functions:\n  - name: f\n    code: eventlab:ecommerce\n    handler: inventory.handler\n    runtime: nodejs20.x\n", "runs Python handlers only"),
    ("bucket", "S3 naming rules", "buckets:\n  - name: lake-\n", "must begin and end"),
]


@pytest.mark.parametrize(("case", "limit", "text", "expect"), YAML_CASES, ids=[c[0] for c in YAML_CASES])
def test_bad_yaml_files_are_refused_clearly(tmp_path: Path, case: str, limit: str, text: str, expect: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(TopologyError) as caught:
        validate(Topology.from_yaml(path))
    assert any(expect in p for p in caught.value.problems), f"{limit}: {caught.value.problems}"


def test_the_alias_bomb_is_refused_at_its_first_anchor_quickly(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 600, "a few hundred bytes"
    with pytest.raises(TopologyError, match="line 1: YAML anchors and aliases"):
        Topology.from_yaml(path)


def test_variables_keep_their_types_when_substituted(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "variables: {t: 60, raw: true, team: shop}\n"
        "queues:\n  - {name: q, visibility_timeout: \"${t}\", tags: {team: \"${team}\"}}\n"
        "topics:\n  - name: x\n    subscriptions: [{protocol: sqs, endpoint: \"queue:q\", raw_message_delivery: \"${raw}\"}]\n"
    )
    topology = Topology.from_yaml(path, {"t": 90})
    assert topology.queues[0].visibility_timeout == 90 and type(topology.queues[0].tags["team"]) is str
    assert topology.topics[0].subscriptions[0].raw_message_delivery is True
