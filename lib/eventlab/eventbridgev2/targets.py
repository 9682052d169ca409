"""Subscriber targets: what a ``TargetArn`` names, and delivering a batch of events to it.

Resolution follows AWS's target contract for the Custom Event Bus: the service resolves the
target type from the ARN, checks the ARN's shape, region, partition and account and that the
parameter block matches the target, and leaves everything the target itself owns (existence,
group ids, ranges) to the target at delivery time. Delivery uses the batch APIs AWS names:
SQS ``SendMessageBatch``, SNS ``PublishBatch``, Kinesis ``PutRecords``, Lambda ``Invoke`` (one
call per batch), and another Custom Event Bus through the server itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventlab.eventbridgev2.errors import invalid_input, not_implemented
from eventlab.eventbridgev2.transform import (
    JSON_CONTENT_TYPES,
    TransformError,
    as_text,
    events_view,
    render,
    transformed,
)

log = logging.getLogger(__name__)

# kind -> (the resource form AWS's message names, its regex, the one parameter block it takes)
_FORMS: dict[str, tuple[str, str, str | None]] = {
    "sqs": ("{queueName}", r"[^/:]+", "SqsParameters"),
    "sns": ("{topicName}", r"[^/:]+", "SnsParameters"),
    "lambda": ("function:{name}[:{qualifier}]", r"function:[^/:]+(:[^/:]+)?", "LambdaParameters"),
    "kinesis": ("stream/{name}", r"stream/[^/:]+", "KinesisParameters"),
    "states": ("stateMachine:{name}[:{version}]", r"stateMachine:[^/:]+(:[^/:]+)?", "StepFunctionsParameters"),
    "firehose": ("deliverystream/{name}", r"deliverystream/[^/:]+", None),
    "execute-api": ("{apiId}/{stage}/{method}[/{path}]", r"[^/]+/[^/]+/[^/]+(/.*)?", "HttpParameters"),
    # Amazon MSK clusters (botocore 1.44's model adds MskParameters).
    "kafka": ("cluster/{clusterName}/{clusterUuid}", r"cluster/[^/]+/[^/]+", "MskParameters"),
}
_EVENTS_FORMS: dict[str, tuple[str, str | None]] = {
    "api-destination": (r"api-destination/[^/]+/[^/]+", "HttpParameters"),
    "eventbusv2": (r"event-busv2/[^/]+/[^/]+", "EventBusV2Parameters"),
    "classic-bus": (r"event-bus/[^/]+", None),
}
_DELIVERED = {"sqs", "sns", "lambda", "kinesis", "eventbusv2"}
_TARGET_NAMES = {
    "states": "Step Functions", "firehose": "Firehose", "execute-api": "API Gateway",
    "api-destination": "API destination", "classic-bus": "Custom Event Bus - Classic",
    "universal": "universal (aws-sdk)", "kafka": "Amazon MSK",
}
# The per-call maximum of each target API, which caps the subscriber's batch size.
TARGET_BATCH_LIMIT = {"sqs": 10, "sns": 10, "kinesis": 500, "lambda": 500, "eventbusv2": 100}
PARAMETER_BLOCKS = (
    "LambdaParameters", "SqsParameters", "SnsParameters", "KinesisParameters",
    "StepFunctionsParameters", "HttpParameters", "UniversalTargetParameters", "EventBusV2Parameters",
    "MskParameters",
)


@dataclass(frozen=True)
class TargetRef:
    """A resolved target ARN."""

    kind: str
    arn: str
    partition: str
    region: str
    account: str
    resource: str
    block: str | None

    @property
    def name(self) -> str:
        """The queue, topic, function or stream name (without a Lambda qualifier)."""
        if self.kind in ("sqs", "sns"):
            return self.resource
        if self.kind == "lambda":
            return self.resource.split(":")[1]
        return self.resource.split("/", 1)[-1]

    @property
    def qualifier(self) -> str | None:
        parts = self.resource.split(":")
        return parts[2] if self.kind == "lambda" and len(parts) == 3 else None

    @property
    def fifo(self) -> bool:
        return self.kind in ("sqs", "sns") and self.resource.endswith(".fifo")


def resolve_target(arn: str) -> TargetRef:
    """Resolve a ``TargetArn``, or raise AWS's ``InvalidInputException`` for an unsupported one."""
    parts = arn.split(":", 5)
    unsupported = invalid_input("InvokeConfiguration.TargetArn: TargetArn is not a supported subscriber target")
    if len(parts) != 6 or parts[0] != "arn":
        raise unsupported
    _, partition, service, region, account, resource = parts
    if service == "events" and not region and not account and resource.startswith("aws-sdk:"):
        return TargetRef("universal", arn, partition, region, account, resource, "UniversalTargetParameters")
    if service == "events":
        for kind, (pattern, block) in _EVENTS_FORMS.items():
            if re.fullmatch(pattern, resource):
                return TargetRef(kind, arn, partition, region, account, resource, block)
        raise unsupported
    if service not in _FORMS:
        raise unsupported
    form, pattern, block = _FORMS[service]
    if not re.fullmatch(pattern, resource):
        raise invalid_input(f"InvokeConfiguration.TargetArn: TargetArn resource must be of the form {form}")
    return TargetRef(service, arn, partition, region, account, resource, block)


