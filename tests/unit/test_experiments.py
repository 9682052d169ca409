"""The notebooks' helpers that need no service: key hashing, shard lineage, ordering, replays."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from eventlab.experiments import events as ev
from eventlab.experiments import streams as st
from eventlab.measure.probes import ProbeFactory
from eventlab.schemas import import_bindings
from eventlab.services import events, kinesis

TOP = 2**128 - 1


def _shards(rows: list[tuple[str, str, str, int, int, bool]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["shard", "parent", "adjacent_parent", "start_hash", "end_hash", "open"])
    frame["keyspace_share"] = (frame["end_hash"] - frame["start_hash"] + 1) / kinesis.HASH_SPACE
    return frame.set_index("shard")


def test_hash_key_is_the_md5_of_the_partition_key_as_a_128_bit_integer() -> None:
    assert kinesis.hash_key("customer-1") == int(hashlib.md5(b"customer-1").hexdigest(), 16)
    assert 0 <= kinesis.hash_key("") <= TOP


def test_shard_for_picks_the_open_shard_whose_range_holds_the_hash() -> None:
    half = 2**127
    shards = _shards([
        ("s0", "", "", 0, TOP, False),  # closed parent covering everything: never chosen
        ("s1", "s0", "", 0, half - 1, True),
        ("s2", "s0", "", half, TOP, True),
    ])
    for key in ("a", "b", "customer-7", "k0"):
        expected = "s1" if kinesis.hash_key(key) < half else "s2"
        assert st.shard_for(shards, key) == expected


def test_lineage_order_puts_parents_before_children_also_for_merges() -> None:
    shards = _shards([
        ("c", "a", "b", 0, TOP, True),  # a merge of a and b
        ("b", "p", "", 2**127, TOP, False),
        ("a", "p", "", 0, 2**127 - 1, False),
        ("p", "", "", 0, TOP, False),
    ])
    order = st.lineage_order(shards)
    assert order.index("p") < order.index("a") < order.index("c")
    assert order.index("b") < order.index("c")
    cyclic = _shards([("x", "y", "", 0, TOP, True), ("y", "x", "", 0, TOP, True)])
    with pytest.raises(ValueError, match="cycle"):
        st.lineage_order(cyclic)


def test_per_key_order_counts_inversions_and_the_shards_a_key_went_through() -> None:
    factory = ProbeFactory("run1", keys=["k"])
    probes = [factory.make(0) for _ in range(4)]
    records = [
        kinesis.Record("parent", "1", "k", probes[0].to_bytes()),
        kinesis.Record("parent", "2", "k", probes[1].to_bytes()),
        kinesis.Record("child", "3", "k", probes[3].to_bytes()),
        kinesis.Record("child", "4", "k", probes[2].to_bytes()),
        kinesis.Record("child", "5", "other", b"not a probe"),
    ]
    table = st.per_key_order(records)
    assert table.loc["k"].to_dict() == {"records": 4, "inversions": 1, "shards": "parent -> child"}


def test_accepted_rate_leaves_out_the_initial_burst() -> None:
    second = 1_000_000_000
    admitted = [(0, 100)] + [(i * second // 10, 10) for i in range(1, 21)]  # burst, then 100/s for 2 s
    assert st.accepted_rate(admitted, skip=100) == pytest.approx(100.0)
    assert st.accepted_rate([(0, 5)]) is None


def test_replay_name_is_the_replay_name_field_of_the_envelope() -> None:
    original = events.envelope({"orderId": "o-1"}, source="shop", detail_type="Order")
    assert ev.replay_name(original) is None
    assert ev.replay_name({**original, "replay-name": "nightly"}) == "nightly"
    marked_by_resource = {**original, "resources": ["arn:aws:events:us-east-1:1:replay/el-x-replay"]}
    assert ev.replay_name(marked_by_resource) is None, "only EventBridge's own field marks a replay"


def test_envelope_has_the_fields_test_event_pattern_requires() -> None:
    event = events.envelope({"a": 1}, source="shop", detail_type="Order")
    assert {"id", "source", "detail-type", "account", "time", "region", "resources", "detail"} <= set(event)
    assert event["detail"] == {"a": 1} and event["source"] == "shop"


def test_import_bindings_imports_generated_source_as_a_module(tmp_path) -> None:
    source = "from dataclasses import dataclass\n\n@dataclass\nclass Thing:\n    name: str\n"
    module = import_bindings(source, "eventlab_test_bindings", tmp_path)
    assert module.Thing("x").name == "x"
    assert (tmp_path / "eventlab_test_bindings.py").read_text() == source


def test_the_wait_before_a_replay_is_aws_advice_on_aws_and_none_on_an_emulator() -> None:
    import boto3

    from eventlab.target import Target

    aws = Target(kind="aws", region="eu-west-1", session=boto3.Session(region_name="eu-west-1"))
    local = Target.localstack("http://127.0.0.1:4566")
    assert ev.archive_wait_seconds(aws, -1) == ev.ARCHIVE_SETTLE_S == 600
    assert ev.archive_wait_seconds(local, -1) == 0
    assert ev.archive_wait_seconds(aws, 5) == 5 and ev.archive_wait_seconds(local, 2.5) == 2.5
    assert ev.wait_for_archive(local, -1) == 0  # returns at once


def test_a_projection_folds_events_in_order_and_skips_what_it_already_folded() -> None:
    events = st.account_events(3, 12, seed=3)
    assert sorted({e["account"] for e in events}) == ["acct-0", "acct-1", "acct-2"]
    live = st.fold_all(events)
    assert all(a.version == 12 and a.gaps == 0 for a in live.values())
    # folding again from the middle changes nothing: every event is already folded
    assert st.fold_all(events[len(events) // 2:], live) == live
    # out of order, the projection notices (a gap) and its balances may differ
    shuffled = st.fold_all(list(reversed(events)))
    assert any(a.gaps for a in shuffled.values())


def test_a_projection_rejects_a_withdrawal_beyond_the_balance() -> None:
    state = st.fold_all([
        {"account": "a", "version": 1, "type": "opened", "amount": 0},
        {"account": "a", "version": 2, "type": "withdrew", "amount": 5},
        {"account": "a", "version": 3, "type": "deposited", "amount": 7},
    ])
    assert state["a"] == st.Account(balance=7, version=3, rejected=1, gaps=0)
    assert st.projection_frame(state).loc["a", "balance"] == 7
