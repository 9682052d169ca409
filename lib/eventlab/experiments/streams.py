"""Kinesis and Firehose experiments: keys and shards, reading shards again, resharding,
throttling under an emulated quota, and what Firehose writes to S3.

Used by ``notebooks/04-kinesis.ipynb``; every function takes boto3 clients or a
:class:`~eventlab.run.Run` and creates only resources of that run.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eventlab.measure import analysis
from eventlab.measure.consumers import KinesisEfoReader, KinesisPoller
from eventlab.measure.load import LoadGenerator, LoadResult, LoadSpec, RetryPolicy
from eventlab.measure.probes import ProbeFactory, ReceiptLog, decode
from eventlab.measure.quotas import KinesisQuota, QuotaEmulator, emulate_quotas
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
    stream: kinesis.Stream,
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
