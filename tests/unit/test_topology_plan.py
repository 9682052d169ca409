"""What apply() will create, worked out offline: names as the services make them, limits as AWS
states them, and the one broad grant scoped to SMS."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.model import Shape

from eventlab.run import Run
from eventlab.services import events, firehose, iam, kinesis, lambda_, logs, sns, sqs
from eventlab.topology import FunctionSpec, QueueSpec, Topology, functions, plan


class NoCalls:
    is_emulated = True
    region = "us-east-1"

    def client(self, service: str) -> object:
        raise AssertionError(f"no {service} call expected")


def test_generated_names_are_composed_as_run_name_composes_them() -> None:
    run = Run(NoCalls())  # type: ignore[arg-type]
    for base, suffix in (("orders", ""), ("orders", ".fifo"), ("payment-role", "")):
        assert plan.full_name(run.prefix, base, suffix) == run.name(base, suffix=suffix, max_length=999)
    assert len(plan.EXAMPLE_PREFIX) == len(run.prefix) == len(plan.SHOWN_PREFIX)


def test_the_names_apply_creates_are_listed_with_their_limits() -> None:
    topology = Topology.from_dict({
        "buses": [{"name": "shop", "archive": {}}],
        "streams": [{"name": "audit"}],
        "rules": [{"name": "placed", "bus": "shop", "event_pattern": {"source": ["x"]},
                   "targets": [{"id": "a", "arn": "stream:audit", "partition_key_path": "$.id"}]}],
        "functions": [{"name": "pay", "code": "eventlab:ecommerce", "handler": "payment.handler"}],
    })
    names = {(g.what, g.name): g.max_length for g in plan.generated_names(topology, "el-abcdefgh")}
    assert names[("archive", "el-abcdefgh-shop-archive")] == events.MAX_ARCHIVE_NAME == 48
    assert names[("IAM role (for its stream, bus and Firehose targets)", "el-abcdefgh-placed-events")] == iam.MAX_NAME
    assert names[("IAM role", "el-abcdefgh-pay-role")] == 64
    assert names[("log group", "/aws/lambda/el-abcdefgh-pay")] == logs.LOG_GROUP_MAX_CHARS


# (module constant, service, operation, member path, "min"/"max"/"pattern") as botocore's API
# model states it: the limits kept in services/ agree with AWS's own API definitions.
MODEL = [
    (events.MAX_RULE_NAME, "events", "PutRule", ["Name"], "max"),
    (events.RULE_NAME_PATTERN, "events", "PutRule", ["Name"], "pattern"),
    (events.MAX_BUS_NAME, "events", "CreateEventBus", ["Name"], "max"),
    (events.BUS_NAME_PATTERN, "events", "CreateEventBus", ["Name"], "pattern"),
    (events.MAX_ARCHIVE_NAME, "events", "CreateArchive", ["ArchiveName"], "max"),
    (events.ARCHIVE_PATTERN_MAX_CHARS, "events", "CreateArchive", ["EventPattern"], "max"),
    (events.SCHEDULE_MAX_CHARS, "events", "PutRule", ["ScheduleExpression"], "max"),
    (events.DESCRIPTION_MAX_CHARS, "events", "PutRule", ["Description"], "max"),
    (events.INPUT_MAX_CHARS, "events", "PutTargets", ["Targets", "Input"], "max"),
    (events.INPUT_PATH_MAX_CHARS, "events", "PutTargets", ["Targets", "InputPath"], "max"),
    (events.INPUT_TEMPLATE_MAX_CHARS, "events", "PutTargets", ["Targets", "InputTransformer", "InputTemplate"], "max"),
    (events.INPUT_PATHS_MAX, "events", "PutTargets", ["Targets", "InputTransformer", "InputPathsMap"], "max"),
    (events.PARTITION_KEY_PATH_MAX_CHARS, "events", "PutTargets", ["Targets", "KinesisParameters", "PartitionKeyPath"], "max"),
    (events.MESSAGE_GROUP_ID_MAX_CHARS, "events", "PutTargets", ["Targets", "SqsParameters", "MessageGroupId"], "max"),
    (events.RETRY_ATTEMPTS[1], "events", "PutTargets", ["Targets", "RetryPolicy", "MaximumRetryAttempts"], "max"),
    (events.EVENT_AGE_SECONDS[0], "events", "PutTargets", ["Targets", "RetryPolicy", "MaximumEventAgeInSeconds"], "min"),
    (events.EVENT_AGE_SECONDS[1], "events", "PutTargets", ["Targets", "RetryPolicy", "MaximumEventAgeInSeconds"], "max"),
    (kinesis.MAX_NAME, "kinesis", "CreateStream", ["StreamName"], "max"),
    (kinesis.NAME_PATTERN, "kinesis", "CreateStream", ["StreamName"], "pattern"),
    (kinesis.MAX_CONSUMER_NAME, "kinesis", "RegisterStreamConsumer", ["ConsumerName"], "max"),
    (kinesis.CONSUMER_NAME_PATTERN, "kinesis", "RegisterStreamConsumer", ["ConsumerName"], "pattern"),
    (firehose.MAX_NAME, "firehose", "CreateDeliveryStream", ["DeliveryStreamName"], "max"),
    (firehose.NAME_PATTERN, "firehose", "CreateDeliveryStream", ["DeliveryStreamName"], "pattern"),
    (firehose.BUFFER_SECONDS[1], "firehose", "CreateDeliveryStream", ["ExtendedS3DestinationConfiguration", "BufferingHints", "IntervalInSeconds"], "max"),
    (firehose.BUFFER_MB[1], "firehose", "CreateDeliveryStream", ["ExtendedS3DestinationConfiguration", "BufferingHints", "SizeInMBs"], "max"),
    (firehose.PREFIX_MAX_CHARS, "firehose", "CreateDeliveryStream", ["ExtendedS3DestinationConfiguration", "Prefix"], "max"),
    (iam.MAX_NAME, "iam", "CreateRole", ["RoleName"], "max"),
    (iam.NAME_PATTERN, "iam", "CreateRole", ["RoleName"], "pattern"),
    (iam.MAX_POLICY_NAME, "iam", "PutRolePolicy", ["PolicyName"], "max"),
    (logs.LOG_GROUP_MAX_CHARS, "logs", "CreateLogGroup", ["logGroupName"], "max"),
    (logs.LOG_GROUP_PATTERN, "logs", "CreateLogGroup", ["logGroupName"], "pattern"),
    (lambda_.HANDLER_MAX_CHARS, "lambda", "CreateFunction", ["Handler"], "max"),
    (lambda_.DESCRIPTION_MAX_CHARS, "lambda", "CreateFunction", ["Description"], "max"),
    (lambda_.ENVIRONMENT_KEY_PATTERN, "lambda", "CreateFunction", ["Environment", "Variables", "*key"], "pattern"),
    (lambda_.MEMORY_MB[0], "lambda", "CreateFunction", ["MemorySize"], "min"),
    (lambda_.BATCHING_WINDOW_SECONDS[1], "lambda", "CreateEventSourceMapping", ["MaximumBatchingWindowInSeconds"], "max"),
    (lambda_.SQS_BATCH_SIZE[1], "lambda", "CreateEventSourceMapping", ["BatchSize"], "max"),
]


def _shape(service: str, operation: str, path: list[str]) -> Shape:
    """A request member's shape: lists are stepped into, ``*key`` is a map's key."""
    shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    for member in path:
        while shape.type_name == "list":
            shape = shape.member
        shape = shape.key if member == "*key" else shape.members[member]
    return shape


@pytest.mark.parametrize(("value", "service", "operation", "path", "key"), MODEL, ids=[f"{m[1]}.{m[2]}.{'.'.join(m[3])}.{m[4]}" for m in MODEL])
def test_limits_agree_with_the_aws_api_model(value: object, service: str, operation: str, path: list[str], key: str) -> None:
    assert _shape(service, operation, path).metadata[key] == value


def test_limits_the_api_model_does_not_state_are_the_documented_ones() -> None:
    """From the quota and developer-guide pages (the API model leaves them out)."""
    assert (sqs.MAX_NAME, sns.MAX_NAME, lambda_.MAX_NAME) == (80, 256, 64)
    assert sqs.ATTRIBUTE_RANGES["VisibilityTimeout"] == (0, 43_200)
    assert sqs.ATTRIBUTE_RANGES["MaximumMessageSize"] == (1_024, 1_048_576)
    assert (sqs.POLICY_MAX_BYTES, sns.POLICY_MAX_BYTES) == (8_192, 30 * 1024)
    assert (sns.FILTER_POLICY_MAX_KEYS, sns.FILTER_POLICY_MAX_COMBINATIONS, sns.FILTER_POLICY_NUMERIC_RANGE) == (5, 150, (-1e9, 1e9))
    assert events.EVENT_PATTERN_MAX_CHARS == 2_048
    assert lambda_.MEMORY_MB == (128, 10_240) and lambda_.ENVIRONMENT_MAX_BYTES == 4_096
    assert iam.ROLE_INLINE_POLICIES_MAX_CHARS == 10_240


def test_a_functions_sms_grant_is_scoped_to_phone_numbers() -> None:
    topology = Topology(
        queues=[QueueSpec("q")],
        functions=[FunctionSpec("sender", code="eventlab:ecommerce", handler="senders.sms", allow=["sms:any", "queue:q"])],
    )
    statements, environment = functions.grants_and_environment(plan.plan(topology), topology.functions[0])  # type: ignore[arg-type]
    sms = [s for s in statements if s["Action"] == ["sns:Publish"]]
    assert sms == [{"Effect": "Allow", "Action": ["sns:Publish"], "NotResource": ["arn:aws:sns:*:*:*"]}]
    assert all(s.get("Resource") != ["*"] for s in statements), "no statement covers every resource"
    assert set(environment) == {"QUEUE_Q_URL"}, "SMS has no resource to name in the environment"


def test_event_source_policy_names_are_valid_iam_names_and_unique_per_source() -> None:
    import re

    queue = lambda_.read_policy_name("arn:aws:sqs:us-east-1:123456789012:el-x-clicks")
    stream = lambda_.read_policy_name("arn:aws:kinesis:us-east-1:123456789012:stream/el-x-clicks")
    assert queue != stream
    long = lambda_.read_policy_name("arn:aws:kinesis:us-east-1:123456789012:stream/" + "s" * 128)
    for name in (queue, stream, long):
        assert re.fullmatch(iam.POLICY_NAME_PATTERN, name) and len(name) <= iam.MAX_POLICY_NAME, name


def test_a_run_id_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ValueError, match="run id"):
        Run(NoCalls(), run_id="abcdefgh\n")  # type: ignore[arg-type]
