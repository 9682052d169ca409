"""EventBridge cases: input transformers, archive and replay (notebook 03), a Kinesis target
(notebook 06); patterns are in ``patterns``."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from eventlab import policies
from eventlab.experiments.events import route_to_queues, s3_object_created
from eventlab.fidelity.model import Case, as_json, canonical, doc
from eventlab.run import Run
from eventlab.services import events, iam, kinesis, sqs

TRANSFORM = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html"
INPUT_TRANSFORMER = "https://docs.aws.amazon.com/goto/WebAPI/events-2015-10-07/InputTransformer"
REPLAY = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-replay-archived-event.html"
ARCHIVE = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-archive.html"
REPLAY_DESTINATION = "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_ReplayDestination.html"
START_REPLAY = "https://docs.aws.amazon.com/goto/WebAPI/events/StartReplay"
KINESIS_PARAMETERS = "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_KinesisParameters.html"
SERVICE_EVENTS = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events.html"
S3_EVENTBRIDGE = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html"

SOURCE = "eventlab.fidelity"
DETAIL_TYPE = "Sample"
# The documentation's EC2 example, with a few values of other JSON types.
DETAIL = {"instance-id": "i-0123456789", "state": "RUNNING", "order": "o-1", "total": 42.5, "count": 0,
          "customer": {"id": "c-7"}}
PATHS = {"instance": "$.detail.instance-id", "state": "$.detail.state", "order": "$.detail.order",
         "total": "$.detail.total", "count": "$.detail.count", "customer": "$.detail.customer",
         "nothing": "$.detail.nothing"}
RULE_MARK = "<rule>"


# -- input transformers --------------------------------------------------------------------------
def deliver_transformed(run: Run, template: str) -> str:
    """Put :data:`DETAIL` through a rule whose queue target has ``template``; the body the queue
    got (JSON canonical), with the rule's name written as :data:`RULE_MARK`."""
    bus = events.create_event_bus(run, "tx")
    used = {k: v for k, v in PATHS.items() if f"<{k}>" in template}
    transformer: dict[str, Any] = {"InputTemplate": template}
    if used:
        transformer["InputPathsMap"] = used
    queues = route_to_queues(run, bus, "tx", {"source": [SOURCE]}, {"out": {"InputTransformer": transformer}})
    events.put_events(run, [{"EventBusName": bus.name, "Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": json.dumps(DETAIL)}])
    messages = sqs.receive_all(run, queues["out"], expected=1, timeout=10, delete=True)
    if not messages:
        return "nothing delivered"
    return canonical(messages[0]["Body"]).replace(run.name("tx"), RULE_MARK)


def transformer_case(name: str, behaviour: str, template: str, verdict: str, says: str, *, url: str = TRANSFORM, fixed_by: str = "") -> Case:
    return Case(f"events.transformer.{name}", "events", behaviour, verdict, doc(url, says),
                lambda run: deliver_transformed(run, template), fixed_by=fixed_by)


def original_event_summary(run: Run) -> str:
    """Which rule name and which envelope the reserved variables gave."""
    body = deliver_transformed(run, '{"ruleName": <aws.events.rule-name>, "originalEvent": <aws.events.event>}')
    try:
        value = json.loads(body)
    except ValueError:
        return body
    original = value.get("originalEvent")
    envelope = isinstance(original, dict) and original.get("source") == SOURCE and "detail" not in original
    return (f"ruleName is {value.get('ruleName')!r}; originalEvent is "
            + ("the envelope without detail" if envelope else repr(original)))


