"""Runs: unique names within AWS limits, tags, and a teardown that goes on past failures."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from eventlab.run import Run, new_run_id
from eventlab.services import events, kinesis, sns, sqs


class NoCalls:
    """A target whose clients fail the test if anything reaches AWS."""

    is_emulated = True
    region = "us-east-1"

    def client(self, service: str) -> object:
        raise AssertionError(f"validation must fail before any {service} call")


@pytest.fixture
def offline_run() -> Run:
    return Run(NoCalls())  # type: ignore[arg-type]


def test_run_ids_are_unique_and_valid_everywhere() -> None:
    ids = {new_run_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[a-z0-9]{8}", i) for i in ids)


def test_names_carry_the_prefix_and_respect_limits(offline_run: Run) -> None:
    assert offline_run.name("orders") == f"el-{offline_run.run_id}-orders"
    assert offline_run.name("orders", suffix=".fifo").endswith("-orders.fifo")
    with pytest.raises(ValueError, match="over this service's limit of 20"):
        offline_run.name("a-rather-long-name", max_length=20)
    with pytest.raises(ValueError, match="letters, digits"):
        offline_run.name("orders.fifo")


def test_tags_name_the_run(offline_run: Run) -> None:
    assert offline_run.tags == {"eventlab:run": offline_run.run_id, "eventlab:project": "eventlab"}
    assert {"Key": "eventlab:run", "Value": offline_run.run_id} in offline_run.tag_list()


def test_destroy_is_newest_first_and_goes_on_past_failures(offline_run: Run) -> None:
    calls: list[str] = []

    def fails() -> None:
        calls.append("b")
        raise RuntimeError("boom")

    def gone() -> None:
        calls.append("c")
        raise ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "Delete")

    offline_run.track("x", "a", "arn:a", lambda: calls.append("a"))
    offline_run.track("x", "b", "arn:b", fails)
    offline_run.track("x", "c", "arn:c", gone)
    report = offline_run.destroy()
    assert calls == ["c", "b", "a"]
    assert [r.name for r in report.deleted] == ["c", "a"], "already gone counts as deleted"
    assert [r.name for r, _ in report.failed] == ["b"]
    assert offline_run.destroy().deleted == [], "the ledger is empty afterwards"


def test_leaving_the_with_block_destroys_even_on_error() -> None:
    deleted: list[str] = []
    with pytest.raises(KeyError):
        with Run(NoCalls()) as run:  # type: ignore[arg-type]
            run.track("x", "a", "arn:a", lambda: deleted.append("a"))
            raise KeyError("a cell failed")
    assert deleted == ["a"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda r: sqs.create_queue(r, "orders.fifo", fifo=True), "without '.fifo'"),
        (lambda r: sqs.create_queue(r, "orders", content_based_deduplication=True), "needs fifo=True"),
        (
            lambda r: sqs.create_queue(
                r, "orders", fifo=True, dead_letter_queue=sqs.Queue("el-x-dlq", "u", "arn")
            ),
            "DLQ must be FIFO",
        ),
        (lambda r: sqs.create_queue(r, "orders", max_receive_count=0), "1 to 1000"),
        (lambda r: sns.create_topic(r, "alerts.fifo"), "fifo=True"),
        (lambda r: events.put_rule(r, None, "both", event_pattern={}, schedule_expression="rate(1 minute)"), "exactly one"),
        (lambda r: kinesis.create_stream(r, "clicks", shard_count=1, on_demand=True), "shard_count"),
    ],
)
def test_bad_input_is_refused_before_any_call(offline_run: Run, make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(offline_run)
    assert offline_run.resources == []


def test_a_standard_topic_cannot_feed_a_fifo_queue(offline_run: Run) -> None:
    topic = sns.Topic("el-x-t", "arn:aws:sns:us-east-1:0:el-x-t")
    queue = sqs.Queue("el-x-q.fifo", "url", "arn:aws:sqs:us-east-1:0:el-x-q.fifo")
    with pytest.raises(ValueError, match="only a FIFO topic can deliver"):
        sns.subscribe_queue(offline_run, topic, queue)
    assert offline_run.resources == []




def test_every_kind_found_by_prefix_has_its_place_in_the_deletion_order() -> None:
    from eventlab import leaks
    from eventlab.run import KINDS

    findable = {kind.name for kind in KINDS.values() if kind.find is not None}
    assert findable == set(leaks.DELETION_ORDER), "a kind the leak check finds must also be deleted, in order"
    assert all(KINDS[name].delete is not None for name in leaks.DELETION_ORDER)
    assert set(leaks.CHECKS) == findable and list(leaks.DELETERS) == list(leaks.DELETION_ORDER)


class _Eventbridgev2Stub:
    """ListEventBuses/ListSubscribers in pages of one, and the deletes, as the leak check calls them."""

    def __init__(self) -> None:
        arn = "arn:aws:events:us-east-1:000000000000:event-busv2"
        self.buses = [{"Name": "el-ab12cd34-a", "EventBusArn": f"{arn}/el-ab12cd34-a/x", "State": "ACTIVE"},
                      {"Name": "el-ab12cd34-b", "EventBusArn": f"{arn}/el-ab12cd34-b/y", "State": "DELETING"}]
        self.subscribers = [{"Name": "el-ab12cd34-s", "SubscriberArn": f"{arn}/el-ab12cd34-a/x/subscriber/el-ab12cd34-s/z"}]
        self.deleted: list[str] = []

    def _page(self, items: list[dict[str, str]], key: str, NamePrefix: str, NextToken: str = "0") -> dict[str, object]:
        mine = [item for item in items if item["Name"].startswith(NamePrefix)]
        at = int(NextToken)
        return {key: mine[at:at + 1], "NextToken": str(at + 1) if at + 1 < len(mine) else None}

    def list_event_buses(self, **request: str) -> dict[str, object]:
        return self._page(self.buses, "EventBuses", **request)

    def list_subscribers(self, **request: str) -> dict[str, object]:
        return self._page(self.subscribers, "Subscribers", **request)

    def delete_subscriber(self, SubscriberArn: str) -> None:
        self.deleted.append(SubscriberArn)

    def delete_event_bus(self, EventBusArn: str) -> None:
        self.deleted.append(EventBusArn)


def test_custom_event_bus_leftovers_are_found_by_prefix_and_deleted_subscribers_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventlab import leaks
    from eventlab.run import KINDS
    from eventlab.target import Target, TargetError

    stub = _Eventbridgev2Stub()
    target = Target.emulator("http://127.0.0.1:1", endpoints={"eventbridgev2": "http://127.0.0.1:2"})
    monkeypatch.setattr(target, "client", lambda service: stub if service == "eventbridgev2" else pytest.fail(service))
    found = {(kind, name) for kind in ("eventbridgev2:bus", "eventbridgev2:subscriber")
             for name in KINDS[kind].find(target, "el-ab12cd34")}  # type: ignore[misc]
    assert found == {("eventbridgev2:bus", stub.buses[0]["EventBusArn"]),  # the DELETING one is on its way out
                     ("eventbridgev2:subscriber", stub.subscribers[0]["SubscriberArn"])}
    order = leaks.DELETION_ORDER
    assert order.index("eventbridgev2:subscriber") < order.index("eventbridgev2:bus")
    for kind, name in sorted(found, key=lambda item: order.index(item[0])):
        leaks.DELETERS[kind](target, name)
    assert stub.deleted == [stub.subscribers[0]["SubscriberArn"], stub.buses[0]["EventBusArn"]]

    def no_companion(service: str) -> object:
        raise TargetError("no eventbridgev2 server runs beside the emulator")

    monkeypatch.setattr(target, "client", no_companion)
    assert list(KINDS["eventbridgev2:bus"].find(target, "el-ab12cd34")) == []  # type: ignore[misc]
