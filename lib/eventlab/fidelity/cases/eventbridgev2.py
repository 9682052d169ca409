"""Custom Event Bus (eventbridgev2) cases: retention (across a restart of the local server too),
publishing, deduplication, FIFO order, parallel UNORDERED delivery, starting positions, pause
and resume, retries and the on-failure queue.

On an emulated target these test eventlab's own server (``subject="eventlab"``: a difference is
a bug to fix, never a known difference); on AWS, AWS. Each check builds a bus, a subscriber
and SQS queues with the run's names; the run deletes them. Where botocore lacks the model the
check raises :class:`~eventlab.fidelity.model.Unsupported` with the fix (the conformance test
skips the service then).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from eventlab.fidelity.model import Case, Unsupported, doc
from eventlab.run import Run
from eventlab.runtime.companions import EVENTBRIDGEV2
from eventlab.services import eventbridgev2 as ev2
from eventlab.services import lambda_ as functions
from eventlab.services import sqs
from eventlab.waiting import until

SERVICE = "eventbridgev2"
GUIDE = "https://docs.aws.amazon.com/eventbridge/latest/userguide"
WHAT_IS = f"{GUIDE}/eb-custom-bus-what-is.html"
PUBLISH = f"{GUIDE}/eb-custom-bus-publish.html"
ORDERING = f"{GUIDE}/eb-custom-bus-ordering.html"
REPLAY = f"{GUIDE}/eb-custom-bus-replay.html"
RETRY = f"{GUIDE}/eb-custom-bus-retry.html"
API = "https://docs.aws.amazon.com/eventbridgev2/latest/APIReference"
SOURCE = "eventlab.fidelity"
# How long a check waits for deliveries (and, for "nothing arrives", how long it watches).
DELIVERY_TIMEOUT = 20.0
QUIET_SECONDS = 3.0
# A handler that holds each delivery SLOW_SECONDS and logs when it had it, so that overlapping
# deliveries can be counted from the function's own log (on every target, AWS included).
SLOW_SECONDS = 1.5
IN_FLIGHT_MARK = "eventlab-in-flight"
SLOW_HANDLER = f"""import json
import time


def handler(event, context):
    start = time.time()
    time.sleep({SLOW_SECONDS})
    for item in event if isinstance(event, list) else [event]:
        print(json.dumps({{"{IN_FLIGHT_MARK}": {{"n": item["detail"]["n"], "kind": item["detail"]["kind"],
                          "start": start, "end": time.time()}}}}))
    return {{}}