TRANSFORMER_CASES = [
    transformer_case(
        "string-template", "a string template, placeholders replaced by the values' text",
        '"instance <instance> is in <state>"', '"instance i-0123456789 is in RUNNING"',
        "Simple string example: a template in quotes is delivered as that string, placeholders filled in."),
    transformer_case(
        "escaped-quotes", "escaped quotes inside a string template stay as written",
        '"instance \\"<instance>\\" is in <state>"', '"instance \\"i-0123456789\\" is in RUNNING"',
        "String with escaped quotes example: the target receives the escaped quotes as written in the template.",
        fixed_by="input-template"),
    transformer_case(
        "json-values", "placeholders as JSON values take the value's JSON form",
        '{"instance": <instance>, "state": <state>}', as_json({"instance": "i-0123456789", "state": "RUNNING"}),
        "Simple JSON example: a variable used as a value becomes that value, a string arriving quoted."),
    transformer_case(
        "json-strings-and-variables", "placeholders inside JSON strings and as values, with escaped quotes",
        '{"instance": <instance>, "state": "<state>", "instanceStatus": "instance \\"<instance>\\" is in <state>"}',
        as_json({"instance": "i-0123456789", "state": "RUNNING", "instanceStatus": 'instance "i-0123456789" is in RUNNING'}),
        "JSON with strings and variables example: inside quotes the value's text is inserted."),
    transformer_case(
        "static-mix", "placeholders mixed with static JSON values",
        '{"instance": <instance>, "state": [9, <state>, true], "Transformed": "Yes"}',
        as_json({"instance": "i-0123456789", "state": [9, "RUNNING", True], "Transformed": "Yes"}),
        "JSON with a mix of variables and static information example."),
    transformer_case(
        "number-in-json-string", "a number inside a JSON string is written as its text",
        '{"text": "Order <order> totals <total>"}', as_json({"text": "Order o-1 totals 42.5"}),
        "Inside quotes a placeholder is replaced by the value's text; EventBridge does not escape values taken by the input path.",
        fixed_by="input-template"),
    transformer_case(
        "number-in-string-template", "a number inside a string template is written as its text",
        '"Order <order> totals <total>"', '"Order o-1 totals 42.5"',
        "Simple string example, with a number: the placeholder is replaced by the value's text.",
        fixed_by="input-template"),
    transformer_case(
        "numbers-as-values", "numbers as JSON values stay numbers, zero included",
        '{"total": <total>, "count": <count>}', as_json({"count": 0, "total": 42.5}),
        "The template can be JSON with variables in quotes or out; out of quotes a variable is the value itself.",
        url=INPUT_TRANSFORMER, fixed_by="input-template"),
    transformer_case(
        "object-as-value", "an object as a JSON value is inserted as the object",
        '{"customer": <customer>}', as_json({"customer": {"id": "c-7"}}),
        "Including reserved variables in JSON example: a variable holding an object is inserted as the object."),
    transformer_case(
        "missing-path", "a path the event does not have yields nothing",
        '"state <nothing>"', '"state "',
        "Common issues: a variable whose JSON path does not exist in the event is not created and does not appear in the output."),
    transformer_case(
        "reserved-in-string", "the rule's name inside a string template",
        '"<aws.events.rule-name> triggered"', f'"{RULE_MARK} triggered"',
        "Including reserved variables in a string example: aws.events.rule-name is the rule's name."),
    Case("events.transformer.reserved-in-json", "events", "aws.events.rule-name and aws.events.event as JSON values",
         f"ruleName is {RULE_MARK!r}; originalEvent is the envelope without detail",
         doc(TRANSFORM, "Predefined variables: aws.events.rule-name is the rule's name; aws.events.event is the original event payload as JSON, without the detail field."),
         original_event_summary),
]


# -- archive and replay --------------------------------------------------------------------------
def _order_entries(bus: events.EventBus, count: int, *, times: list[datetime] | None = None) -> list[dict[str, Any]]:
    return [
        {"EventBusName": bus.name, "Source": SOURCE, "DetailType": "Order Placed",
         "Detail": json.dumps({"orderId": f"o-{n}"}), **({"Time": times[n]} if times else {})}
        for n in range(count)
    ]


def _bodies(run: Run, queue: sqs.Queue, expected: int, *, timeout: float = 10.0, settle: float = 1.5) -> list[dict[str, Any]]:
    """Receive (and delete) ``expected`` messages, then for ``settle`` more seconds any extra."""
    got = sqs.receive_all(run, queue, expected=expected, timeout=timeout, delete=True)
    got += sqs.receive_all(run, queue, expected=1_000, timeout=settle, delete=True)
    return [json.loads(m["Body"]) for m in got]