def check_target(ref: TargetRef, invoke: Mapping[str, Any], *, region: str, account: str,
                 own_bus_arn: str) -> None:
    """AWS's create-time routing rules for a target, then eventlab's own support check."""
    for block in PARAMETER_BLOCKS:
        if invoke.get(block) is not None and block != ref.block:
            expected = f"Expected {ref.block}" if ref.block else "Expected no target parameters"
            raise invalid_input(f"{block} is not supported for target {ref.arn}. {expected}")
    if ref.kind != "universal":
        if ref.account != account:
            raise invalid_input(f"Target resource account ({ref.account}) must match the subscriber account ({account})")
        if ref.partition != "aws":
            raise invalid_input("TargetArn must be in partition aws")
        if ref.kind != "eventbusv2" and ref.region != region:
            raise invalid_input(f"TargetArn must be in region {region}")
    if ref.arn == own_bus_arn:
        raise invalid_input("InvokeConfiguration.TargetArn must not reference the subscriber's own event bus")
    if ref.kind not in _DELIVERED:
        raise not_implemented(
            "CreateSubscriber",
            f"delivery to {_TARGET_NAMES.get(ref.kind, ref.kind)} targets is not emulated; use an SQS "
            "queue, SNS topic, Lambda function, Kinesis stream or another Custom Event Bus",
        )


@dataclass
class Failure:
    """Why one event's delivery attempt failed; ``request_id`` is empty when nothing was sent."""

    code: str
    message: str
    request_id: str = ""


@dataclass
class DeliveryEvent:
    """One retained event on its way to a target."""

    seq: int
    event_id: str
    content_type: str
    data: bytes
    metadata: dict[str, str] | None
    system_metadata: dict[str, str]
    delivery_type: str
    view: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        system = {**self.system_metadata, "aws:DeliveryType": self.delivery_type}
        self.view = events_view(self.content_type, self.data, self.metadata, system)


# A forwarder publishes to another Custom Event Bus: (bus ARN, entries, dedup config) -> per-entry
# error message, None where the entry was accepted.
Forwarder = Callable[[str, list[dict[str, Any]], Mapping[str, Any] | None], list[str | None]]

_THROTTLING = {"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
               "ProvisionedThroughputExceededException", "RequestThrottled", "SlowDown"}


def classify(error: Exception) -> Failure:
    """A target-side exception as the dead-letter record's error class and message."""
    from botocore.exceptions import ClientError, ParamValidationError

    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "") or str(error)
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        request_id = error.response.get("ResponseMetadata", {}).get("RequestId", "")
        if "AccessDenied" in code or code in ("AuthorizationError", "KMSAccessDeniedException"):
            kind = "ACCESS_DENIED"
        elif code in _THROTTLING or status == 429:
            kind = "THROTTLING"
        elif status >= 500:
            kind = "TARGET_ERROR"
        else:
            kind = "CUSTOMER_VALIDATION"
        return Failure(kind, f"{code}: {message}"[:1024], request_id)
    if isinstance(error, ParamValidationError | TransformError | ValueError):
        return Failure("CUSTOMER_VALIDATION", str(error)[:1024])
    return Failure("TARGET_UNREACHABLE", f"{type(error).__name__}: {error}"[:1024])