"""


def _available() -> None:
    problem = EVENTBRIDGEV2.unavailable()
    if problem:
        raise Unsupported(problem)


def _entry(n: int, group: str | None = None, **system: str) -> dict[str, Any]:
    metadata = {**({"EventGroupId": group} if group else {}), **system}
    entry: dict[str, Any] = {"Source": SOURCE, "DetailType": "Sample", "Detail": json.dumps({"n": n})}
    if metadata:
        entry["SystemMetadata"] = metadata
    return entry


def _numbers(run: Run, queue: sqs.Queue, expected: int, *, quiet: float = 1.0) -> list[int]:
    """The ``n`` of each delivered event, in the order the queue gave them."""
    bodies = sqs.receive_bodies(run, queue, expected, timeout=DELIVERY_TIMEOUT, quiet_s=quiet)
    out = []
    for body in bodies:
        for event in body if isinstance(body, list) else [body]:
            out.append(int(event["detail"]["n"]))
    return out


def _said(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers) or "nothing"


def _bus_and_queue(run: Run, *, fifo: bool = False) -> tuple[ev2.Bus, sqs.Queue]:
    _available()
    bus = ev2.create_event_bus(run, "ev2")
    queue = sqs.create_queue(run, "ev2-out", fifo=fifo, content_based_deduplication=fifo)
    return bus, queue


def _error_code(call: Callable[[], object]) -> str:
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "accepted"


# -- checks ---------------------------------------------------------------------------------------
def retention_out_of_range(run: Run) -> str:
    _available()
    api = ev2.client(run)
    name = run.name("ev2-long")
    outcome = _error_code(lambda: api.create_event_bus(Name=name, StorageConfiguration={"RetentionPeriodInDays": 366}))
    if outcome == "accepted":  # it should not exist; if it does, the run must not leave it behind
        arn = next(b["EventBusArn"] for b in api.list_event_buses(NamePrefix=name)["EventBuses"])
        run.track(ev2.BUS, name, arn, lambda: api.delete_event_bus(EventBusArn=arn))
    return outcome


def raw_content_type(run: Run) -> str:
    _available()
    bus = ev2.create_event_bus(run, "ev2")
    results = ev2.put_raw_events(run, bus, [
        {"Data": b"<order/>", "SystemMetadata": {"ContentType": "application/xml"}},
        {"Data": b'{"n": 1}', "SystemMetadata": {"ContentType": "application/json"}},
    ])
    first = "refused" if results[0].get("ErrorCode") else results[0].get("SuccessCode", "?")
    return f"application/xml: {first}; application/json: {results[1].get('SuccessCode', results[1].get('ErrorCode'))}"


def dedup_by_id(run: Run) -> str:
    _available()
    bus = ev2.create_event_bus(run, "ev2")
    first = ev2.put_events(run, bus, [_entry(1, DeduplicationId="order-1")])[0]
    again = ev2.put_events(run, bus, [_entry(1, DeduplicationId="order-1")])[0]
    same = "the same event id" if again.get("EventId") == first.get("EventId") else "another event id"
    return f"{first.get('SuccessCode')}, then {again.get('SuccessCode')} with {same}"


def dedup_by_content(run: Run) -> str:
    _available()
    bus = ev2.create_event_bus(run, "ev2")
    config = {"DeduplicationType": "CONTENT_BASED"}
    first = ev2.put_events(run, bus, [_entry(7)], DeduplicationConfiguration=config)[0]
    again = ev2.put_events(run, bus, [_entry(7)], DeduplicationConfiguration=config)[0]
    other = ev2.put_events(run, bus, [_entry(8)], DeduplicationConfiguration=config)[0]
    return f"{first.get('SuccessCode')}, then {again.get('SuccessCode')}; other content {other.get('SuccessCode')}"


def fifo_order(run: Run) -> str:
    bus, queue = _bus_and_queue(run, fifo=True)
    ev2.create_subscriber(run, bus, "ev2-fifo", target_arn=queue.arn, type_="FIFO",
                          parameters={"SqsParameters": {"MessageGroupId": "{% $events.SystemMetadata.EventGroupId %}"}})
    for n in range(10):
        ev2.put_events(run, bus, [_entry(n, "order-1")])
    return _said(_numbers(run, queue, 10))


def failure_holds_its_own_group(run: Run) -> str:
    """Group "bad" cannot be delivered (its SQS MessageGroupId comes out empty, which a FIFO queue
    refuses on AWS and on every backend), and is retried for a minute; group "ok", published in
    between, must go on meanwhile."""
    bus, queue = _bus_and_queue(run, fifo=True)
    group = '{% $events.SystemMetadata.EventGroupId = "ok" ? "ok" : "" %}'
    ev2.create_subscriber(run, bus, "ev2-hold", target_arn=queue.arn, type_="FIFO",
                          parameters={"SqsParameters": {"MessageGroupId": group}},
                          RetryPolicy={"MaxRetryAttempts": 185, "MaxEventAgeInSeconds": 60})
    for n in range(3):
        ev2.put_events(run, bus, [_entry(10 + n, "bad")])
        ev2.put_events(run, bus, [_entry(n, "ok")])
    delivered = _numbers(run, queue, 3, quiet=QUIET_SECONDS)
    ok = [n for n in delivered if n < 10]
    bad = [n for n in delivered if n >= 10]
    return f"group ok: {_said(ok)}; group bad: {len(bad)} delivered while it fails"


def horizon_then_live(run: Run) -> str:
    bus, queue = _bus_and_queue(run, fifo=True)
    for n in range(3):
        ev2.put_events(run, bus, [_entry(n, "g")])
    ev2.create_subscriber(run, bus, "ev2-late", target_arn=queue.arn, type_="FIFO",
                          parameters={"SqsParameters": {"MessageGroupId": "{% $events.SystemMetadata.EventGroupId %}"}},
                          StartingPosition="POINT_IN_TIME", PointInTimeConfiguration={"PointType": "HORIZON"})
    ev2.put_events(run, bus, [_entry(3, "g")])
    return _said(_numbers(run, queue, 4))


def latest_only(run: Run) -> str:
    bus, queue = _bus_and_queue(run)
    ev2.put_events(run, bus, [_entry(0), _entry(1)])
    ev2.create_subscriber(run, bus, "ev2-latest", target_arn=queue.arn, StartingPosition="LATEST")
    ev2.put_events(run, bus, [_entry(2)])
    return _said(sorted(_numbers(run, queue, 1, quiet=QUIET_SECONDS)))


def pause_and_resume(run: Run) -> str:
    bus, queue = _bus_and_queue(run)
    subscriber = ev2.create_subscriber(run, bus, "ev2-pause", target_arn=queue.arn)
    api = ev2.client(run)
    api.update_subscriber(SubscriberArn=subscriber.arn, State="STOPPED")
    ev2.put_events(run, bus, [_entry(0), _entry(1)])
    time.sleep(QUIET_SECONDS)
    paused = sqs.receive_all(run, queue, expected=None, timeout=2, delete=False)
    api.update_subscriber(SubscriberArn=subscriber.arn, State="RUNNING")  # ResumePosition: LAST_PROCESSED
    resumed = sorted(_numbers(run, queue, 2))
    return f"while paused: {len(paused)} delivered; after resuming: {_said(resumed)}"


def retries_then_on_failure(run: Run) -> str:
    bus, dlq = _bus_and_queue(run)
    missing = sqs.create_queue(run, "ev2-gone")
    sqs_client = run.target.client("sqs")
    sqs_client.delete_queue(QueueUrl=missing.url)
    run.forget(missing.url)
    ev2.create_subscriber(run, bus, "ev2-fail", target_arn=missing.arn, on_failure_arn=dlq.arn,
                          RetryPolicy={"MaxRetryAttempts": 0, "MaxEventAgeInSeconds": 60})
    event_id = ev2.put_events(run, bus, [_entry(0)])[0].get("EventId")
    records = sqs.receive_bodies(run, dlq, 1, timeout=DELIVERY_TIMEOUT)
    if not records:
        return "no failure record"
    record = records[0]
    named = [m.get("eventId") for m in record.get("failedMessages", [])] == [event_id]
    return (f"{len(records)} failure record naming {'the event' if named else 'other events'}, "
            f"for target {'the missing queue' if record.get('targetArn') == missing.arn else record.get('targetArn')}")


def _slow_function(run: Run) -> functions.Function:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "main.py").write_text(SLOW_HANDLER)
        return functions.create_function(run, "ev2-slow", folder, timeout=30)


def _in_flight(run: Run, function: functions.Function, expected: int) -> list[dict[str, Any]]:
    """The deliveries the slow handler logged (at least ``expected``, or all within the timeout)."""
    seen: list[dict[str, Any]] = []

    def logged() -> bool:
        lines = functions.filter_log_events(run, function)
        seen[:] = [json.loads(line[line.index("{"):])[IN_FLIGHT_MARK] for line in lines if IN_FLIGHT_MARK in line]
        return len(seen) >= expected

    until(logged, timeout=DELIVERY_TIMEOUT + 4 * expected * SLOW_SECONDS, interval=1.0)
    return seen


def _most_at_once(deliveries: list[dict[str, Any]]) -> int:
    """The most deliveries that were in the handler at one moment."""
    return max((sum(1 for d in deliveries if d["start"] <= moment["start"] < d["end"]) for moment in deliveries),
               default=0)


def unordered_in_parallel(run: Run) -> str:
    """One slow function behind two subscribers of one bus: an UNORDERED one (kind "any") and a
    FIFO one (kind "fifo", two event groups); the handler logs when it held each delivery."""
    _available()
    bus = ev2.create_event_bus(run, "ev2")
    function = _slow_function(run)
    one_at_a_time = {"BatchConfiguration": {"MaxBatchSize": 1}}
    for kind, type_ in (("any", "UNORDERED"), ("fifo", "FIFO")):
        pattern = json.dumps({"detail": {"kind": [kind]}})
        ev2.create_subscriber(run, bus, f"ev2-{kind}", target_arn=function.arn, type_=type_,
                              FilterConfiguration={"Filters": [{"Scope": "DATA", "Pattern": pattern}]}, **one_at_a_time)
    entries = [{**_entry(n), "Detail": json.dumps({"n": n, "kind": "any"})} for n in range(6)]
    entries += [{**_entry(n, f"g{n % 2}"), "Detail": json.dumps({"n": n, "kind": "fifo"})} for n in range(6)]
    ev2.put_events(run, bus, entries)
    deliveries = _in_flight(run, function, len(entries))
    unordered = _most_at_once([d for d in deliveries if d["kind"] == "any"])
    fifo = max((_most_at_once([d for d in deliveries if d["kind"] == "fifo" and d["n"] % 2 == g]) for g in (0, 1)),
               default=0)
    return (f"{len(deliveries)} of {len(entries)} delivered; UNORDERED: "
            f"{'more than one' if unordered > 1 else unordered} in flight at once; FIFO: "
            f"{'at most one' if fifo <= 1 else fifo} in flight per event group")


def _retained(run: Run, restart: Callable[[], None]) -> str:
    bus, queue = _bus_and_queue(run, fifo=True)
    for n in range(3):
        ev2.put_events(run, bus, [_entry(n, "g")])
    restart()
    ev2.create_subscriber(run, bus, "ev2-after", target_arn=queue.arn, type_="FIFO",
                          parameters={"SqsParameters": {"MessageGroupId": "{% $events.SystemMetadata.EventGroupId %}"}},
                          StartingPosition="POINT_IN_TIME", PointInTimeConfiguration={"PointType": "HORIZON"})
    return _said(_numbers(run, queue, 3))


def retained_across_restart(run: Run) -> str:
    """Publish, restart eventlab's server, then subscribe from the horizon. Locally on a server of
    the check's own beside the same emulator (its state in a temporary folder), so the restart
    interrupts nobody else's use of the emulator's server; on AWS there is nothing to restart."""
    if not run.target.is_emulated:
        return _retained(run, lambda: None)
    _available()
    from eventlab.eventbridgev2.embedded import EmbeddedEventBridgeV2
    from eventlab.runtime.ports import free_port

    assert run.target.endpoint_url is not None
    with tempfile.TemporaryDirectory(prefix="eventlab-ev2-restart-") as folder:
        server = EmbeddedEventBridgeV2(backend_endpoint=run.target.endpoint_url, port=free_port(),
                                       state_dir=Path(folder), region=run.target.region)
        with server:
            own = replace(run.target, endpoints={**run.target.endpoints, SERVICE: server.endpoint_url})
            with Run(own) as private:  # its bus, subscriber and queue: deleted before its server stops
                return _retained(private, lambda: (server.stop(), server.start()))


def _case(name: str, behaviour: str, verdict: str, url: str, says: str, check: Callable[[Run], str]) -> Case:
    return Case(f"{SERVICE}.{name}", SERVICE, behaviour, verdict, doc(url, says), check, subject="eventlab")


CASES = [
    _case("bus.retention-range", "a bus retains events 1 to 365 days; 366 is refused", "InvalidInputException",
          WHAT_IS, "Retention of every event for 1 to 365 days, set on the bus (the model: RetentionPeriodInDays, "
          "min 1, max 365; a value outside is an InvalidInputException).", retention_out_of_range),
    _case("publish.raw-content-type", "PutRawEvents refuses a content type it does not support, entry by entry",
          "application/xml: refused; application/json: PUBLISHED", f"{API}/API_PutRawEventsSystemMetadata.html",
          "ContentType: valid values application/json, application/avro, application/protobuf, "
          "application/octet-stream; EventBridge accepts or rejects each entry individually (user guide, Publishing).",
          raw_content_type),
    _case("dedup.by-id", "a second entry with the same DeduplicationId within 5 minutes is suppressed",
          "PUBLISHED, then DEDUPLICATED with the same event id", ORDERING,
          "Set SystemMetadata.DeduplicationId on each entry; EventBridge suppresses duplicates that arrive within "
          "5 minutes (300 seconds) of the entry they repeat.", dedup_by_id),
    _case("dedup.by-content", "with CONTENT_BASED deduplication an identical entry is suppressed, another is not",
          "PUBLISHED, then DEDUPLICATED; other content PUBLISHED", ORDERING,
          "Set DeduplicationType=CONTENT_BASED on the request: EventBridge hashes each entry's content and suppresses "
          "an entry whose hash it has already accepted.", dedup_by_content),
    _case("fifo.order-in-group", "a FIFO subscriber delivers one event group in publish order",
          "0, 1, 2, 3, 4, 5, 6, 7, 8, 9", ORDERING,
          "A FIFO subscriber delivers events in the order that they were published within an event group "
          "(SystemMetadata.EventGroupId).", fifo_order),
    _case("fifo.failure-holds-its-group", "a FIFO event that keeps failing holds up its own group only",
          "group ok: 0, 1, 2; group bad: 0 delivered while it fails", ORDERING,
          "Within a FIFO subscriber, an event that cannot be delivered holds up the later events in its own group "
          "while other groups continue; a FIFO target such as an SQS FIFO queue enforces its own character limits "
          "on the group identifier. (The English retry page says instead that a failed call holds up the later "
          "events of every event group; its China-region copy says its own group. The case follows the ordering page.)",
          failure_holds_its_own_group),
    _case("starting-position.horizon", "a subscriber starting at the horizon gets the retained events, then live ones",
          "0, 1, 2, 3", REPLAY,
          "POINT_IN_TIME with PointType HORIZON starts at the earliest retained event; a subscriber reads retained "
          "events from its starting position, so anything inside the retention period can be delivered again.",
          horizon_then_live),
    _case("starting-position.latest", "a LATEST subscriber gets only events published after it exists", "2", REPLAY,
          "--starting-position is LATEST to receive only events published after the subscriber exists.", latest_only),
    _case("subscriber.pause-resume", "a paused subscriber delivers nothing, and on resume what was published meanwhile",
          "while paused: 0 delivered; after resuming: 0, 1", f"{API}/API_UpdateSubscriber.html",
          "Delivery requires State RUNNING (SubscriberState); ResumePosition LAST_PROCESSED, the default when a "
          "subscriber goes from STOPPED to RUNNING, resumes after the last processed event.", pause_and_resume),
    _case("retry.on-failure", "an event that exhausts its retries becomes one record on the on-failure queue",
          "1 failure record naming the event, for target the missing queue", RETRY,
          "When a target call fails, EventBridge retries it until a RetryPolicy limit is reached, then writes a "
          "record (a JSON document with busArn, subscriberArn, targetArn and failedMessages) to the SQS queue in "
          "OnFailureConfiguration.Arn.", retries_then_on_failure),
    _case("unordered.in-parallel", "an UNORDERED subscriber has several deliveries in flight at once; a FIFO "
          "subscriber of the same bus one per event group",
          "12 of 12 delivered; UNORDERED: more than one in flight at once; FIFO: at most one in flight per event group",
          ORDERING, "A subscriber's Type is UNORDERED or FIFO. An unordered subscriber delivers events in parallel for "
          "the highest throughput; a FIFO subscriber delivers events in the order that they were published within an "
          "event group (so one at a time per group).", unordered_in_parallel),
    _case("retention.survives-restart", "retained events outlive a restart; a subscriber created afterwards at the "
          "horizon gets them", "0, 1, 2", WHAT_IS,
          "The bus keeps a copy of every event for the retention period set on the bus (1 to 365 days), and a new "
          "subscriber can read retained events from its starting position. Locally the check restarts an eventbridgev2 "
          "server of its own beside the emulator between publishing and subscribing (on AWS there is nothing to "
          "restart).",
          retained_across_restart),
]
