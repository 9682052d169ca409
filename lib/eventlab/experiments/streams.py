"""Kinesis and Firehose experiments: keys and shards, reading shards again, resharding,
throttling under an emulated quota, and what Firehose writes to S3.

Used by ``notebooks/04-kinesis.ipynb``; every function takes boto3 clients or a
:class:`~eventlab.run.Run` and creates only resources of that run.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from botocore.exceptions import ClientError
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eventlab.measure import analysis
from eventlab.measure.consumers import KinesisEfoReader, KinesisPoller
from eventlab.measure.load import LoadGenerator, LoadResult, LoadSpec, RetryPolicy
from eventlab.measure.probes import ProbeFactory, ReceiptLog, decode
from eventlab.measure.quotas import KINESIS_THROTTLE, KinesisQuota, QuotaEmulator, emulate_quotas
from eventlab.measure.results import RunResult
from eventlab.measure.senders import KinesisSender
from eventlab.run import Run
from eventlab.services import kinesis

log = logging.getLogger(__name__)

# -- keys and shards ---------------------------------------------------------------------------
def shards_frame(client: Any, stream_name: str) -> pd.DataFrame:
    """Every shard of a stream (open and closed): hash range, share of the key space, parents."""
    rows = []
    for s in kinesis.list_shards(client, stream_name):
        start, end = int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"])
        rows.append({
            "shard": s["ShardId"],
            "parent": s.get("ParentShardId") or "",
            "adjacent_parent": s.get("AdjacentParentShardId") or "",
            "start_hash": start,
            "end_hash": end,
            "keyspace_share": (end - start + 1) / kinesis.HASH_SPACE,
            "open": kinesis.is_open(s),
        })
    return pd.DataFrame(rows).set_index("shard")


def shard_for(shards: pd.DataFrame, partition_key: str) -> str:
    """The open shard whose hash range holds the key's MD5 (computed here, not asked of Kinesis)."""
    h = kinesis.hash_key(partition_key)
    open_shards = shards[shards["open"]]
    hit = open_shards[(open_shards["start_hash"] <= h) & (h <= open_shards["end_hash"])]
    if len(hit) != 1:
        raise LookupError(f"{len(hit)} open shards cover the hash of {partition_key!r}")
    return str(hit.index[0])


def put_one_per_key(client: Any, stream_name: str, keys: Iterable[str]) -> pd.DataFrame:
    """PutRecord once per key; per key: its hash, the shard Kinesis chose and the sequence number."""
    rows = []
    for key in keys:
        reply = client.put_record(StreamName=stream_name, PartitionKey=key, Data=json.dumps({"key": key}).encode())
        rows.append({"key": key, "hash_key": kinesis.hash_key(key), "shard": reply["ShardId"], "sequence": reply["SequenceNumber"]})
    return pd.DataFrame(rows).set_index("key")


