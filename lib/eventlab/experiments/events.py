"""EventBridge experiments: which events a pattern matches, what a target receives, replay, latency.

Used by ``notebooks/03-eventbridge.ipynb``; every function takes a :class:`~eventlab.run.Run`
and creates only resources of that run.

- :func:`match_patterns` puts one rule per pattern on a bus, all targeting one queue through an
  input transformer that labels each delivery with its rule, then reports which events each
  rule delivered (and what ``TestEventPattern`` says, as a second opinion).
- :func:`route_to_queues` is one rule with one queue per target, to compare what input paths
  and input transformers make of the same event.
- :func:`replay_archive` replays an archive back onto its bus with StartReplay, and
  :func:`replay_name` tells a replayed event from an original; :func:`wait_for_archive` waits
  the time AWS advises between archiving and replaying.
- :func:`measure_bus_to_queue` is the EventBridge -> SQS latency run.
- :func:`order_through_buses` sends the same keyed events through a classic rule into an SQS
  FIFO queue and through a Custom Event Bus FIFO subscriber, and counts each key's inversions
  as the consumer saw them; :func:`late_subscriber` starts a Custom Event Bus subscriber at the
  horizon of a bus that already holds events.
- :func:`one_time_schedule` has EventBridge Scheduler send a message to a queue a few seconds
  from now, and reports when it came.
- :func:`s3_object_created` turns on a bucket's EventBridge notifications, puts an object and
  returns the "Object Created" event a rule on the *default* bus delivered to a queue.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from botocore.config import Config

from eventlab.measure import analysis
from eventlab.measure.load import LoadSpec
from eventlab.measure.paths import SERVICE, measure
from eventlab.measure.results import RunResult
from eventlab.run import Run
from eventlab.runtime.companions import EVENTBRIDGEV2
from eventlab.services import eventbridgev2, events, s3, sqs
from eventlab.target import Target
from eventlab.topology.filters import validate_event_pattern
from eventlab.waiting import until

log = logging.getLogger(__name__)

SAMPLE_SOURCE = "eventlab.samples"
SAMPLE_DETAIL_TYPE = "Sample"
REPLAY_FIELD = "replay-name"


# -- pattern matching --------------------------------------------------------------------------
@dataclass
class PatternMatches:
    """Which event ids each pattern matched: as delivered by rules, and as TestEventPattern says."""

    patterns: dict[str, dict[str, Any]]
    delivered: dict[str, list[str]]
    tested: dict[str, list[str]]

    def frame(self) -> pd.DataFrame:
        """One row per pattern: the pattern (JSON), the ids delivered, the ids TestEventPattern matched."""
        return pd.DataFrame(
            [
                {
                    "pattern": name,
                    "event pattern": json.dumps(pattern),
                    "delivered": ", ".join(self.delivered[name]) or "-",
                    "TestEventPattern": ", ".join(self.tested[name]) or "-",
                }
                for name, pattern in self.patterns.items()
            ]
        ).set_index("pattern")


def match_patterns(
    run: Run,
    bus: events.EventBus,
    patterns: Mapping[str, Mapping[str, Any]],
    details: Sequence[Mapping[str, Any]],
    *,
    id_field: str = "id",
    source: str = SAMPLE_SOURCE,
    detail_type: str = SAMPLE_DETAIL_TYPE,
    timeout: float = 20.0,
) -> PatternMatches:
    """Put ``details`` on ``bus`` as events and report which ones each pattern's rule delivered.

    Every pattern is validated offline first (:func:`validate_event_pattern`): a malformed one
    raises :class:`~eventlab.topology.PatternError` before anything is created. Then one rule
    per pattern targets one queue; an input transformer turns each delivery into
    ``{"rule": <pattern name>, "id": <detail[id_field]>}``.
    """
    for pattern in patterns.values():
        validate_event_pattern(pattern)
    ids = [str(d[id_field]) for d in details]
    if len(set(ids)) != len(ids):
        raise ValueError(f"match_patterns: every event needs a distinct {id_field!r}")
    client = run.target.client("events")
    identity = {"account": run.target.account_id, "region": run.target.region}
    tested = {
        name: [
            str(d[id_field]) for d in details
            if client.test_event_pattern(
                EventPattern=json.dumps(pattern),
                Event=json.dumps(events.envelope(d, source=source, detail_type=detail_type, **identity)),
            )["Result"]
        ]
        for name, pattern in patterns.items()
    }

    queue = sqs.create_queue(run, f"{bus.name.removeprefix(run.prefix + '-')}-matches")
    rules = {
        name: events.put_rule(run, bus, f"match-{i}", event_pattern=pattern, description=f"pattern {name}")
        for i, (name, pattern) in enumerate(patterns.items())
    }
    sqs.allow_senders(run, queue, service=events.PRINCIPAL, source_arns=[r.arn for r in rules.values()])
    for name, rule in rules.items():
        template = '{"rule": ' + json.dumps(name) + ', "id": <id>}'
        events.put_targets(run, rule, [{
            "Id": "matches", "Arn": queue.arn,
            "InputTransformer": {"InputPathsMap": {"id": f"$.detail.{id_field}"}, "InputTemplate": template},
        }])
    events.put_events(run, [
        {"EventBusName": bus.name, "Source": source, "DetailType": detail_type, "Detail": json.dumps(d)}
        for d in details
    ])
    expected = sum(len(v) for v in tested.values())
    delivered: dict[str, list[str]] = {name: [] for name in patterns}
    for body in sqs.receive_bodies(run, queue, expected, timeout=timeout):
        delivered[body["rule"]].append(str(body["id"]))
    order = {i: n for n, i in enumerate(ids)}
    for name in delivered:
        delivered[name].sort(key=lambda i: order.get(i, len(order)))
    return PatternMatches({k: dict(v) for k, v in patterns.items()}, delivered, tested)


# -- targets: input path and input transformer -------------------------------------------------
def route_to_queues(
    run: Run,
    bus: events.EventBus,
    base: str,
    event_pattern: Mapping[str, Any],
    targets: Mapping[str, Mapping[str, Any]],
) -> dict[str, sqs.Queue]:
    """One rule with one queue per named target; each target's extra fields (``InputPath``,
    ``InputTransformer``, ``Input``) say what that queue receives. Returns the queues by name."""
    rule = events.put_rule(run, bus, base, event_pattern=event_pattern)
    queues = {name: sqs.create_queue(run, f"{base}-{name}") for name in targets}
    for queue in queues.values():
        sqs.allow_senders(run, queue, service=events.PRINCIPAL, source_arns=[rule.arn])
    events.put_targets(run, rule, [
        {"Id": name, "Arn": queues[name].arn, **dict(extra)} for name, extra in targets.items()
    ])
    return queues


# -- archive and replay ------------------------------------------------------------------------
@dataclass
class Replay:
    """A replay of an archive, as DescribeReplay reported it when it ended."""

    name: str
    arn: str
    state: str
    described: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def last_replayed(self) -> datetime | None:
        """The time of the last event replayed (``EventLastReplayedTime``), if any was."""
        value = self.described.get("EventLastReplayedTime")
        return value if isinstance(value, datetime) else None


# An event reaches an archive some time after the bus received it: AWS recommends waiting 10
# minutes before replaying archived events, so that all are replayed (EventBridge user guide,
# Archiving and replaying events, Event delivery).
ARCHIVE_SETTLE_S = 600.0
ARCHIVE_PAGE = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-archive.html"


def archive_wait_seconds(target: Target, requested: float) -> float:
    """How long to wait between archiving events and replaying them: ``requested`` when it is
    0 or more; otherwise AWS's advice (10 minutes) on AWS, and nothing on an emulator, which
    archives an event as it routes it."""
    if requested >= 0:
        return float(requested)
    return 0.0 if target.is_emulated else ARCHIVE_SETTLE_S


def wait_for_archive(target: Target, requested: float) -> float:
    """Sleep :func:`archive_wait_seconds` and return the seconds waited."""
    seconds = archive_wait_seconds(target, requested)
    if seconds:
        log.info("waiting %.0f s for the archive before replaying (%s)", seconds, ARCHIVE_PAGE)
        time.sleep(seconds)
    return seconds


def replay_name(event: Mapping[str, Any]) -> str | None:
    """The replay an event came from, or None for an original: EventBridge adds ``replay-name``
    to the envelope of every replayed event."""
    name = event.get(REPLAY_FIELD)
    return str(name) if name else None


def replay_archive(
    run: Run,
    archive_arn: str,
    bus: events.EventBus,
    start: datetime,
    end: datetime,
    *,
    base: str = "replay",
    rules: Sequence[events.Rule] = (),
    timeout: float = 60.0,
) -> Replay:
    """Replay the archive's events from ``start`` to ``end`` onto ``bus`` (to ``rules`` only,
    if given) with StartReplay, then DescribeReplay until it ends; raises unless COMPLETED."""
    name = run.name(base, max_length=64)
    # No retries: a replay that failed must not be started twice.
    client = run.target.new_client("events", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    destination: dict[str, Any] = {"Arn": bus.arn}
    if rules:
        destination["FilterArns"] = [rule.arn for rule in rules]
    reply = client.start_replay(
        ReplayName=name, EventSourceArn=archive_arn, EventStartTime=start, EventEndTime=end, Destination=destination,
    )
    arn = str(reply.get("ReplayArn") or f"arn:aws:events:{run.target.region}:{run.target.account_id}:replay/{name}")

    def ended() -> dict[str, Any]:
        described = client.describe_replay(ReplayName=name)
        return described if described["State"] in ("COMPLETED", "FAILED", "CANCELLED") else {}

    described = until(ended, timeout=timeout)
    if not described:
        raise TimeoutError(f"replay {name} is {client.describe_replay(ReplayName=name)['State']} after {timeout:.0f} s")
    state = described["State"]
    if state != "COMPLETED":
        raise RuntimeError(f"replay {name} ended {state}: {described.get('StateReason', '')}")
    log.info("replay %s of %s completed", name, archive_arn)
    return Replay(name, arn, state, described=described)


# -- latency -----------------------------------------------------------------------------------
def measure_bus_to_queue(
    run: Run,
    *,
    rate: float,
    count: int,
    warmup: int = 0,
    batch: int = 1,
    threads: int = 2,
    timeout: float = 60.0,
) -> RunResult:
    """Open-loop probes into a custom bus, a rule to an SQS queue, a long-polling receiver.

    ``threads`` senders share the schedule, so one slow PutEvents call does not hold back the
    probes due after it (their wait would still count: latency starts at the intended time).

    Returns the :class:`RunResult` (path ``events-sqs``); latency counts from each probe's
    intended send time to its receipt from the queue.
    """
    spec = LoadSpec(rate=rate, count=count, warmup_count=warmup, batch=batch, threads=threads)
    spec.check()  # a bad bound (warmup >= messages) is refused before anything is built
    result = measure(run, "events-sqs", spec, receivers=2, timeout=timeout, name=f"events-sqs-{rate:g}")
    assert result is not None, "events-sqs runs on every target"
    return result


# -- order: classic bus against the Custom Event Bus ------------------------------------------
BUS_ORDER_PATHS = ("events-sqs-fifo", "events2-sqs-fifo")  # classic rule -> SQS FIFO; FIFO subscriber -> SQS FIFO


@dataclass
class BusOrder:
    """The same keyed load through each bus path, and the order its consumer received it in."""

    results: dict[str, RunResult]

    @property
    def ordering(self) -> pd.DataFrame:
        """Per path and key (event group): messages, inversions, out of place, worst distance."""
        frames = [analysis.ordering(r.receipts) for r in self.results.values() if len(r.receipts)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def summary(self) -> pd.DataFrame:
        """One row per path: what it is, sent, delivered, lost, inversions in all and per group."""
        rows = []
        for path, result in self.results.items():
            row = result.summary.iloc[0]
            groups = self.ordering[self.ordering["path"] == path]
            rows.append({
                "path": path, "service": SERVICE[path], "sent": int(row["sent"]), "delivered": int(row["delivered"]),
                "lost": int(row["lost"]), "inversions": int(groups["inversions"].sum()),
                "groups with an inversion": int((groups["inversions"] > 0).sum()),
                "max_reorder_distance": int(groups["max_reorder_distance"].max()) if len(groups) else 0,
            })
        return pd.DataFrame(rows).set_index("path")


# How long an experiment waits for a new subscriber's or schedule's deliveries on AWS, where its
# just-created delivery role may take a while to propagate (a refused delivery is retried).
AWS_DELIVERY_TIMEOUT_S = 180.0


def _delivery_timeout(run: Run, timeout: float | None, emulated: float) -> float:
    return timeout if timeout is not None else (emulated if run.target.is_emulated else AWS_DELIVERY_TIMEOUT_S)


def order_through_buses(
    run: Run, *, count: int, groups: int, rate: float, batch: int = 1, timeout: float | None = None,
) -> BusOrder:
    """Offer the same open-loop load (``count`` events over ``groups`` keys, from one thread so
    each key is published in order) through a classic rule into an SQS FIFO queue and through a
    Custom Event Bus FIFO subscriber (event group = key) into an SQS FIFO queue (message group =
    event group); one receiver each, so the queue's order is the consumer's.

    Raises RuntimeError when this botocore cannot call ``eventbridgev2`` (the fix in the message).
    """
    problem = EVENTBRIDGEV2.unavailable()
    if problem:
        raise RuntimeError(f"the Custom Event Bus is unavailable: {problem}")
    spec = LoadSpec(rate=rate, count=count, keys=groups, batch=batch, threads=1)
    results: dict[str, RunResult] = {}
    for path in BUS_ORDER_PATHS:
        result = measure(run, path, spec, receivers=1, timeout=_delivery_timeout(run, timeout, 60.0), name=f"{path}-order")
        assert result is not None, f"{path} runs on every target with eventbridgev2"
        results[path] = result
    return BusOrder(results)


# -- a late subscriber catching up from retention ---------------------------------------------
LATE_SOURCE = "eventlab.orders"
LATE_GROUP = "order-1"


@dataclass
class LateSubscriber:
    """What a subscriber created after ``retained`` events, at the horizon, received: the
    numbers in the order its queue gave them (the first ``retained`` were published before it)."""

    retained: int
    live: int
    received: list[int]
    retention_window_start: datetime | None = None

    @property
    def expected(self) -> list[int]:
        return list(range(self.retained + self.live))


def late_subscriber(
    run: Run, *, retained: int, live: int, retention_days: int = 1, timeout: float | None = None,
) -> LateSubscriber:
    """Publish ``retained`` events (one event group) on a new Custom Event Bus, then create a FIFO
    subscriber starting at POINT_IN_TIME from the HORIZON (the earliest retained event), then
    publish ``live`` more: it must deliver the retained ones first, then the live ones, in order."""
    if retained < 1 or live < 1:
        raise ValueError("late_subscriber: retained and live must each be at least 1")
    problem = EVENTBRIDGEV2.unavailable()
    if problem:
        raise RuntimeError(f"the Custom Event Bus is unavailable: {problem}")
    bus = eventbridgev2.create_event_bus(run, "retained", retention_days=retention_days)
    queue = sqs.create_queue(run, "late", fifo=True, content_based_deduplication=True)

    def publish(numbers: range) -> None:
        step = eventbridgev2.MAX_ENTRIES
        for start in range(numbers.start, numbers.stop, step):
            entries = [{"Source": LATE_SOURCE, "DetailType": "Order Step", "Detail": json.dumps({"n": n}),
                        "SystemMetadata": {"EventGroupId": LATE_GROUP}} for n in range(start, min(start + step, numbers.stop))]
            failed = [e for e in eventbridgev2.put_events(run, bus, entries) if e.get("ErrorCode")]
            if failed:
                raise RuntimeError(f"PutEvents refused {len(failed)} entries: {failed[0]}")

    publish(range(retained))
    described = eventbridgev2.client(run).describe_event_bus(EventBusArn=bus.arn)
    window = (described.get("StorageConfiguration") or {}).get("RetentionWindowStartTime")
    eventbridgev2.create_subscriber(
        run, bus, "late", target_arn=queue.arn, type_="FIFO",
        parameters={"SqsParameters": {"MessageGroupId": "{% $events.SystemMetadata.EventGroupId %}"}},
        StartingPosition="POINT_IN_TIME", PointInTimeConfiguration={"PointType": "HORIZON"},
    )
    publish(range(retained, retained + live))
    bodies = sqs.receive_bodies(run, queue, retained + live, timeout=_delivery_timeout(run, timeout, 30.0), quiet_s=1.0)
    received = [int(b["detail"]["n"]) for b in bodies]
    return LateSubscriber(retained, live, received, window if isinstance(window, datetime) else None)


# -- AWS service events on the default bus ----------------------------------------------------
S3_SOURCE = "aws.s3"
S3_OBJECT_CREATED = "Object Created"


@dataclass
class ServiceEvent:
    """What a rule on the default bus delivered after an object was put in a bucket."""

    bucket: str
    key: str
    rule: events.Rule
    delivered: list[dict[str, Any]]

    @property
    def event(self) -> dict[str, Any] | None:
        return self.delivered[0] if self.delivered else None


# After EventBridge delivery is turned on for a bucket, "it takes around five minutes for the
# changes to take effect" (S3 user guide, Enabling Amazon EventBridge).
S3_EVENTBRIDGE_SETTLE_S = 300.0


def s3_object_created(
    run: Run, *, key: str = "orders/o-1.json", settle_s: float | None = None, timeout: float = 20.0,
) -> ServiceEvent:
    """A bucket with EventBridge notifications on, a rule on the default bus for its "Object
    Created" events into a queue, one object put: the events the queue received (none within
    ``timeout`` if this backend does not emit them). AWS services send their events to the
    account's default bus only; the rule matches on ``source``, ``detail-type`` and the bucket.

    ``settle_s`` is the wait between turning notifications on and putting the object: by default
    AWS's five minutes on AWS, none on an emulator."""
    bucket = s3.create_bucket(run, "service-events")
    s3_client = run.target.client("s3")
    s3_client.put_bucket_notification_configuration(
        Bucket=bucket.name, NotificationConfiguration={"EventBridgeConfiguration": {}},
    )
    rule = events.put_rule(run, None, "s3-created", event_pattern={
        "source": [S3_SOURCE], "detail-type": [S3_OBJECT_CREATED], "detail": {"bucket": {"name": [bucket.name]}},
    })
    queue = sqs.create_queue(run, "s3-created")
    sqs.allow_senders(run, queue, service=events.PRINCIPAL, source_arns=[rule.arn])
    events.put_targets(run, rule, [{"Id": "queue", "Arn": queue.arn}])
    wait = settle_s if settle_s is not None else (0.0 if run.target.is_emulated else S3_EVENTBRIDGE_SETTLE_S)
    if wait:
        log.info("waiting %.0f s for the bucket's EventBridge delivery to take effect", wait)
        time.sleep(wait)
    s3_client.put_object(Bucket=bucket.name, Key=key, Body=b'{"orderId": "o-1"}', ContentType="application/json")
    delivered = sqs.receive_bodies(run, queue, 1, timeout=timeout, quiet_s=0.5)
    return ServiceEvent(bucket.name, key, rule, delivered)
