"""Analysis of a run's sends and receipts: latency, duplicates, ordering, loss, throttling.

Latency is counted two ways, per probe, from its *first* receipt on a path:
``latency`` from the intended send time (corrected for coordinated omission: a stalled
sender's wait counts) and ``latency_uncorrected`` from the actual start of the send call (what
a closed-loop tool reports). Percentiles come from an HdrHistogram (µs resolution, 3
significant digits). Warm-up probes are left out and counted.

Ordering is judged per key on the first receipt of each message, in arrival order:
*inversions* are pairs that arrived in the opposite order of their sequence numbers, and the
*reorder distance* of a message is how far its arrival position is from its place in sequence.
Loss is ``sent - delivered - in DLQ`` by message id, where delivered means processed without
failure at least once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from hdrh.histogram import HdrHistogram

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
_LOWEST_US = 1
_HIGHEST_US = 24 * 3600 * 1_000_000  # a day
_DIGITS = 3


# -- percentiles -------------------------------------------------------------------------------
def histogram(values_ns: Iterable[int | float]) -> HdrHistogram:
    """An HdrHistogram of durations given in ns, recorded in µs (negative values clamp to 0)."""
    hist = HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)
    for v in values_ns:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        hist.record_value(min(max(int(v) // 1000, 0), _HIGHEST_US))
    return hist


def percentiles_ms(values_ns: Iterable[int | float]) -> dict[str, float]:
    """count, p50, p90, p99, p99.9, max and mean in ms (NaN when there are no values)."""
    hist = histogram(values_ns)
    n = hist.get_total_count()
    if n == 0:
        return {"count": 0, **{f"p{p:g}": float("nan") for p in PERCENTILES}, "max": float("nan"), "mean": float("nan")}
    out: dict[str, float] = {"count": n}
    for p in PERCENTILES:
        out[f"p{p:g}"] = hist.get_value_at_percentile(p) / 1000
    out["max"] = hist.get_max_value() / 1000
    out["mean"] = hist.get_mean_value() / 1000
    return out


# -- ordering ----------------------------------------------------------------------------------
def count_inversions(seq: Sequence[int]) -> int:
    """Pairs i < j with seq[i] > seq[j] (merge sort, O(n log n))."""

    def sort(a: list[int]) -> tuple[list[int], int]:
        if len(a) <= 1:
            return a, 0
        mid = len(a) // 2
        left, x = sort(a[:mid])
        right, y = sort(a[mid:])
        merged: list[int] = []
        inv = x + y
        i = j = 0
        while i < len(left) and j < len(right):
            if left[i] <= right[j]:
                merged.append(left[i])
                i += 1
            else:
                merged.append(right[j])
                inv += len(left) - i
                j += 1
        merged.extend(left[i:])
        merged.extend(right[j:])
        return merged, inv

    return sort(list(seq))[1]


def displacements(seq: Sequence[int]) -> list[int]:
    """For each arrival position, how far it is from its place in sorted order (ties stable)."""
    order = sorted(range(len(seq)), key=lambda i: (seq[i], i))
    rank = [0] * len(seq)
    for r, i in enumerate(order):
        rank[i] = r
    return [abs(pos - rank[pos]) for pos in range(len(seq))]


def ordering(receipts: pd.DataFrame) -> pd.DataFrame:
    """Per path and key: messages, inversions, messages out of place, largest reorder distance."""
    rows = []
    first = first_receipts(receipts)
    for (path, key), group in first.groupby(["path", "key"], sort=True):
        seq = group["seq"].tolist()
        disp = displacements(seq)
        rows.append(
            {
                "path": path,
                "key": key,
                "messages": len(seq),
                "inversions": count_inversions(seq),
                "out_of_place": sum(1 for d in disp if d),
                "max_reorder_distance": max(disp) if disp else 0,
            }
        )
    return pd.DataFrame(rows, columns=["path", "key", "messages", "inversions", "out_of_place", "max_reorder_distance"])


# -- helpers -----------------------------------------------------------------------------------
def _arrival_order(receipts: pd.DataFrame) -> pd.DataFrame:
    """Receipts in arrival order: by receipt time, then by the order they were recorded."""
    df = receipts.reset_index(drop=True)
    df["_order"] = np.arange(len(df))
    return df.sort_values(["received_ns", "_order"], kind="stable")


def first_receipts(receipts: pd.DataFrame) -> pd.DataFrame:
    """The first receipt of each message on each path, in arrival order."""
    return _arrival_order(receipts).drop_duplicates(["path", "msg_id"], keep="first")


def duplicates(receipts: pd.DataFrame) -> pd.DataFrame:
    """Per path: receipts, unique messages, duplicate receipts and their rate (per unique)."""
    rows = []
    for path, group in receipts.groupby("path", sort=True):
        unique = group["msg_id"].nunique()
        dup = len(group) - unique
        rows.append(
            {
                "path": path,
                "receipts": len(group),
                "unique": unique,
                "duplicates": dup,
                "duplicate_rate": dup / unique if unique else 0.0,
                "messages_duplicated": int((group["msg_id"].value_counts() > 1).sum()),
            }
        )
    return pd.DataFrame(rows, columns=["path", "receipts", "unique", "duplicates", "duplicate_rate", "messages_duplicated"])


def loss(sent_ids: Iterable[str], delivered_ids: Iterable[str], dlq_ids: Iterable[str] = ()) -> dict[str, Any]:
    """lost = sent - delivered - in DLQ, by message id; also what arrived that was never sent."""
    sent, delivered, dlq = set(sent_ids), set(delivered_ids), set(dlq_ids)
    lost = sent - delivered - dlq
    return {
        "sent": len(sent),
        "delivered": len(sent & delivered),
        "in_dlq": len((sent & dlq) - delivered),
        "lost": len(lost),
        "lost_ids": sorted(lost),
        "unexpected": len((delivered | dlq) - sent),
    }


def latency_table(sends: pd.DataFrame, receipts: pd.DataFrame) -> pd.DataFrame:
    """One row per (path, message): first receipt, receipt count, latencies in ns.

    Messages that were sent but never arrived on a path have no row here (see :func:`loss`);
    when nothing arrived the table is empty, with its columns.
    """
    first = first_receipts(receipts)
    counts = receipts.groupby(["path", "msg_id"]).size().rename("receipts").reset_index()
    table = first.drop(columns=["_order"]).merge(counts, on=["path", "msg_id"])
    cols = ["msg_id", "start_ns", "end_ns", "warmup", "attempts", "throttles", "backoff_ns"]
    if len(sends):
        table = table.merge(sends[cols], on="msg_id", how="left")
    else:
        for c in cols[1:]:
            table[c] = np.nan
    table["warmup"] = table["warmup"].fillna(False).astype(bool)
    table["latency_ns"] = table["received_ns"] - table["intended_ns"]
    table["latency_uncorrected_ns"] = table["received_ns"] - table["start_ns"]
    return table


def send_delays(sends: pd.DataFrame, *, include_warmup: bool = False) -> dict[str, float]:
    """Percentiles (ms) of actual send start minus intended time."""
    df = sends if include_warmup else sends[~sends["warmup"].astype(bool)]
    return percentiles_ms((df["start_ns"] - df["intended_ns"]).tolist())


def send_call_times(sends: pd.DataFrame, *, include_warmup: bool = False) -> dict[str, float]:
    """Percentiles (ms) of how long sending took, first attempt to accepting reply (retries in)."""
    df = sends if include_warmup else sends[~sends["warmup"].astype(bool)]
    df = df[df["ok"].astype(bool)]
    return percentiles_ms((df["end_ns"] - df["start_ns"]).tolist())


def throttling(sends: pd.DataFrame, calls: dict[str, int] | None = None) -> dict[str, Any]:
    """Throttled attempts, retries and backoff time from the send records (and call counters)."""
    out: dict[str, Any] = {
        "throttled_attempts": int(sends["throttles"].sum()) if len(sends) else 0,
        "retries": int((sends["attempts"] - 1).clip(lower=0).sum()) if len(sends) else 0,
        "backoff_s": float(sends["backoff_ns"].sum() / 1e9) if len(sends) else 0.0,
        "failed_sends": int((~sends["ok"].astype(bool)).sum()) if len(sends) else 0,
    }
    if calls:
        out["calls"] = int(calls.get("calls", 0))
        out["throttled_calls"] = int(calls.get("call_throttled", 0))
        out["partial_calls"] = int(calls.get("call_partial", 0))
        out["sdk_retries"] = int(calls.get("sdk_retries", 0))
    return out


def report_paths(sends: pd.DataFrame, receipts: pd.DataFrame, expected: Iterable[str] = ()) -> list[str]:
    """The paths a summary has a row for: every receipt path, every ``expected`` receipt path,
    and every send path that no receipt path accounts for, so that a path on which nothing
    arrived is reported as lost rather than left out."""
    received = set(receipts["path"].unique()) if len(receipts) else set()
    sent = set(sends["path"].unique()) if len(sends) else set()
    paths = received | set(expected)
    # A receipt path without sends of its own name reads all sends (one load, several consumers).
    if not any(p not in sent for p in paths):
        paths |= sent
    return sorted(paths)


def summarize(
    sends: pd.DataFrame,
    receipts: pd.DataFrame,
    *,
    dlq_ids: Iterable[str] = (),
    calls: dict[str, int] | None = None,
    paths: Iterable[str] = (),
) -> pd.DataFrame:
    """One row per path with every headline figure (latencies in ms).

    A receipt path's sends are the sends of the same path when there are any (several loads
    summarized together), else all sends (one load read by several consumers, such as both
    Kinesis readers). ``calls`` (the senders' counters) apply to a path that has all the sends.
    A path that received nothing (one of ``paths``, the receipt paths the measurement expected,
    or a send path no receipt path reads) still has its row: every message lost, the latency
    figures NaN.
    """
    table = latency_table(sends, receipts) if len(receipts) else pd.DataFrame(columns=["path", "msg_id", "warmup"])
    dups = duplicates(receipts).set_index("path") if len(receipts) else pd.DataFrame()
    order = ordering(receipts) if len(receipts) else pd.DataFrame(columns=["path", "inversions", "max_reorder_distance"])
    dlq = set(dlq_ids)
    rows = []
    for path in report_paths(sends, receipts, paths):
        own = sends[sends["path"] == path] if len(sends) and (sends["path"] == path).any() else sends
        shared = len(own) == len(sends)  # the senders' counters are about these sends
        sent_ids = own.loc[own["ok"].astype(bool), "msg_id"] if len(own) else []
        warm_ids = set(own.loc[own["warmup"].astype(bool), "msg_id"]) if len(own) else set()
        delay = send_delays(own) if len(own) else {}
        call_times = send_call_times(own) if len(own) else {}
        thr = throttling(own, calls if shared else None)
        mine = table[table["path"] == path]
        t = mine[~mine["warmup"].astype(bool)]
        corrected = percentiles_ms(t["latency_ns"].tolist() if len(t) else [])
        uncorrected = percentiles_ms(t["latency_uncorrected_ns"].dropna().tolist() if len(t) else [])
        delivered = receipts.loc[(receipts["path"] == path) & receipts["ok"].astype(bool), "msg_id"] if len(receipts) else []
        lost = loss(sent_ids, delivered, dlq)
        o = order[order["path"] == path]
        dup = dups.loc[path] if path in dups.index else pd.Series({"receipts": 0, "unique": 0, "duplicates": 0, "duplicate_rate": 0.0})
        row: dict[str, Any] = {"path": path}
        row.update({f"latency_{k}_ms" if k != "count" else "measured": v for k, v in corrected.items()})
        row.update({f"uncorrected_{k}_ms": v for k, v in uncorrected.items() if k != "count"})
        row.update(
            {
                "warmup_discarded": len(warm_ids & set(mine["msg_id"])),
                "receipts": int(dup["receipts"]),
                "unique": int(dup["unique"]),
                "duplicates": int(dup["duplicates"]),
                "duplicate_rate": float(dup["duplicate_rate"]),
                "inversions": int(o["inversions"].sum()),
                "max_reorder_distance": int(o["max_reorder_distance"].max()) if len(o) else 0,
                "sent": lost["sent"],
                "delivered": lost["delivered"],
                "in_dlq": lost["in_dlq"],
                "lost": lost["lost"],
            }
        )
        row.update({f"send_delay_{k}_ms": v for k, v in delay.items() if k != "count"})
        row.update({f"send_call_{k}_ms": v for k, v in call_times.items() if k in ("p50", "p99", "max")})
        row.update(thr)
        rows.append(row)
    return pd.DataFrame(rows)


def throughput(frame: pd.DataFrame, column: str, *, bin_s: float = 1.0) -> pd.Series:
    """Events per second in bins of ``bin_s`` seconds of ``column`` (ns), from the first event."""
    if frame.empty:
        return pd.Series(dtype=float)
    t = frame[column].dropna()
    seconds = ((t - t.min()) / 1e9 // bin_s) * bin_s
    return seconds.value_counts().sort_index() / bin_s
