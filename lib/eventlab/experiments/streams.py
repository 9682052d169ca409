"""Kinesis and Firehose experiments: keys and shards, reading shards again, resharding,
throttling under an emulated quota, and what Firehose writes to S3.

Used by ``notebooks/04-kinesis.ipynb``; every function takes boto3 clients or a
:class:`~eventlab.run.Run` and creates only resources of that run.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eventlab.measure import analysis
from eventlab.measure.consumers import KinesisEfoReader, KinesisPoller
from eventlab.measure.load import KinesisSender, LoadGenerator, LoadResult, LoadSpec, RetryPolicy
from eventlab.measure.probes import Probe, ProbeFactory, ReceiptLog, decode
from eventlab.measure.quotas import KinesisQuota, QuotaEmulator, emulate_quotas
from eventlab.measure.results import RunResult
from eventlab.run import Run
from eventlab.services.firehose import DeliveryStream
from eventlab.services.kinesis import Stream

log = logging.getLogger(__name__)

HASH_SPACE = 2**128
GZIP_MAGIC = b"\x1f\x8b"


# -- keys and shards ---------------------------------------------------------------------------
def hash_key(partition_key: str) -> int:
    """Where a partition key lands in the 128-bit hash key space: its MD5, as an integer."""
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")


def shards_frame(client: Any, stream_name: str) -> pd.DataFrame:
    """Every shard of a stream (open and closed): hash range, share of the key space, parents."""
    rows = []
    kwargs: dict[str, Any] = {"StreamName": stream_name}
    while True:
        reply = client.list_shards(**kwargs)
        for s in reply["Shards"]:
            start, end = int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"])
            rows.append({
                "shard": s["ShardId"],
                "parent": s.get("ParentShardId") or "",
                "adjacent_parent": s.get("AdjacentParentShardId") or "",
                "start_hash": start,
                "end_hash": end,
                "keyspace_share": (end - start + 1) / HASH_SPACE,
                "open": "EndingSequenceNumber" not in s.get("SequenceNumberRange", {}),
            })
        if not reply.get("NextToken"):
            break
        kwargs = {"NextToken": reply["NextToken"]}
    return pd.DataFrame(rows).set_index("shard")


def shard_for(shards: pd.DataFrame, partition_key: str) -> str:
    """The open shard whose hash range holds the key's MD5 (computed here, not asked of Kinesis)."""
    h = hash_key(partition_key)
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
        rows.append({"key": key, "hash_key": hash_key(key), "shard": reply["ShardId"], "sequence": reply["SequenceNumber"]})
    return pd.DataFrame(rows).set_index("key")


