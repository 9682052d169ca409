"""Kinesis and Firehose experiment helpers on the embedded LocalStack."""

from __future__ import annotations

import pytest

from eventlab.experiments import streams as st
from eventlab.fidelity import checks
from eventlab.measure import KinesisQuota, LoadSpec, ProbeFactory, RetryPolicy
from eventlab.run import Run
from eventlab.services import firehose, kinesis, s3

pytestmark = pytest.mark.integration


def test_keys_land_on_the_shard_their_hash_says(run: Run) -> None:
    stream = kinesis.create_stream(run, "keys", shard_count=3, encrypted=False)
    client = run.target.client("kinesis")
    shards = st.shards_frame(client, stream.name)
    assert shards["keyspace_share"].sum() == pytest.approx(1.0)
    placed = st.put_one_per_key(client, stream.name, [f"key-{i}" for i in range(12)])
    assert all(placed.at[k, "shard"] == st.shard_for(shards, k) for k in placed.index)


def test_replay_iterators_and_reading_across_a_split_keep_key_order(run: Run) -> None:
    stream = kinesis.create_stream(run, "split", shard_count=1, encrypted=False)
    client = run.target.client("kinesis")
    factory = ProbeFactory(run.run_id, keys=["a", "b", "c"])
    st.send_probes(client, stream.name, factory, LoadSpec(rate=200, count=15, batch=5, keys=3))
    [shard] = st.shards_frame(client, stream.name).index
    first = kinesis.read_shard(client, stream.name, shard)
    again = kinesis.read_shard(client, stream.name, shard, "AT_SEQUENCE_NUMBER", sequence_number=first[5].sequence)
    assert [r.sequence for r in again] == [r.sequence for r in first[5:]]
    kinesis.update_shard_count(run, stream, 2)
    st.send_probes(client, stream.name, factory, LoadSpec(rate=200, count=15, batch=5, keys=3))
    shards = st.shards_frame(client, stream.name)
    table = st.per_key_order(st.read_in_lineage_order(client, stream.name))
    kept = (~shards["open"]).sum() == 1 and set(shards.loc[shards["open"], "parent"]) == {shard} and table["records"].sum() == 30
    checks.check(run.target, "kinesis.reshard.parent-kept", bool(kept), f"the parent is closed, its children name it, its records are read: {shards} {table}")
    assert (table["inversions"] == 0).all()


def test_a_scaled_down_quota_throttles_only_the_load_above_it(run: Run) -> None:
    stream = kinesis.create_stream(run, "quota", shard_count=1, encrypted=False)
    quota = KinesisQuota().scaled(0.05)
    retry = RetryPolicy(max_attempts=30, base_s=0.05, cap_s=0.5, seed=1)
    below = st.offer_under_quota(run, stream, quota, LoadSpec(rate=20, count=20, batch=5), label="below", retry=retry)
    above = st.offer_under_quota(run, stream, quota, LoadSpec(rate=300, count=200, batch=10, threads=2, keys=2), label="above", retry=retry)
    assert below.figures["refused_record_attempts"] == 0 and below.figures["accepted"] == 20
    f = above.figures
    assert f["refused_record_attempts"] > 0 and f["accepted"] == 200 and f["failed_sends"] == 0
    assert f["retries"] == f["refused_record_attempts"]
    assert f["steady_accepted_rate"] <= 1.05 * quota.records_per_s
    assert st.plot_quota([below, above]).axes


def test_the_same_load_is_admitted_faster_by_two_shards_than_by_one(run: Run) -> None:
    quota = KinesisQuota().scaled(0.02)  # 20 records/s per shard: a busy emulator still offers twice that
    retry = RetryPolicy(max_attempts=40, base_s=0.05, cap_s=0.5, seed=3)
    one, two = st.offer_to_shard_counts(run, quota, LoadSpec(rate=40, count=120, batch=20, threads=2, keys=8), retry=retry)
    assert (one.shards, two.shards) == (1, 2)
    f1, f2 = one.figures, two.figures
    assert f1["accepted"] == f2["accepted"] == 120
    assert f1["refused_record_attempts"] > f2["refused_record_attempts"]
    assert len(one.refused_per_shard) == 1 and sum(one.refused_per_shard.values()) == f1["refused_record_attempts"]
    assert len(two.admitted_per_shard) == 2  # the keys spread over both shards
    assert f2["admitted_rate"] > f1["admitted_rate"]


def test_retrying_only_failed_entries_reorders_a_key_and_retrying_in_order_does_not(run: Run) -> None:
    stream = kinesis.create_stream(run, "order", shard_count=1, encrypted=False)
    quota = KinesisQuota().scaled(0.05)
    failed = st.retry_failed_entries(run, stream, quota)
    assert failed.refused_first == [1]
    assert failed.read == [0, 2, 3, 1] and failed.inversions == 2
    kept = st.retry_in_order(run, stream, quota)
    assert kept.refused_first == [1] and kept.read == [0, 1, 2, 3]


def test_a_projection_rebuilt_or_replayed_from_the_stream_equals_the_live_one(run: Run) -> None:
    stream = kinesis.create_stream(run, "events", shard_count=2, encrypted=False)
    client = run.target.client("kinesis")
    events = st.account_events(4, 10)
    half = len(events) // 2
    with st.LiveProjection(client, stream.name, interval_s=0.1) as live:
        st.append_events(client, stream.name, events[:half])
        assert live.wait_for(half)
        snapshot, positions = live.checkpoint()
        st.append_events(client, stream.name, events[half:])
        assert live.wait_for(len(events))
        current = live.snapshot()
    assert current == st.fold_all(events)
    assert st.rebuild(client, stream.name) == current
    by_sequence = st.replay_from(client, stream.name, snapshot, positions, "AT_SEQUENCE_NUMBER")
    assert by_sequence.state == current and by_sequence.skipped == len(positions)
    after = st.replay_from(client, stream.name, snapshot, positions, "AFTER_SEQUENCE_NUMBER")
    assert after.state == current and after.skipped == 0 and after.read == len(events) - half
    by_time = st.replay_from(client, stream.name, snapshot, positions, "AT_TIMESTAMP")
    assert by_time.state == current and by_time.skipped >= len(positions)


def test_firehose_objects_are_read_back_compressed_or_not(run: Run) -> None:
    bucket = s3.create_bucket(run, "fh")
    stream = firehose.create_delivery_stream_to_s3(run, "fh", bucket, buffer_seconds=0, compression="GZIP")
    calls = firehose.put_record_batch(run, stream, [{"n": i} for i in range(25)], batch=10)
    objects = firehose.wait_for_delivery(run, stream, 25, timeout=30)
    assert calls == 3
    assert sorted(line for o in objects for line in o.lines) == sorted(f'{{"n":{i}}}' for i in range(25))
    assert all(o.key.startswith(stream.prefix) for o in objects)