def _record_batch_failures(outcomes: list[Failure | None], response: Mapping[str, Any]) -> None:
    """The entries an SQS or SNS batch call refused (its ``Failed`` list, by entry id) as failures:
    the sender's fault is the caller's input (CUSTOMER_VALIDATION), anything else the target's."""
    request_id = response.get("ResponseMetadata", {}).get("RequestId", "")
    for failed in response.get("Failed", []):
        outcomes[int(failed["Id"])] = Failure(
            "CUSTOMER_VALIDATION" if failed.get("SenderFault") else "TARGET_ERROR",
            f"{failed.get('Code')}: {failed.get('Message', '')}"[:1024], request_id)


class TargetClients:
    """The boto3 clients deliveries use, made once from the backend's endpoint (never at import)."""

    def __init__(self, endpoint_url: str, region: str, *, access_key: str = "test",
                 secret_key: str = "test", forwarder: Forwarder | None = None) -> None:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        # One attempt per call: the subscriber's RetryPolicy decides about retries, as on AWS.
        config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                        read_timeout=35, max_pool_connections=32)
        self.endpoint_url = endpoint_url
        self.sqs = session.client("sqs", endpoint_url=endpoint_url, config=config)
        self.sns = session.client("sns", endpoint_url=endpoint_url, config=config)
        self.lambda_ = session.client("lambda", endpoint_url=endpoint_url, config=config)
        self.kinesis = session.client("kinesis", endpoint_url=endpoint_url, config=config)
        self.forwarder = forwarder
        self._queue_urls: dict[str, str] = {}

    # -- helpers -----------------------------------------------------------------------------
    def queue_url(self, arn: str) -> str:
        if arn not in self._queue_urls:
            _, _, _, _, account, name = arn.split(":", 5)
            self._queue_urls[arn] = self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        return self._queue_urls[arn]

    @staticmethod
    def _attributes(spec: Mapping[str, Any] | None, view: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for raw_name, attribute in (spec or {}).items():
            name = render(raw_name, view)
            if not name:
                raise TransformError(f"the message attribute name {raw_name!r} resolved to nothing")
            if name in result:
                raise TransformError(f"two message attribute names resolved to {name!r}")
            value: dict[str, Any] = {"DataType": attribute.get("DataType")}
            if attribute.get("StringValue") is not None:
                value["StringValue"] = render(attribute["StringValue"], view)
            if attribute.get("BinaryValue") is not None:
                value["BinaryValue"] = base64.b64decode(attribute["BinaryValue"])
            result[name] = {k: v for k, v in value.items() if v is not None}
        return result

    @staticmethod
    def _payload(transformer: Mapping[str, Any] | None, event: DeliveryEvent) -> tuple[Any, bytes | None]:
        """The delivered value, and the exact published bytes when they are sent unchanged."""
        value = transformed(transformer, event.view)
        kind = (transformer or {}).get("Type") or "RAW"
        raw = event.data if kind == "RAW" and event.content_type in JSON_CONTENT_TYPES else None
        return value, raw

    # -- delivery ----------------------------------------------------------------------------
    def deliver(self, ref: TargetRef, config: Mapping[str, Any], events: Sequence[DeliveryEvent]) -> list[Failure | None]:
        """Deliver one batch; one outcome per event (None: delivered)."""
        method = getattr(self, f"_deliver_{ref.kind}")
        try:
            return method(ref, config, list(events))
        except Exception as error:  # noqa: BLE001 - any failure of the call fails the whole batch
            failure = classify(error)
            return [failure] * len(events)

    def _prepare(self, config: Mapping[str, Any], events: list[DeliveryEvent],
                 build: Callable[[int, DeliveryEvent, Any, bytes | None], Any]) -> tuple[list[Failure | None], list[tuple[int, Any]]]:
        outcomes: list[Failure | None] = [None] * len(events)
        prepared: list[tuple[int, Any]] = []
        for index, event in enumerate(events):
            try:
                value, raw = self._payload(config.get("Transformer"), event)
                prepared.append((index, build(index, event, value, raw)))
            except (TransformError, ValueError, TypeError) as error:
                outcomes[index] = Failure("CUSTOMER_VALIDATION", str(error)[:1024])
        return outcomes, prepared

    def _deliver_sqs(self, ref: TargetRef, config: Mapping[str, Any], events: list[DeliveryEvent]) -> list[Failure | None]:
        params = config["InvokeConfiguration"].get("SqsParameters") or {}

        def build(index: int, event: DeliveryEvent, value: Any, raw: bytes | None) -> dict[str, Any]:
            view = event.view
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": as_text(value, raw)}
            for member in ("MessageGroupId", "MessageDeduplicationId"):
                rendered = render(params.get(member), view)
                if rendered is not None:
                    entry[member] = rendered
            delay = render(params.get("DelaySeconds"), view)
            if delay is not None:
                entry["DelaySeconds"] = int(delay)
            attributes = self._attributes(params.get("MessageAttributes"), view)
            if attributes:
                entry["MessageAttributes"] = attributes
            system = self._attributes(params.get("MessageSystemAttributes"), view)
            if system:
                entry["MessageSystemAttributes"] = system
            return entry

        outcomes, prepared = self._prepare(config, events, build)
        if prepared:
            response = self.sqs.send_message_batch(QueueUrl=self.queue_url(ref.arn), Entries=[e for _, e in prepared])
            _record_batch_failures(outcomes, response)
        return outcomes

    def _deliver_sns(self, ref: TargetRef, config: Mapping[str, Any], events: list[DeliveryEvent]) -> list[Failure | None]:
        params = config["InvokeConfiguration"].get("SnsParameters") or {}

        def build(index: int, event: DeliveryEvent, value: Any, raw: bytes | None) -> dict[str, Any]:
            view = event.view
            entry: dict[str, Any] = {"Id": str(index), "Message": as_text(value, raw)}
            for member in ("MessageGroupId", "MessageDeduplicationId", "Subject", "MessageStructure"):
                rendered = render(params.get(member), view)
                if rendered is not None:
                    entry[member] = rendered
            attributes = self._attributes(params.get("MessageAttributes"), view)
            if attributes:
                entry["MessageAttributes"] = attributes
            return entry

        outcomes, prepared = self._prepare(config, events, build)
        if prepared:
            response = self.sns.publish_batch(TopicArn=ref.arn, PublishBatchRequestEntries=[e for _, e in prepared])
            _record_batch_failures(outcomes, response)
        return outcomes

    def _deliver_kinesis(self, ref: TargetRef, config: Mapping[str, Any], events: list[DeliveryEvent]) -> list[Failure | None]:
        params = config["InvokeConfiguration"].get("KinesisParameters") or {}

        def build(index: int, event: DeliveryEvent, value: Any, raw: bytes | None) -> dict[str, Any]:
            view = event.view
            key = render(params.get("PartitionKey"), view)
            if not key:
                raise TransformError("PartitionKey is required by Kinesis PutRecords and resolved to nothing")
            if event.content_type == "application/octet-stream" and (config.get("Transformer") or {}).get("Type", "RAW") == "RAW":
                data = event.data
            else:
                data = as_text(value, raw).encode("utf-8")
            record: dict[str, Any] = {"Data": data, "PartitionKey": key}
            hash_key = render(params.get("ExplicitHashKey"), view)
            if hash_key:
                record["ExplicitHashKey"] = hash_key
            return record

        outcomes, prepared = self._prepare(config, events, build)
        if prepared:
            response = self.kinesis.put_records(StreamName=ref.name, Records=[r for _, r in prepared])
            request_id = response.get("ResponseMetadata", {}).get("RequestId", "")
            for (index, _), result in zip(prepared, response.get("Records", []), strict=False):
                if result.get("ErrorCode"):
                    outcomes[index] = Failure(
                        "THROTTLING" if result["ErrorCode"] == "ProvisionedThroughputExceededException" else "TARGET_ERROR",
                        f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}"[:1024], request_id)
        return outcomes

    def _deliver_lambda(self, ref: TargetRef, config: Mapping[str, Any], events: list[DeliveryEvent]) -> list[Failure | None]:
        params = config["InvokeConfiguration"].get("LambdaParameters") or {}
        outcomes, prepared = self._prepare(config, events, lambda i, e, value, raw: value)
        if not prepared:
            return outcomes
        single = config.get("BatchConfiguration", {}).get("MaxBatchSize") == 1
        payload = prepared[0][1] if single and len(prepared) == 1 else [value for _, value in prepared]
        invocation = params.get("InvocationType") or "REQUEST_RESPONSE"
        call: dict[str, Any] = {
            "FunctionName": ref.arn,
            "InvocationType": "Event" if invocation == "EVENT" else "RequestResponse",
            "Payload": json.dumps(payload).encode("utf-8"),
        }
        qualifier = render(params.get("Qualifier"), events[prepared[0][0]].view)
        if qualifier and not ref.qualifier:
            call["Qualifier"] = qualifier
        response = self.lambda_.invoke(**call)
        request_id = response.get("ResponseMetadata", {}).get("RequestId", "")
        body = response["Payload"].read() if response.get("Payload") is not None else b""
        if response.get("FunctionError"):
            failure = Failure("CUSTOMER_VALIDATION", f"{response['FunctionError']}: {body.decode('utf-8', 'replace')}"[:1024], request_id)
            for index, _ in prepared:
                outcomes[index] = failure
            return outcomes
        if invocation == "REQUEST_RESPONSE" and body:
            try:
                result = json.loads(body)
            except ValueError:
                result = None
            if isinstance(result, dict) and isinstance(result.get("batchItemFailures"), list):
                failed_ids = {str(item.get("itemIdentifier")) for item in result["batchItemFailures"] if isinstance(item, dict)}
                # On a FIFO subscriber the events after the first failure fail too: delivering them
                # again after the failed one keeps the group's order.
                ordered, failing = config.get("Type") == "FIFO", False
                for index, _ in prepared:
                    failing = (failing and ordered) or events[index].event_id in failed_ids
                    if failing:
                        outcomes[index] = Failure("CUSTOMER_VALIDATION", "reported in batchItemFailures", request_id)
        return outcomes

    def _deliver_eventbusv2(self, ref: TargetRef, config: Mapping[str, Any], events: list[DeliveryEvent]) -> list[Failure | None]:
        if self.forwarder is None:
            raise RuntimeError("no forwarder for Custom Event Bus targets")
        params = config["InvokeConfiguration"].get("EventBusV2Parameters") or {}
        kind = (config.get("Transformer") or {}).get("Type") or "RAW"

        def build(index: int, event: DeliveryEvent, value: Any, raw: bytes | None) -> dict[str, Any]:
            view = event.view
            if kind == "RAW":
                content_type, data = event.content_type, event.data
            else:
                content_type, data = "application/json", json.dumps(value).encode("utf-8")
            metadata = {}
            for key, item in (params.get("Metadata") or {}).items():
                name, rendered = render(key, view), render(item, view)
                if name and rendered is not None:
                    metadata[name] = rendered
            system = params.get("SystemMetadata") or {}
            carried = {k: v for k, v in event.system_metadata.items() if k in ("aws:Source", "aws:DetailType")}
            return {
                "ContentType": content_type, "Data": data, "Metadata": metadata or None,
                "EventGroupId": render(system.get("EventGroupId"), view),
                "DeduplicationId": render(system.get("DeduplicationId"), view),
                "Carried": carried,
            }

        outcomes, prepared = self._prepare(config, events, build)
        if prepared:
            errors = self.forwarder(ref.arn, [entry for _, entry in prepared], params.get("DeduplicationConfiguration"))
            for (index, _), error in zip(prepared, errors, strict=True):
                if error:
                    outcomes[index] = Failure("CUSTOMER_VALIDATION", error[:1024])
        return outcomes

    def send_dead_letter(self, queue_arn: str, record: Mapping[str, Any], group_id: str | None) -> None:
        """Write one failure record to the subscriber's on-failure queue."""
        body = json.dumps(record)
        call: dict[str, Any] = {"QueueUrl": self.queue_url(queue_arn), "MessageBody": body}
        if queue_arn.endswith(".fifo"):
            call["MessageGroupId"] = group_id or "default"
            call["MessageDeduplicationId"] = hashlib.sha256(body.encode()).hexdigest()
        self.sqs.send_message(**call)
