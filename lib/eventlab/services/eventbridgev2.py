"""The EventBridge Custom Event Bus (``eventbridgev2``): buses and subscribers as a run's resources.

On an emulated target the API is served by eventlab's own server beside the emulator
(``Target.client("eventbridgev2")`` finds it); on AWS it is AWS's. A subscriber needs a role
EventBridge assumes to call its target: on AWS :func:`delivery_role` creates one with the target
statements of :mod:`eventlab.policies`; the local server stores the ARN and does not use it.

Buses and subscribers are deleted with their run (subscribers first: a bus with subscribers
cannot be deleted), and ``eventlab leaks`` finds them by the run's prefix, by ARN (the API
addresses both by ARN only).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eventlab import policies
from eventlab.run import Run, resource_kind
from eventlab.services import iam
from eventlab.target import Target, TargetError

log = logging.getLogger(__name__)

# Limits from botocore's model of the service (EventBusName, RetentionPeriodInDays).
MAX_NAME = 256
RETENTION_DAYS = (1, 365)
MAX_ENTRIES = 100  # entries in one PutEvents or PutRawEvents call (PutEventsRequestEntryList, max 100)
DEDUPLICATION_WINDOW_SECONDS = 300  # "within 5 minutes (300 seconds)", the user guide's ordering page
# The role ARN the local server is given: it stores a subscriber's role, never assumes it.
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/eventlab-eventbridgev2-delivery"


# -- what a run leaves behind ------------------------------------------------------------------
def _listed(target: Target, operation: str, key: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every item of a List call under a name prefix, page by page; nothing where this target
    has no eventbridgev2 (an emulator eventlab did not start, a botocore without the model)."""
    try:
        api = target.client("eventbridgev2")
    except TargetError as why:
        log.info("no eventbridgev2 to search for leftovers: %s", why)
        return
    request: dict[str, Any] = {"NamePrefix": prefix}
    while True:
        page = getattr(api, operation)(**request)
        yield from page.get(key) or []
        if not page.get("NextToken"):
            return
        request["NextToken"] = page["NextToken"]


def _find_buses(target: Target, prefix: str) -> Iterator[str]:
    # A DELETING bus is on its way out (AWS lists it until it is gone): not a leftover.
    for bus in _listed(target, "list_event_buses", "EventBuses", prefix):
        if bus.get("State") != "DELETING":
            yield bus["EventBusArn"]


def _find_subscribers(target: Target, prefix: str) -> Iterator[str]:
    for subscriber in _listed(target, "list_subscribers", "Subscribers", prefix):
        yield subscriber["SubscriberArn"]


BUS = resource_kind("eventbridgev2:bus", _find_buses,
                    lambda t, arn: t.client("eventbridgev2").delete_event_bus(EventBusArn=arn))
SUBSCRIBER = resource_kind("eventbridgev2:subscriber", _find_subscribers,
                           lambda t, arn: t.client("eventbridgev2").delete_subscriber(SubscriberArn=arn))


@dataclass(frozen=True)
class Bus:
    name: str
    arn: str


@dataclass(frozen=True)
class Subscriber:
    name: str
    arn: str


def client(run: Run) -> Any:
    """The run's eventbridgev2 client (a clear error where botocore lacks the model)."""
    return run.target.client("eventbridgev2")


def create_event_bus(run: Run, base: str, *, retention_days: int = 1, wait: bool = True) -> Bus:
    """Create a bus named for the run that retains events ``retention_days``; wait until ACTIVE."""
    name = run.name(base, max_length=MAX_NAME)
    api = client(run)
    arn = api.create_event_bus(
        Name=name, StorageConfiguration={"RetentionPeriodInDays": retention_days},
        Tags=run.tags,
    )["EventBusArn"]
    run.track(BUS, name, arn, lambda: api.delete_event_bus(EventBusArn=arn))
    if wait:
        api.get_waiter("event_bus_active").wait(EventBusArn=arn, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return Bus(name=name, arn=arn)


def delivery_role(run: Run, target_arns: Sequence[str]) -> str:
    """A role EventBridge may assume to send to ``target_arns`` (on AWS; a placeholder locally)."""
    if run.target.is_emulated:
        return LOCAL_ROLE_ARN
    statements = [s for arn in target_arns for s in policies.may_send_to(arn)]
    return iam.create_role(run, "ev2-delivery", service="events.amazonaws.com",
                           policy=policies.document(*statements)).arn


def create_subscriber(
    run: Run,
    bus: Bus,
    base: str,
    *,
    target_arn: str,
    role_arn: str | None = None,
    type_: str = "UNORDERED",
    parameters: Mapping[str, Any] | None = None,
    on_failure_arn: str | None = None,
    **settings: Any,
) -> Subscriber:
    """Create a subscriber on ``bus`` that delivers to ``target_arn``; ``parameters`` are the
    target's parameter block (``{"SqsParameters": {...}}``), ``settings`` any other member of
    CreateSubscriber (``RetryPolicy``, ``StartingPosition``, ``FilterConfiguration``, ...)."""
    name = run.name(base, max_length=MAX_NAME)
    api = client(run)
    invoke: dict[str, Any] = {"TargetArn": target_arn, "RoleArn": role_arn or delivery_role(run, [target_arn]),
                              **(parameters or {})}
    request: dict[str, Any] = {"Name": name, "EventBusArn": bus.arn, "Type": type_, "InvokeConfiguration": invoke,
                               "Tags": run.tags, **settings}
    if on_failure_arn:
        request["OnFailureConfiguration"] = {"Arn": on_failure_arn}
    arn = api.create_subscriber(**request)["SubscriberArn"]
    run.track(SUBSCRIBER, name, arn, lambda: api.delete_subscriber(SubscriberArn=arn))
    return Subscriber(name=name, arn=arn)


def put_events(run: Run, bus: Bus, entries: Sequence[Mapping[str, Any]], **request: Any) -> list[dict[str, Any]]:
    """PutEvents on ``bus``; the per-entry results, in entry order."""
    reply = client(run).put_events(EventBusArn=bus.arn, Entries=list(entries), **request)
    results: list[dict[str, Any]] = reply["Entries"]
    return results


def put_raw_events(run: Run, bus: Bus, entries: Sequence[Mapping[str, Any]], **request: Any) -> list[dict[str, Any]]:
    """PutRawEvents on ``bus``; the per-entry results, in entry order."""
    reply = client(run).put_raw_events(EventBusArn=bus.arn, Entries=list(entries), **request)
    results: list[dict[str, Any]] = reply["Entries"]
    return results