def plot_key_placement(shards: pd.DataFrame, placed: pd.DataFrame) -> Figure:
    """The hash key space as a bar split into the open shards' ranges, with each key at its hash."""
    fig = Figure(figsize=(8, 2.2 + 0.12 * len(placed)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    open_shards = shards[shards["open"]].sort_values("start_hash")
    colours = {shard: f"C{i}" for i, shard in enumerate(open_shards.index)}
    for shard, row in open_shards.iterrows():
        start, width = row["start_hash"] / HASH_SPACE, row["keyspace_share"]
        ax.barh(-1, width, left=start, color=colours[shard], alpha=0.35)
        ax.text(start + width / 2, -1, str(shard).removeprefix("shardId-"), ha="center", va="center", fontsize=8)
    for i, (key, row) in enumerate(placed.sort_values("hash_key").iterrows()):
        x = row["hash_key"] / HASH_SPACE
        ax.plot([x], [i], "o", color=colours.get(row["shard"], "black"))
        ax.text(x, i, f"  {key}", va="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel("position in the hash key space (MD5 of the partition key / 2^128)")
    return fig


# -- reading shards ----------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamRecord:
    """One record read from a shard."""

    shard: str
    sequence: str
    partition_key: str
    data: bytes = field(repr=False)
    arrival: datetime | None = None

    @property
    def probe(self) -> Probe | None:
        return decode(self.data)


def read_shard(
    client: Any,
    stream_name: str,
    shard_id: str,
    iterator_type: str = "TRIM_HORIZON",
    *,
    sequence_number: str | None = None,
    timestamp: datetime | None = None,
    limit: int = 1000,
    max_empty: int = 2,
) -> list[StreamRecord]:
    """Everything in one shard from a starting position, until caught up or the shard's end.

    ``iterator_type``: ``TRIM_HORIZON``, ``AT_SEQUENCE_NUMBER`` / ``AFTER_SEQUENCE_NUMBER``
    (with ``sequence_number``), ``AT_TIMESTAMP`` (with ``timestamp``) or ``LATEST``. Stops after
    ``max_empty`` empty reads that are not behind the tip, or when a closed shard has no next
    iterator.
    """
    kwargs: dict[str, Any] = {"StreamName": stream_name, "ShardId": shard_id, "ShardIteratorType": iterator_type}
    if sequence_number is not None:
        kwargs["StartingSequenceNumber"] = sequence_number
    if timestamp is not None:
        kwargs["Timestamp"] = timestamp
    iterator = client.get_shard_iterator(**kwargs)["ShardIterator"]
    records: list[StreamRecord] = []
    empty = 0
    while iterator:
        reply = client.get_records(ShardIterator=iterator, Limit=limit)
        batch = reply.get("Records", [])
        records.extend(
            StreamRecord(shard_id, r["SequenceNumber"], r["PartitionKey"], r["Data"], r.get("ApproximateArrivalTimestamp"))
            for r in batch
        )
        iterator = reply.get("NextShardIterator")
        if batch:
            empty = 0
            continue
        empty += 1
        if empty >= max_empty and not reply.get("MillisBehindLatest"):
            break
        time.sleep(0.2)
    return records


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


def read_in_lineage_order(client: Any, stream_name: str) -> list[StreamRecord]:
    """Every record of the stream, shard by shard, parents fully before their children.

    This is what the KCL does after a reshard: a child shard is read only once its parent(s)
    are finished, so the records of one partition key come out in the order they were written.
    """
    shards = shards_frame(client, stream_name)
    records: list[StreamRecord] = []
    for shard in lineage_order(shards):
        records.extend(read_shard(client, stream_name, shard))
    return records


def per_key_order(records: Sequence[StreamRecord]) -> pd.DataFrame:
    """Per probe key, in the order given: records, ordering inversions, and the shards they came from."""
    by_key: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for record in records:
        probe = record.probe
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
    stream: Stream,
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

    @property
    def figures(self) -> dict[str, Any]:
        """Offered and accepted rates, throttled record attempts, retries and the time they cost."""
        sends = self.load.frame()
        t = analysis.throttling(sends, self.load.calls)
        accepted = accepted_rate(self.admitted, skip=self.quota.records_per_s)
        latency = ((sends["end_ns"] - sends["intended_ns"]) / 1e6).to_numpy()
        return {
            "label": self.label,
            "offered_rate": round(self.load.spec.rate, 1),
            "quota_records_per_s": self.quota.records_per_s,
            "records": len(sends),
            "accepted": int(sends["ok"].sum()),
            "refused_record_attempts": self.refused,
            "throttled_share": round(self.refused / (self.refused + len(sends)), 3) if len(sends) else 0.0,
            "steady_accepted_rate": None if accepted is None else round(accepted, 1),
            "retries": t["retries"],
            "backoff_s": round(t["backoff_s"], 2),
            "failed_sends": t["failed_sends"],
            "send_p50_ms": round(float(np.percentile(latency, 50)), 1) if len(latency) else None,
            "send_p99_ms": round(float(np.percentile(latency, 99)), 1) if len(latency) else None,
        }


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
    stream: Stream,
    quota: KinesisQuota,
    spec: LoadSpec,
    *,
    label: str,
    retry: RetryPolicy | None = None,
) -> ThrottledLoad:
    """Offer ``spec`` to ``stream`` with ``quota`` emulated on the Kinesis client (on LocalStack;
    on AWS the real quota applies and ``admitted`` stays empty)."""
    client = run.target.client("kinesis")
    emulator: QuotaEmulator
    with emulate_quotas(run.target, client, kinesis=quota) as emulator:
        load = send_probes(client, stream.name, ProbeFactory(run.run_id, keys=[f"{label}-k{i}" for i in range(spec.keys)]),
                           spec, retry=retry)
        admitted = [(e.time_ns, e.records) for e in emulator.admitted]
        refused = emulator.throttled("kinesis")
    if not emulator.enabled:
        refused = int(load.frame()["throttles"].sum())
    return ThrottledLoad(label, quota, load, admitted, refused, emulator.enabled)


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


# -- Firehose ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeliveredObject:
    """One object a delivery stream wrote: its key, size, whether it is GZIP, and its lines."""

    key: str
    size: int
    gzip: bool
    lines: tuple[str, ...] = field(repr=False)


def put_record_batches(run: Run, stream: DeliveryStream, records: Sequence[Mapping[str, Any]], *, batch: int = 100) -> int:
    """PutRecordBatch the records as newline-delimited JSON, ``batch`` per call; returns the calls."""
    client = run.target.client("firehose")
    calls = 0
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        reply = client.put_record_batch(
            DeliveryStreamName=stream.name,
            Records=[{"Data": (json.dumps(r, separators=(",", ":")) + "\n").encode()} for r in chunk],
        )
        if reply.get("FailedPutCount"):
            raise RuntimeError(f"{stream.name}: {reply['FailedPutCount']} record(s) rejected")
        calls += 1
    return calls


def delivered_objects(run: Run, stream: DeliveryStream) -> list[DeliveredObject]:
    """The objects under the delivery stream's prefix, read back (GZIP recognised by its magic bytes)."""
    client = run.target.client("s3")
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=stream.bucket.name, Prefix=stream.prefix):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=stream.bucket.name, Key=obj["Key"])["Body"].read()
            compressed = body[:2] == GZIP_MAGIC
            text = (gzip.decompress(body) if compressed else body).decode()
            out.append(DeliveredObject(obj["Key"], len(body), compressed, tuple(line for line in text.splitlines() if line)))
    return sorted(out, key=lambda o: o.key)


def wait_for_delivery(run: Run, stream: DeliveryStream, records: int, *, timeout: float = 120.0) -> list[DeliveredObject]:
    """Poll S3 until the delivery stream's objects hold ``records`` lines (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        objects = delivered_objects(run, stream)
        lines = sum(len(o.lines) for o in objects)
        if lines >= records or time.monotonic() > deadline:
            if lines < records:
                log.warning("%s: %d of %d records in S3 after %.0f s", stream.name, lines, records, timeout)
            return objects
        time.sleep(1.0)
