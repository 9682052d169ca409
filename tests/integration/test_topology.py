"""A declared topology, applied on the embedded LocalStack: routing, policies, idempotency, teardown."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from eventlab.run import Run
from eventlab.services import events, kms, s3
from eventlab.topology import Topology, TopologyError, apply

pytestmark = pytest.mark.integration
FANOUT = Path(__file__).resolve().parents[2] / "data" / "topologies" / "fanout.yaml"


def _drain(run: Run, url: str, expected: int, timeout: float = 15) -> list[str]:
    client = run.target.client("sqs")
    bodies: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(bodies) < expected:
        reply = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in reply.get("Messages", []):
            bodies.append(message["Body"])
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def _order(order_id: str, total: int, region: str) -> dict:
    detail = {"orderId": order_id, "total": total, "region": region}
    return {"Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": json.dumps(detail)}


def test_fanout_topology_routes_filters_and_cleans_up(run: Run) -> None:
    deployment = apply(Topology.from_yaml(FANOUT), run)
    bus = deployment.buses["shop"]
    orders = [_order("o1", 250, "eu-west-1"), _order("o2", 20, "us-east-1"), _order("o3", 120, "us-west-2")]
    events.put_events(run, [{**o, "EventBusName": bus.name} for o in orders])

    placed = [json.loads(b) for b in _drain(run, deployment.queues["orders"].url, 3)]
    assert sorted(d["orderId"] for d in placed) == ["o1", "o2", "o3"], "input_path delivers the detail"

    big = [json.loads(b)["orderId"] for b in _drain(run, deployment.queues["big-orders"].url, 2)]
    assert sorted(big) == ["o1", "o3"], "numeric body filter: total >= 100"
    eu = [json.loads(b)["orderId"] for b in _drain(run, deployment.queues["eu-orders"].url, 1)]
    assert eu == ["o1"], "prefix body filter: region eu-*"

    ledger = [json.loads(b) for b in _drain(run, deployment.queues["ledger.fifo"].url, 3)]
    assert sorted(ledger, key=lambda x: x["order"]) == [
        {"order": "o1", "amount": 250}, {"order": "o2", "amount": 20}, {"order": "o3", "amount": 120}
    ], "input transformer reshapes the event"

    kinesis = run.target.client("kinesis")
    stream = deployment.streams["audit"].name
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert sorted(r["PartitionKey"] for r in records) == ["o1", "o2", "o3"], "partition key from the event"

    lake = deployment.buckets["audit-lake"]
    deadline = time.monotonic() + 30
    while not s3.list_objects(run, lake) and time.monotonic() < deadline:
        time.sleep(1)
    assert s3.list_objects(run, lake), "Firehose copied the audit stream to S3"

    outputs = deployment.outputs()
    assert outputs["queue:orders"] == deployment.queues["orders"].url
    assert all(name.startswith(run.prefix) for name in (q.name for q in deployment.queues.values()))


def test_policies_grant_only_the_senders_that_need_them(run: Run) -> None:
    deployment = apply(Topology.from_yaml(FANOUT), run)
    rule_arn = deployment.rules["placed"].arn
    topic_arn = deployment.topics["order-events"].arn

    def grants(policy: dict) -> dict[str, object]:
        ours = [s for s in policy["Statement"] if "Service" in s["Principal"]]
        for statement in ours:
            assert statement["Effect"] == "Allow"
            assert statement["Principal"] != "*" and "*" not in json.dumps(statement["Principal"])
            assert "aws:SourceArn" in statement["Condition"]["ArnEquals"]
        for statement in policy["Statement"]:
            if statement not in ours:  # kept by the merge: only the topic's default owner statement
                assert statement["Condition"]["StringEquals"]["AWS:SourceOwner"] == run.target.account_id
        return {s["Principal"]["Service"]: s["Condition"]["ArnEquals"]["aws:SourceArn"] for s in ours}

    assert grants(deployment.policies["queue:orders"]) == {"events.amazonaws.com": rule_arn}
    assert grants(deployment.policies["queue:big-orders"]) == {"sns.amazonaws.com": topic_arn}
    assert grants(deployment.policies["topic:order-events"]) == {"events.amazonaws.com": rule_arn}
    assert "queue:orders-dlq" not in deployment.policies, "nobody sends to the DLQ but SQS itself"
    live = json.loads(
        run.target.client("sqs").get_queue_attributes(
            QueueUrl=deployment.queues["orders"].url, AttributeNames=["Policy"]
        )["Attributes"]["Policy"]
    )
    assert live == deployment.policies["queue:orders"], "the applied policy is the generated one"
    (role_policy,) = [p for k, p in deployment.policies.items() if k.startswith("role:")]
    assert {(tuple(s["Action"]), tuple(s["Resource"])) for s in role_policy["Statement"]} == {
        (("kinesis:PutRecord", "kinesis:PutRecords"), (deployment.streams["audit"].arn,)),
        (("firehose:PutRecord", "firehose:PutRecordBatch"), (deployment.delivery_streams["audit-to-lake"].arn,)),
    }, "the rule's role may write to exactly its stream and delivery stream"

    # Encrypted at rest: what AWS services publish to with a customer-managed key admitting
    # exactly those publishers (an AWS-managed key cannot admit them), the rest with SSE-SQS.
    sqs = run.target.client("sqs")
    fed = {"orders": {"events.amazonaws.com": rule_arn}, "ledger.fifo": {"events.amazonaws.com": rule_arn},
           "big-orders": {"sns.amazonaws.com": topic_arn}, "eu-orders": {"sns.amazonaws.com": topic_arn}}
    assert set(deployment.keys) == {f"queue:{name}" for name in fed} | {"topic:order-events"}
    for name, queue in deployment.queues.items():
        attrs = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
        if name in fed:
            key = deployment.keys[f"queue:{name}"]
            assert attrs.get("KmsMasterKeyId") == key.arn, f"{queue.name} is encrypted with its own key"
            publishers = {s["Principal"]["Service"]: s["Condition"]["ArnLike"]["aws:SourceArn"]
                          for s in kms.key_policy_of(run.target, key.key_id)["Statement"] if "Service" in s["Principal"]}
            assert publishers == fed[name], f"{queue.name}'s key admits exactly its publishers"
        else:
            assert attrs.get("SqsManagedSseEnabled") == "true", f"{queue.name} is encrypted at rest"
    topic_attrs = run.target.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert topic_attrs["KmsMasterKeyId"] == deployment.keys["topic:order-events"].arn
    summary = run.target.client("kinesis").describe_stream_summary(StreamName=deployment.streams["audit"].name)
    assert summary["StreamDescriptionSummary"]["EncryptionType"] == "KMS"


def test_apply_is_idempotent(run: Run) -> None:
    topology = Topology.from_yaml(FANOUT)
    first = apply(topology, run)
    created = len(run.resources)
    second = apply(topology, run)
    assert second is first and len(run.resources) == created
    assert second.outputs() == first.outputs()


def test_a_failed_apply_is_destroyed_completely(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the network went away")

    monkeypatch.setattr(events, "put_targets", broken)
    with pytest.raises(RuntimeError, match="network went away"):
        apply(Topology.from_yaml(FANOUT), run)
    assert run.resources, "some resources were created before the failure"
    report = run.destroy()
    assert report.ok
    assert run.leaks() == []


# Topologies the validator used to pass and apply() then failed on halfway (on LocalStack or on
# AWS), after creating the resources that came before the bad one.
CODE = {"code": "eventlab:ecommerce", "handler": "inventory.handler"}
FORMERLY_PASSING = {
    "name-newline": {"buckets": [{"name": "lake"}], "queues": [{"name": "orders\n"}]},
    "filter-depth": {"queues": [{"name": "q"}], "topics": [{"name": "t", "subscriptions": [{
        "protocol": "sqs", "endpoint": "queue:q", "filter_policy_scope": "MessageBody",
        "filter_policy": {"a": {"b": {"c": {"d": [1, 2, 3, 4]}}}, "e": {"f": [1, 2, 3, 4, 5]}}}]}]},
    "target-id-space": {"queues": [{"name": "q"}], "rules": [{"name": "r", "event_pattern": {"source": ["x"]},
                                                             "targets": [{"id": "my target", "arn": "queue:q"}]}]},
    "rule-role-65": {"streams": [{"name": "s"}], "rules": [{"name": "r" * 46, "event_pattern": {"source": ["x"]},
                                                            "targets": [{"id": "t", "arn": "stream:s", "partition_key_path": "$.id"}]}]},
    "function-role-65": {"queues": [{"name": "q"}], "functions": [{"name": "f" * 48, **CODE}]},
    "archive-49": {"queues": [{"name": "q"}], "buses": [{"name": "b" * 29, "archive": {}}]},
    "memory-64": {"queues": [{"name": "q"}], "functions": [{"name": "f", "memory": 64, **CODE}]},
    "bucket-dash": {"queues": [{"name": "q"}], "buckets": [{"name": "lake-"}]},
    "pattern-2048": {"queues": [{"name": "q"}], "rules": [{"name": "r", "event_pattern": {"source": [f"s{i:05d}" for i in range(300)]}}]},
    "numeric-2e9": {"queues": [{"name": "q"}], "topics": [{"name": "t", "subscriptions": [{
        "protocol": "sqs", "endpoint": "queue:q", "filter_policy": {"n": [{"numeric": [">", 2e9]}]}}]}]},
    "node-runtime": {"queues": [{"name": "q"}], "functions": [{"name": "f", "runtime": "nodejs20.x", **CODE}]},
}


@pytest.mark.parametrize("data", FORMERLY_PASSING.values(), ids=FORMERLY_PASSING.keys())
def test_bad_topologies_are_refused_before_anything_exists(run: Run, data: dict) -> None:
    with pytest.raises(TopologyError):
        apply(Topology.from_dict(data), run)
    assert run.resources == [], "nothing was created"
    assert run.leaks() == []