def plot_key_placement(shards: pd.DataFrame, placed: pd.DataFrame) -> Figure:
    """The hash key space as a bar split into the open shards' ranges, with each key at its hash."""
    fig = Figure(figsize=(8, 2.2 + 0.12 * len(placed)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    open_shards = shards[shards["open"]].sort_values("start_hash")
    colours = {shard: f"C{i}" for i, shard in enumerate(open_shards.index)}
    for shard, row in open_shards.iterrows():
        start, width = row["start_hash"] / kinesis.HASH_SPACE, row["keyspace_share"]
        ax.barh(-1, width, left=start, color=colours[shard], alpha=0.35)
        ax.text(start + width / 2, -1, str(shard).removeprefix("shardId-"), ha="center", va="center", fontsize=8)
    for i, (key, row) in enumerate(placed.sort_values("hash_key").iterrows()):
        x = row["hash_key"] / kinesis.HASH_SPACE
        ax.plot([x], [i], "o", color=colours.get(row["shard"], "black"))
        ax.text(x, i, f"  {key}", va="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel("position in the hash key space (MD5 of the partition key / 2^128)")
    return fig


# -- reading shards ----------------------------------------------------------------------------
def lineage_order(shards: pd.DataFrame) -> list[str]:
    """Shard ids with every parent before its children (the order a reader must follow)."""
    done: list[str] = []
    pending = list(shards.index)
    while pending:
        progressed = False
        for shard in list(pending):
            parents = [p for p in (shards.at[shard, "parent"], shards.at[shard, "adjacent_parent"]) if p and p in shards.index]
            if all(p in done for p in parents):
                done.append(shard)
                pending.remove(shard)
                progressed = True
        if not progressed:
            raise ValueError(f"shard lineage has a cycle or a missing parent: {pending}")
    return done


def read_in_lineage_order(client: Any, stream_name: str) -> list[kinesis.Record]:
    """Every record of the stream, shard by shard, parents fully before their children.

    This is what the KCL does after a reshard: a child shard is read only once its parent(s)
    are finished, so the records of one partition key come out in the order they were written.
    """
    shards = shards_frame(client, stream_name)
    records: list[kinesis.Record] = []
    for shard in lineage_order(shards):
        records.extend(kinesis.read_shard(client, stream_name, shard))
    return records


def per_key_order(records: Sequence[kinesis.Record]) -> pd.DataFrame:
    """Per probe key, in the order given: records, ordering inversions, and the shards they came from."""
    by_key: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for record in records:
        probe = decode(record.data)
        if probe is not None:
            by_key[probe.key].append((probe.seq, record.shard))
    rows = [
        {
            "key": key,
            "records": len(items),
            "inversions": analysis.count_inversions([s for s, _ in items]),
            "shards": " -> ".join(dict.fromkeys(shard for _, shard in items)),
        }
        for key, items in sorted(by_key.items())
    ]
    return pd.DataFrame(rows, columns=["key", "records", "inversions", "shards"]).set_index("key")


def send_probes(client: Any, stream_name: str, factory: ProbeFactory, spec: LoadSpec, *,
                retry: RetryPolicy | None = None) -> LoadResult:
    """Open-loop probes into a stream through ``factory`` (keep one factory to continue each key's
    sequence numbers across several calls, e.g. before and after a reshard)."""
    sender = KinesisSender(client, stream_name, batch_size=spec.batch)
    return LoadGenerator(sender, factory, spec, retry=retry).run()


# -- several consumers -------------------------------------------------------------------------
def measure_polling_and_efo(
    run: Run,
    stream: kinesis.Stream,
    spec: LoadSpec,
    *,
    poll_interval_s: float = 0.2,
    efo_name: str = "efo",
    start: str = "TRIM_HORIZON",
    timeout: float = 60.0,
) -> RunResult:
    """Two consumers of the same records at once: a shared-throughput poller (path ``polling``)
    and an enhanced fan-out subscriber (path ``efo``). Both should receive every probe.

    Give a fresh stream: both start at ``TRIM_HORIZON`` by default, so a reader that subscribes
    late still reads every probe (with ``LATEST`` it could miss the first ones).
    """
    client = run.target.client("kinesis")
    receipts = ReceiptLog(run.run_id)
    count = spec.total() or 0
    poller = KinesisPoller(client, stream.name, receipts, path="polling", interval_s=poll_interval_s, start=start)
    efo = KinesisEfoReader(run, stream.arn, stream.name, receipts, base=efo_name, path="efo", start=start)
    with poller, efo:
        time.sleep(1.0)  # both readers polling / subscribed before the first probe
        load = send_probes(client, stream.name, ProbeFactory(run.run_id, keys=[f"k{i}" for i in range(spec.keys)]), spec)
        for path in ("polling", "efo"):
            if not receipts.wait_for(count, timeout=timeout, path=path):
                log.warning("%s: %d of %d probes within %.0f s", path, receipts.unique_count(path), count, timeout)
    return RunResult.build("kinesis-polling-vs-efo", run.target, load, receipts,
                           parameters={"poll_interval_s": poll_interval_s}, receipt_paths=["polling", "efo"])


# -- throttling --------------------------------------------------------------------------------
@dataclass
class ThrottledLoad:
    """A load offered to a stream under an emulated quota: the sends, and what the quota did."""

    label: str
    quota: KinesisQuota
    load: LoadResult
    admitted: list[tuple[int, int]]  # (time_ns, records admitted) per call
    refused: int  # records refused
    emulated: bool
    refused_per_shard: dict[str, int] = field(default_factory=dict)  # ProvisionedThroughputExceeded per shard
    admitted_per_shard: dict[str, int] = field(default_factory=dict)  # records the quota let through, per shard
    shards: int = 1

    @property
    def figures(self) -> dict[str, Any]:
        """Offered and accepted rates, throttled record attempts, retries and the time they cost."""
        sends = self.load.frame()
        t = analysis.throttling(sends, self.load.calls)
        accepted = accepted_rate(self.admitted, skip=self.quota.records_per_s * self.shards)
        latency = ((sends["end_ns"] - sends["intended_ns"]) / 1e6).to_numpy()
        return {
            "label": self.label,
            "shards": self.shards,
            "offered_rate": round(self.load.spec.rate, 1),
            "quota_records_per_s": self.quota.records_per_s,
            "records": len(sends),
            "accepted": int(sends["ok"].sum()),
            "refused_record_attempts": self.refused,
            "throttled_share": round(self.refused / (self.refused + len(sends)), 3) if len(sends) else 0.0,
            "steady_accepted_rate": None if accepted is None else round(accepted, 1),
            "admitted_rate": admitted_rate(sends),
            "retries": t["retries"],
            "backoff_s": round(t["backoff_s"], 2),
            "failed_sends": t["failed_sends"],
            "send_p50_ms": round(float(np.percentile(latency, 50)), 1) if len(latency) else None,
            "send_p99_ms": round(float(np.percentile(latency, 99)), 1) if len(latency) else None,
        }


def admitted_rate(sends: pd.DataFrame) -> float | None:
    """Records accepted per second from the first intended send to the last acceptance: the
    throughput the producer got, burst and backlog included."""
    ok = sends[sends["ok"]]
    if ok.empty:
        return None
    span_s = (ok["end_ns"].max() - sends["intended_ns"].min()) / 1e9
    return round(len(ok) / span_s, 1) if span_s > 0 else None


def accepted_rate(admitted: Sequence[tuple[int, int]], *, skip: float = 0.0) -> float | None:
    """Records admitted per second over the admitting span, after the first ``skip`` records
    (a token bucket starts full: its first second of capacity is a burst, not the steady rate)."""
    if len(admitted) < 2:
        return None
    ordered = sorted(admitted)
    total = sum(n for _, n in ordered)
    span_s = (ordered[-1][0] - ordered[0][0]) / 1e9
    return (total - skip) / span_s if span_s > 0 and total > skip else None


def offer_under_quota(
    run: Run,
    stream: kinesis.Stream,
    quota: KinesisQuota,
    spec: LoadSpec,
    *,
    label: str,
    retry: RetryPolicy | None = None,
    keys: Sequence[str] | None = None,
) -> ThrottledLoad:
    """Offer ``spec`` to ``stream`` with ``quota`` emulated on the Kinesis client (on an emulator;
    on AWS the real quota applies and ``admitted`` and the per-shard counts stay empty).

    ``keys`` are the partition keys (default: ``spec.keys`` keys named after ``label``); give
    the same keys to compare streams under the same load."""
    client = run.target.client("kinesis")
    shards = len(kinesis.list_shards(client, stream.name, open_only=True))
    keys = list(keys) if keys is not None else [f"{label}-k{i}" for i in range(spec.keys)]
    emulator: QuotaEmulator
    with emulate_quotas(run.target, client, kinesis=quota) as emulator:
        load = send_probes(client, stream.name, ProbeFactory(run.run_id, keys=keys), spec, retry=retry)
        admitted = [(e.time_ns, e.records) for e in emulator.admitted]
        refused = emulator.throttled("kinesis")
    if not emulator.enabled:
        refused = int(load.frame()["throttles"].sum())

    def by_shard(counts: dict[str, int]) -> dict[str, int]:
        return {resource.rsplit("/", 1)[-1]: n for resource, n in sorted(counts.items())}

    return ThrottledLoad(label, quota, load, admitted, refused, emulator.enabled,
                         refused_per_shard=by_shard(emulator.per_resource("kinesis")),
                         admitted_per_shard=by_shard(emulator.per_resource("kinesis", refused=False)), shards=shards)


def burst(client: Any, stream_name: str, *, calls: int = 5, records: int = 500, size: int = 100,
          key: str = "burst") -> tuple[int, int]:
    """``calls`` PutRecords of ``records`` records each, back to back, with no emulated quota:
    2,500 records within a second or two, well over a shard's 1,000 records/s, so AWS refuses
    some of them. Returns (records sent, records refused by the service)."""
    refused = 0
    batch = [{"Data": b"x" * size, "PartitionKey": key} for _ in range(records)]
    for _ in range(calls):
        refused += int(client.put_records(StreamName=stream_name, Records=batch).get("FailedRecordCount", 0))
    return calls * records, refused


LARGE_RECORD_KIB = 10240  # the largest MaxRecordSizeInKiB AWS takes (10 MiB)


def large_records(client: Any, stream: kinesis.Stream, *, key: str = "k") -> str:
    """Raise the stream's maximum record size to 10 MiB (``UpdateMaxRecordSize``), then put a
    record of exactly 10 MiB (data plus partition key) and one a byte larger; what happened,
    in words (the conformance case's vocabulary)."""
    try:
        client.update_max_record_size(StreamARN=stream.arn, MaxRecordSizeInKiB=LARGE_RECORD_KIB)
    except ClientError as error:
        return f"UpdateMaxRecordSize rejected with {error.response.get('Error', {}).get('Code', '')}"
    client.get_waiter("stream_exists").wait(StreamName=stream.name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})  # ACTIVE again
    verdicts = []
    limit = LARGE_RECORD_KIB * 1024
    for total in (limit, limit + 1):
        try:
            client.put_record(StreamName=stream.name, Data=b"x" * (total - len(key.encode())), PartitionKey=key)
            verdicts.append(f"{total} bytes accepted")
        except ClientError as error:
            verdicts.append(f"{total} bytes rejected with {error.response.get('Error', {}).get('Code', '')}")
    return "; ".join(verdicts)


def offer_to_shard_counts(
    run: Run,
    quota: KinesisQuota,
    spec: LoadSpec,
    *,
    shard_counts: Sequence[int] = (1, 2),
    retry: RetryPolicy | None = None,
    name: str = "shards",
) -> list[ThrottledLoad]:
    """The same load (same rate, count and partition keys) offered to a new stream of each shard
    count under the same per-shard quota: the remedy for a throttled stream is more shards, since
    the quota is per shard and the keys spread over them."""
    keys = [f"{name}-k{i}" for i in range(spec.keys)]
    runs = []
    for count in shard_counts:
        stream = kinesis.create_stream(run, f"{name}{count}", shard_count=count)
        runs.append(offer_under_quota(run, stream, quota, spec, label=f"{count} shard" + ("s" if count > 1 else ""),
                                      retry=retry, keys=keys))
    return runs


def plot_quota(runs: Sequence[ThrottledLoad], *, bin_s: float = 0.5) -> Figure:
    """Per run: records offered (by intended send time) and accepted (by acceptance), per second,
    against the quota."""
    fig = Figure(figsize=(8, 4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(runs), sharey=True, squeeze=False)[0]
    for ax, tl in zip(axes, runs, strict=True):
        sends = tl.load.frame()
        t0 = sends["intended_ns"].min()
        for column, label, frame in (("intended_ns", "offered", sends), ("end_ns", "accepted", sends[sends["ok"]])):
            seconds = ((frame[column] - t0) / 1e9 // bin_s) * bin_s
            series = seconds.value_counts().sort_index() / bin_s
            x = np.append(series.index.to_numpy(dtype=float), series.index[-1] + bin_s)  # close the last bin
            ax.step(x, np.append(series.to_numpy(), series.iloc[-1]), where="post", label=label)
        ax.axhline(tl.quota.records_per_s, color="grey", linestyle="--", label="quota (emulated)" if tl.emulated else "quota")
        ax.set_title(f"{tl.label}: offered {tl.load.spec.rate:g} rec/s")
        ax.set_xlabel("time since start (s)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("records/s")
    axes[0].legend()
    return fig


# -- retries and order -------------------------------------------------------------------------
@dataclass
class RetryOrder:
    """One key's records, written under a quota that refused some of them, then read back."""

    strategy: str
    written: list[int]  # the order the producer meant (the record numbers)
    refused_first: list[int]  # records the first attempt had refused
    read: list[int]  # the order the shard returns them

    @property
    def inversions(self) -> int:
        return analysis.count_inversions(self.read)

    def row(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "written": self.written, "refused at first": self.refused_first,
                "read back": self.read, "inversions": self.inversions}


def _numbered(key: str, n: int, size: int) -> bytes:
    """Record ``n`` of a key, padded to about ``size`` bytes (the quota counts data + key bytes)."""
    body = json.dumps({"key": key, "n": n, "pad": ""}).encode()
    return json.dumps({"key": key, "n": n, "pad": "x" * max(0, size - len(body))}).encode()


def _read_key(client: Any, stream_name: str, key: str) -> list[int]:
    """The record numbers of ``key``, in the order the stream returns them."""
    return [json.loads(r.data)["n"] for r in read_in_lineage_order(client, stream_name) if r.partition_key == key]


def _sizes(quota: KinesisQuota, count: int) -> list[int]:
    """Record sizes for which a full byte bucket admits record 0, refuses the larger record 1
    (half the bucket is left) and admits the small ones after it."""
    if count < 3:
        raise ValueError(f"{count} records: the retry demonstrations need at least 3 (one refused between two admitted).")
    return [int(quota.bytes_per_s * 0.5), int(quota.bytes_per_s * 0.75)] + [200] * (count - 2)


def retry_failed_entries(run: Run, stream: kinesis.Stream, quota: KinesisQuota, *, key: str = "failed-entries",
                         count: int = 4) -> RetryOrder:
    """One PutRecords of ``count`` records of one key, where the shard's byte quota refuses
    record 1 but admits the smaller records after it; then, as AWS's PutRecords page advises,
    only the failed entries are sent again. The stream appends the retried record after the
    later ones. The quota is emulated on every target (``force``): the point is what a retry
    of failed entries does to order, whatever refused them."""
    client = run.target.client("kinesis")
    sizes = _sizes(quota, count)
    records = [{"Data": _numbered(key, n, size), "PartitionKey": key} for n, size in enumerate(sizes)]
    with emulate_quotas(run.target, client, kinesis=quota, force=True):
        reply = client.put_records(StreamName=stream.name, Records=records)
        failed = [n for n, entry in enumerate(reply["Records"]) if entry.get("ErrorCode")]
        pending = failed
        for _ in range(20):  # the retry, once the bucket has refilled
            if not pending:
                break
            time.sleep(1.0)
            again = client.put_records(StreamName=stream.name, Records=[records[n] for n in pending])
            pending = [n for n, entry in zip(pending, again["Records"], strict=True) if entry.get("ErrorCode")]
    if pending:
        raise RuntimeError(f"records {pending} of {key} still refused after 20 retries")
    return RetryOrder("PutRecords, retry only the failed entries", list(range(count)), failed, _read_key(client, stream.name, key))


def put_in_order(client: Any, stream_name: str, key: str, data: Sequence[bytes], *,
                 retry: RetryPolicy | None = None) -> tuple[list[str], list[int]]:
    """PutRecord one record at a time, each with ``SequenceNumberForOrdering`` set to the
    previous record's sequence number, and a refused record retried (backoff) before the next
    is sent: the way to keep one key's order. Returns the sequence numbers and the numbers of
    the records refused at first."""
    retry = retry or RetryPolicy(max_attempts=30, base_s=0.1, cap_s=1.0)
    sequences: list[str] = []
    refused: list[int] = []
    for n, blob in enumerate(data):
        kwargs: dict[str, Any] = {"StreamName": stream_name, "PartitionKey": key, "Data": blob}
        if sequences:
            kwargs["SequenceNumberForOrdering"] = sequences[-1]
        for attempt in range(1, retry.max_attempts + 1):
            try:
                sequences.append(client.put_record(**kwargs)["SequenceNumber"])
                break
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != KINESIS_THROTTLE:
                    raise
                if not refused or refused[-1] != n:
                    refused.append(n)
                retry.sleep(max(retry.backoff(attempt), 0.05))
        else:
            raise RuntimeError(f"record {n} of {key} still refused after {retry.max_attempts} attempts")
    return sequences, refused


def retry_in_order(run: Run, stream: kinesis.Stream, quota: KinesisQuota, *, key: str = "in-order",
                   count: int = 4) -> RetryOrder:
    """The same records and quota as :func:`retry_failed_entries`, written with
    :func:`put_in_order`: the refused record is retried before any later one is sent."""
    client = run.target.client("kinesis")
    data = [_numbered(key, n, size) for n, size in enumerate(_sizes(quota, count))]
    with emulate_quotas(run.target, client, kinesis=quota, force=True):
        _, refused = put_in_order(client, stream.name, key, data)
    return RetryOrder("PutRecord in order, SequenceNumberForOrdering", list(range(count)), refused, _read_key(client, stream.name, key))


# -- event sourcing: a projection folded from the stream ----------------------------------------
def account_events(accounts: int, per_account: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """Events of bank accounts, interleaved: each account is opened, then gets deposits and
    withdrawals, each event numbered (``version``) within its account. Folding them out of order
    gives another balance (a withdrawal beyond the balance is rejected), so order matters."""
    rng = random.Random(seed)
    streams_of: list[list[dict[str, Any]]] = []
    for a in range(accounts):
        account = f"acct-{a}"
        events = [{"account": account, "version": 1, "type": "opened", "amount": 0}]
        for v in range(2, per_account + 1):
            kind = rng.choice(("deposited", "deposited", "withdrew"))
            events.append({"account": account, "version": v, "type": kind, "amount": rng.randint(1, 100)})
        streams_of.append(events)
    interleaved = []
    while any(streams_of):
        pick = rng.choice([s for s in streams_of if s])
        interleaved.append(pick.pop(0))
    return interleaved


@dataclass
class Account:
    """One account of the projection: its balance and the last event folded into it."""

    balance: int = 0
    version: int = 0
    rejected: int = 0  # withdrawals refused for want of funds
    gaps: int = 0  # events that came with a version beyond the next one


def fold(state: dict[str, Account], event: Mapping[str, Any]) -> bool:
    """Apply one event to the projection; False (and nothing changes) for an event it already
    folded, so re-reading from a position before the checkpoint is harmless (idempotent)."""
    account = state.setdefault(event["account"], Account())
    version = int(event["version"])
    if version <= account.version:
        return False
    if version != account.version + 1:
        account.gaps += 1
    if event["type"] == "deposited":
        account.balance += int(event["amount"])
    elif event["type"] == "withdrew":
        if account.balance >= int(event["amount"]):
            account.balance -= int(event["amount"])
        else:
            account.rejected += 1
    account.version = version
    return True


def fold_all(events: Iterable[Mapping[str, Any]], state: dict[str, Account] | None = None) -> dict[str, Account]:
    """The projection of ``events`` folded in the order given (onto a copy of ``state``)."""
    state = {k: Account(**vars(v)) for k, v in (state or {}).items()}
    for event in events:
        fold(state, event)
    return state


def projection_frame(state: Mapping[str, Account]) -> pd.DataFrame:
    return pd.DataFrame([{"account": k, **vars(v)} for k, v in sorted(state.items())],
                        columns=["account", "balance", "version", "rejected", "gaps"]).set_index("account")


def append_events(client: Any, stream_name: str, events: Sequence[Mapping[str, Any]]) -> list[str]:
    """Write events with the account as partition key, in order per account
    (:func:`put_in_order` per record, chaining each account's sequence numbers)."""
    last: dict[str, str] = {}
    sequences = []
    for event in events:
        key = str(event["account"])
        kwargs: dict[str, Any] = {"StreamName": stream_name, "PartitionKey": key, "Data": json.dumps(dict(event)).encode()}
        if key in last:
            kwargs["SequenceNumberForOrdering"] = last[key]
        last[key] = client.put_record(**kwargs)["SequenceNumber"]
        sequences.append(last[key])
    return sequences


@dataclass(frozen=True)
class Position:
    """Where a projection stands in one shard: the last record folded, and when it arrived."""

    sequence: str
    arrival: Any  # datetime


class LiveProjection:
    """The read side kept up to date while events are written: one thread per open shard polls
    ``GetRecords`` and folds each event into the projection, remembering its position per shard."""

    def __init__(self, client: Any, stream_name: str, *, interval_s: float = 0.2) -> None:
        self.client = client
        self.stream_name = stream_name
        self.interval_s = interval_s
        self.state: dict[str, Account] = {}
        self.positions: dict[str, Position] = {}
        self.folded = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(s["ShardId"],), daemon=True, name=f"projection-{s['ShardId']}")
                         for s in kinesis.list_shards(client, stream_name, open_only=True)]
        self._error: BaseException | None = None

    def __enter__(self) -> LiveProjection:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _loop(self, shard: str) -> None:
        try:
            iterator = self.client.get_shard_iterator(StreamName=self.stream_name, ShardId=shard,
                                                      ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while iterator and not self._stop.is_set():
                reply = self.client.get_records(ShardIterator=iterator, Limit=1000)
                with self._lock:
                    for r in reply.get("Records", []):
                        fold(self.state, json.loads(r["Data"]))
                        self.folded += 1
                        self.positions[shard] = Position(r["SequenceNumber"], r.get("ApproximateArrivalTimestamp"))
                iterator = reply.get("NextShardIterator")
                self._stop.wait(self.interval_s)
        except BaseException as error:  # noqa: BLE001 - raised again by wait_for
            self._error = error

    def checkpoint(self) -> tuple[dict[str, Account], dict[str, Position]]:
        """A snapshot of the projection and its position per shard, taken together."""
        with self._lock:
            return fold_all((), self.state), dict(self.positions)

    def wait_for(self, events: int, timeout: float = 60.0) -> bool:
        """Until ``events`` events are folded (True) or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._error is not None:
                raise self._error
            with self._lock:
                if self.folded >= events:
                    return True
            time.sleep(0.05)
        return False

    def snapshot(self) -> dict[str, Account]:
        with self._lock:
            return fold_all((), self.state)


def rebuild(client: Any, stream_name: str) -> dict[str, Account]:
    """A new projection from the whole retained stream: every shard from ``TRIM_HORIZON``
    (parents before children), folded in order."""
    return fold_all(json.loads(r.data) for r in read_in_lineage_order(client, stream_name))


@dataclass
class Replay:
    """A projection resumed from a checkpoint by re-reading the stream from a position."""

    iterator_type: str
    state: dict[str, Account]
    read: int  # records read from the positions on
    skipped: int  # of them, events the checkpoint had already folded


def replay_from(client: Any, stream_name: str, snapshot: Mapping[str, Account], positions: Mapping[str, Position],
                iterator_type: str) -> Replay:
    """Resume ``snapshot`` by reading every open shard from its checkpoint position with
    ``AT_SEQUENCE_NUMBER``, ``AFTER_SEQUENCE_NUMBER`` or ``AT_TIMESTAMP`` (a shard the checkpoint
    had not reached is read from ``TRIM_HORIZON``). Events already folded are skipped by version."""
    if iterator_type not in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP"):
        raise ValueError(f"replay from a position with {iterator_type!r}: use AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP.")
    state = fold_all((), dict(snapshot))
    read = skipped = 0
    for shard in (s["ShardId"] for s in kinesis.list_shards(client, stream_name, open_only=True)):
        position = positions.get(shard)
        if position is None:
            records = kinesis.read_shard(client, stream_name, shard)
        elif iterator_type == "AT_TIMESTAMP":
            records = kinesis.read_shard(client, stream_name, shard, iterator_type, timestamp=position.arrival)
        else:
            records = kinesis.read_shard(client, stream_name, shard, iterator_type, sequence_number=position.sequence)
        for record in records:
            read += 1
            skipped += not fold(state, json.loads(record.data))
    return Replay(iterator_type, state, read, skipped)