def replay(run: Run, archive_arn: str, bus: events.EventBus, start: datetime, end: datetime, *,
           filter_arns: list[str] | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """StartReplay (no retries: a failed start must not be started twice) and DescribeReplay until it ends."""
    client = run.target.client("events")
    name = run.name("replay")
    destination: dict[str, Any] = {"Arn": bus.arn, **({"FilterArns": filter_arns} if filter_arns else {})}
    client.start_replay(ReplayName=name, EventSourceArn=archive_arn, EventStartTime=start, EventEndTime=end, Destination=destination)
    deadline = time.monotonic() + timeout
    while True:
        described = client.describe_replay(ReplayName=name)
        if described["State"] in ("COMPLETED", "FAILED", "CANCELLED") or time.monotonic() > deadline:
            return described
        time.sleep(0.5)


def _archived_bus(run: Run, queues: Mapping[str, Mapping[str, Any]] | None = None, *, fifo: bool = False) -> tuple[events.EventBus, str, dict[str, sqs.Queue], dict[str, events.Rule]]:
    """A bus with an archive of everything, and one rule on ``source`` per queue."""
    bus = events.create_event_bus(run, "rp")
    archive = events.create_archive(run, bus, "rp")
    made, rules = {}, {}
    for name, extra in (queues or {"q": {}}).items():
        rule = events.put_rule(run, bus, f"rp-{name}", event_pattern={"source": [SOURCE]})
        queue = sqs.create_queue(run, f"rp-{name}", fifo=fifo, content_based_deduplication=fifo)
        sqs.allow_senders(run, queue, service="events.amazonaws.com", source_arns=[rule.arn])
        events.put_targets(run, rule, [{"Id": "q", "Arn": queue.arn, **dict(extra)}])
        made[name], rules[name] = queue, rule
    return bus, archive, made, rules


def _replayed(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in bodies if b.get("replay-name")]


def replay_redelivers(run: Run) -> str:
    bus, archive, queues, _ = _archived_bus(run)
    start = datetime.now(UTC) - timedelta(minutes=1)
    events.put_events(run, _order_entries(bus, 3))
    originals = _bodies(run, queues["q"], 3)
    described = replay(run, archive, bus, start, datetime.now(UTC))
    again = _bodies(run, queues["q"], 3)
    last = described.get("EventLastReplayedTime")
    in_window = last is not None and start - timedelta(minutes=1) <= last <= datetime.now(UTC)
    return (f"{described['State']}, {len(originals)} delivered, {len(_replayed(again))} re-delivered, "
            f"last replayed time {'in the window' if in_window else repr(last)}")


def replay_empty_window(run: Run) -> str:
    bus, archive, queues, _ = _archived_bus(run)
    end = datetime.now(UTC) - timedelta(minutes=30)
    described = replay(run, archive, bus, end - timedelta(minutes=5), end)
    return f"{described['State']}, {len(_bodies(run, queues['q'], 0, timeout=0, settle=1.0))} re-delivered"


def replay_marks(run: Run) -> str:
    bus, archive, queues, _ = _archived_bus(run)
    start = datetime.now(UTC) - timedelta(minutes=1)
    events.put_events(run, _order_entries(bus, 2))
    originals = _bodies(run, queues["q"], 2)
    name = run.name("replay")
    replay(run, archive, bus, start, datetime.now(UTC))
    again = _bodies(run, queues["q"], 2)
    marks = {b.get("replay-name") for b in again}
    return (f"originals: {'no replay-name' if not any('replay-name' in b for b in originals) else 'replay-name set'}; "
            f"replayed: {'replay-name is the replay' if again and marks == {name} else f'replay-name {sorted(map(str, marks))}'}")


def replay_not_archived(run: Run) -> str:
    bus, archive, queues, _ = _archived_bus(run)
    start = datetime.now(UTC) - timedelta(minutes=1)
    events.put_events(run, _order_entries(bus, 2))
    _bodies(run, queues["q"], 2)
    replay(run, archive, bus, start, datetime.now(UTC))
    _bodies(run, queues["q"], 2)
    count = run.target.client("events").describe_archive(ArchiveName=archive.rsplit("/", 1)[-1])["EventCount"]
    return f"the archive holds {count} events"


def replay_order_by_minute(run: Run) -> str:
    """Two events put in the opposite order of their time, three minutes apart, replayed."""
    bus, archive, queues, _ = _archived_bus(run, {"q": {"SqsParameters": {"MessageGroupId": "replay"}}}, fifo=True)
    now = datetime.now(UTC).replace(microsecond=0)
    late, early = now - timedelta(minutes=1), now - timedelta(minutes=4)
    entries = _order_entries(bus, 2, times=[late, early])  # o-0 is the later one, put first
    events.put_events(run, entries[:1])
    events.put_events(run, entries[1:])
    _bodies(run, queues["q"], 2)
    replay(run, archive, bus, now - timedelta(minutes=5), now + timedelta(seconds=1))
    order = [b["detail"]["orderId"] for b in _replayed(_bodies(run, queues["q"], 2))]
    if order == ["o-1", "o-0"]:
        return "the earlier minute first"
    return f"replayed in the order {order}"


def replay_filter_arns(run: Run) -> str:
    bus, archive, queues, rules = _archived_bus(run, {"chosen": {}, "other": {}})
    start = datetime.now(UTC) - timedelta(minutes=1)
    events.put_events(run, _order_entries(bus, 1))
    for queue in queues.values():
        _bodies(run, queue, 1, settle=0)
    replay(run, archive, bus, start, datetime.now(UTC), filter_arns=[rules["chosen"].arn])
    chosen = len(_replayed(_bodies(run, queues["chosen"], 1)))
    other = len(_replayed(_bodies(run, queues["other"], 0, timeout=0, settle=1.0)))
    return f"chosen rule: {chosen} replayed; other rule: {other} replayed"


def kinesis_target(run: Run) -> str:
    """A rule with a Kinesis stream target keyed by ``$.detail.order``: what the stream got."""
    bus = events.create_event_bus(run, "kt")
    rule = events.put_rule(run, bus, "kt", event_pattern={"source": [SOURCE]})
    stream = kinesis.create_stream(run, "kt", shard_count=1, encrypted=False)
    role = iam.create_role(run, events.target_role_base(rule.name), service=events.PRINCIPAL,
                           policy=policies.document(*policies.may_send_to(stream.arn)))
    events.put_targets(run, rule, [{"Id": "stream", "Arn": stream.arn, "RoleArn": role.arn,
                                    "KinesisParameters": {"PartitionKeyPath": "$.detail.order"}}])
    events.put_events(run, [{"EventBusName": bus.name, "Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": json.dumps(DETAIL)}])
    client = run.target.client("kinesis")
    shard = kinesis.list_shards(client, stream.name)[0]["ShardId"]
    records: list[kinesis.Record] = []
    deadline = time.monotonic() + 10
    while not records and time.monotonic() < deadline:
        records = kinesis.read_shard(client, stream.name, shard)
    if not records:
        return "nothing delivered"
    detail = json.loads(records[0].data).get("detail")
    return f"{len(records)} record(s), partition key {records[0].partition_key!r}, the event{'' if detail == DETAIL else ' changed'}"


def s3_object_created_on_default_bus(run: Run) -> str:
    """A bucket with EventBridge delivery on, one object put: what a default-bus rule got."""
    seen = s3_object_created(run)
    event = seen.event
    if event is None:
        return "nothing delivered"
    named = (event.get("detail") or {}).get("bucket", {}).get("name") == seen.bucket and \
        ((event.get("detail") or {}).get("object") or {}).get("key") == seen.key
    return (f"{len(seen.delivered)} {event.get('detail-type')!r} event from {event.get('source')}"
            f"{', naming the bucket and the key' if named else ', not naming the object'}")


SERVICE_EVENT_CASES = [
    Case("events.service-events.s3-object-created", "events",
         "with EventBridge delivery on, S3 sends an Object Created event to the default bus",
         "1 'Object Created' event from aws.s3, naming the bucket and the key",
         doc(S3_EVENTBRIDGE, "Once EventBridge is enabled for a bucket, Amazon S3 sends it an Object Created event "
             "(source aws.s3, with the bucket name and the object key in detail) when an object is created; an AWS "
             "service's events go to the account's default event bus (EventBridge user guide, Events from AWS services)."),
         s3_object_created_on_default_bus),
]


REPLAY_CASES = [
    Case("events.replay.empty-window", "events", "a replay of a window without events completes with nothing sent",
         "COMPLETED, 0 re-delivered",
         doc(REPLAY, "A replay sends only the events that occurred between its start and end time; when it is done its status is Completed."),
         replay_empty_window),
    Case("events.replay.redelivers-window", "events", "a replay sends the window's archived events to the rules again",
         "COMPLETED, 3 delivered, 3 re-delivered, last replayed time in the window",
         doc(REPLAY, "A replay sends the archived events between its start and end time back to the bus's rules; DescribeReplay reports its state and EventLastReplayedTime."),
         replay_redelivers, fixed_by="replay"),
    Case("events.replay.replay-name", "events", "replayed events carry replay-name, the originals do not",
         "originals: no replay-name; replayed: replay-name is the replay",
         doc(ARCHIVE, "The managed rule of an archive matches events without a replay-name field: replayed events carry it, so they are not archived again."),
         replay_marks, fixed_by="replay"),
    Case("events.replay.not-archived-again", "events", "replayed events are not sent to the archive",
         "the archive holds 2 events",
         doc(ARCHIVE, "When you create an archive, EventBridge adds a managed rule that keeps replayed events from being sent to the archive."),
         replay_not_archived, fixed_by="replay"),
    Case("events.replay.order-by-minute", "events", "a replay processes its window one minute at a time, the first minute first",
         "the earlier minute first",
         doc(REPLAY, "A replay processes events by the time in the event, one minute at a time: the events of the first minute of the range are replayed first, then those of the second."),
         replay_order_by_minute, fixed_by="replay"),
    Case("events.replay.filter-arns", "events", "a replay with FilterArns reaches only those rules",
         "chosen rule: 1 replayed; other rule: 0 replayed",
         doc(REPLAY_DESTINATION, "FilterArns is the list of ARNs of the rules to replay events to."),
         replay_filter_arns, fixed_by="replay"),
]

TARGET_CASES = [
    Case("events.target.kinesis", "events", "a rule puts a matched event into a Kinesis stream, keyed by PartitionKeyPath",
         "1 record(s), partition key 'o-1', the event",
         doc(KINESIS_PARAMETERS, "PartitionKeyPath is the JSON path in the event whose value is the record's partition key (the event id when absent); the record's data is the event."),
         kinesis_target),
]


CASES = [*TRANSFORMER_CASES, *REPLAY_CASES, *TARGET_CASES, *SERVICE_EVENT_CASES]
