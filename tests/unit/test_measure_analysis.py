"""The analysis on constructed sends and receipts whose right answers are known."""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import asdict

import pandas as pd
import pytest

from eventlab.measure import analysis
from eventlab.measure.probes import Probe, ProbeFactory, ReceiptLog, SendRecord, decode

MS = 1_000_000


def brute_inversions(seq: list[int]) -> int:
    return sum(1 for i, j in itertools.combinations(range(len(seq)), 2) if seq[i] > seq[j])


@pytest.mark.parametrize(
    ("perm", "inversions", "max_distance"),
    [
        ([0, 1, 2, 3, 4], 0, 0),
        ([1, 0, 3, 2], 2, 1),
        ([4, 3, 2, 1, 0], 10, 4),
        ([3, 0, 1, 2], 3, 3),  # one late-overtaking message: three pairs, moved three places
        ([1, 2, 3, 4, 0], 4, 4),
    ],
)
def test_known_permutations(perm: list[int], inversions: int, max_distance: int) -> None:
    assert analysis.count_inversions(perm) == inversions
    assert max(analysis.displacements(perm)) == max_distance


def test_inversions_match_brute_force_on_random_permutations() -> None:
    rng = random.Random(7)
    for n in (0, 1, 2, 10, 57):
        perm = list(range(n))
        rng.shuffle(perm)
        assert analysis.count_inversions(perm) == brute_inversions(perm)


def _frames(arrivals: list[tuple[str, int, int, int]], sends: list[tuple[str, int, int, int]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """arrivals: (msg, seq, intended_ms, received_ms); sends: (msg, seq, intended_ms, start_ms)."""
    log = ReceiptLog("r")
    for msg, seq, intended, received in arrivals:
        log.record(Probe("r", msg, "k", seq, intended * MS), path="q", consumer="c", received_ns=received * MS)
    records = [
        SendRecord("q", msg, "k", seq, intended * MS, start_ns=start * MS, end_ns=start * MS + 1, ok=True, attempts=1)
        for msg, seq, intended, start in sends
    ]
    return pd.DataFrame([asdict(r) for r in records]), log.to_frame()


def test_summary_counts_duplicates_order_loss_and_both_latencies() -> None:
    # m0..m4 sent at 0,10,20,30,40 ms intended; m2's send stalled 100 ms (coordinated omission).
    sends = [("m0", 0, 0, 0), ("m1", 1, 10, 10), ("m2", 2, 20, 120), ("m3", 3, 30, 121), ("m4", 4, 40, 122)]
    # arrivals: m0, m1 twice, m3 before m2, m4 lost.
    arrivals = [("m0", 0, 0, 5), ("m1", 1, 10, 15), ("m3", 3, 30, 126), ("m2", 2, 20, 127), ("m1", 1, 10, 200)]
    sends_df, receipts_df = _frames(arrivals, sends)
    row = analysis.summarize(sends_df, receipts_df).iloc[0]
    assert row["receipts"] == 5 and row["unique"] == 4
    assert row["duplicates"] == 1 and row["duplicate_rate"] == pytest.approx(0.25)
    assert row["inversions"] == 1 and row["max_reorder_distance"] == 1
    assert row["sent"] == 5 and row["delivered"] == 4 and row["lost"] == 1
    # corrected latency counts m2 from its intended time (107 ms); uncorrected from its send (7 ms)
    table = analysis.latency_table(sends_df, receipts_df).set_index("msg_id")
    assert table.loc["m2", "latency_ns"] == 107 * MS
    assert table.loc["m2", "latency_uncorrected_ns"] == 7 * MS
    assert table.loc["m1", "receipts"] == 2 and table.loc["m1", "latency_ns"] == 5 * MS  # first receipt counts
    assert row["latency_max_ms"] == pytest.approx(107, rel=1e-3)
    assert row["uncorrected_max_ms"] == pytest.approx(7, rel=1e-3)


def test_loss_subtracts_the_dlq() -> None:
    result = analysis.loss(["a", "b", "c", "d"], ["a", "b"], ["c"])
    assert (result["delivered"], result["in_dlq"], result["lost"], result["lost_ids"]) == (2, 1, 1, ["d"])


def test_percentiles_of_a_known_distribution() -> None:
    p = analysis.percentiles_ms([i * MS for i in range(1, 1001)])  # 1..1000 ms
    assert p["count"] == 1000
    assert p["p50"] == pytest.approx(500, rel=0.002)
    assert p["p99"] == pytest.approx(990, rel=0.002)
    assert p["p99.9"] == pytest.approx(999, rel=0.002)
    assert p["max"] == pytest.approx(1000, rel=0.002)


def test_warmup_is_left_out_and_reported() -> None:
    sends = [("w", 0, 0, 0), ("m", 1, 10, 10)]
    arrivals = [("w", 0, 0, 1000), ("m", 1, 10, 12)]
    sends_df, receipts_df = _frames(arrivals, sends)
    sends_df.loc[sends_df["msg_id"] == "w", "warmup"] = True
    row = analysis.summarize(sends_df, receipts_df).iloc[0]
    assert row["measured"] == 1 and row["warmup_discarded"] == 1
    assert row["latency_max_ms"] == pytest.approx(2, rel=1e-3)


def test_probes_survive_every_envelope() -> None:
    probe = ProbeFactory("run1", keys=["a", "b"], size=300).make(time.time_ns())
    assert len(probe.to_json()) == pytest.approx(300, abs=2)
    import json

    sns = json.dumps({"Type": "Notification", "Message": probe.to_json()})
    event = {"detail-type": "Probe", "source": "x", "detail": probe.to_dict()}
    for payload in (probe.to_json(), probe.to_bytes(), sns, event, {"body": sns}):
        assert decode(payload) == probe
    assert decode("not json") is None and decode({"other": 1}) is None


def test_factory_numbers_each_key_in_order() -> None:
    factory = ProbeFactory("r", keys=["a", "b"])
    probes = [factory.make(i) for i in range(5)]
    assert [(p.key, p.seq) for p in probes] == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2)]
    assert len({p.msg_id for p in probes}) == 5


class _NullSender:
    """Accepts every probe at once and remembers which thread sent which key."""

    path = "null"
    max_batch = 10

    def __init__(self) -> None:
        import threading

        self.by_key: dict[str, set[str]] = {}
        self.lock = threading.Lock()

    def send(self, probes):
        import threading

        from eventlab.measure.senders import Result

        with self.lock:
            for p in probes:
                self.by_key.setdefault(p.key, set()).add(threading.current_thread().name)
        return [Result("ok") for _ in probes]


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_generator_threads_own_their_keys_and_count_exactly(mode: str) -> None:
    from eventlab.measure.load import LoadGenerator, LoadSpec

    sender = _NullSender()
    spec = LoadSpec(rate=5000, count=203, mode=mode, threads=3, keys=6, batch=4, warmup_count=10, progress=False)
    generator = LoadGenerator(sender, ProbeFactory("r", keys=[f"k{i}" for i in range(6)]), spec)
    assert generator.key_affinity
    sends = generator.run().frame()
    assert len(sends) == 203 and sends["msg_id"].is_unique and sends["ok"].all()
    assert int(sends["warmup"].sum()) == 10
    assert all(len(threads) == 1 for threads in sender.by_key.values())  # one thread per key
    for _, group in sends.groupby("key"):  # sequence numbers follow intended time per key
        ordered = group.sort_values("intended_ns")
        assert ordered["seq"].tolist() == list(range(len(group)))
    if mode == "open":  # the schedule is the shared fixed-rate one: 5000/s = 200 us apart
        gaps = sends.sort_values("intended_ns")["intended_ns"].diff().dropna()
        assert gaps.between(199_000, 201_000).all()


def test_load_spec_from_a_workload_mapping() -> None:
    import yaml

    from eventlab.measure.load import LoadSpec

    spec = LoadSpec.from_dict(yaml.safe_load("rate: 200\nduration_s: 10\nbatch: 10\nwarmup_s: 2\n"))
    assert (spec.rate, spec.batch, spec.total()) == (200, 10, 2000)
    with pytest.raises(ValueError, match="unknown field"):
        LoadSpec.from_dict({"rate": 1, "count": 1, "rte": 2})
    with pytest.raises(ValueError, match="duration_s or count"):
        LoadSpec.from_dict({"rate": 1})


@pytest.mark.parametrize(("fields", "message"), [
    ({"rate": 10, "count": 20, "warmup_count": 20}, "leaves none of the 20 probes"),
    ({"rate": 10, "duration_s": 5, "warmup_count": 60}, "leaves none of the 50 probes"),
    ({"rate": 10, "duration_s": 5, "warmup_s": 5}, "leaves nothing of duration_s=5"),
    ({"rate": 10, "count": 5, "warmup_count": -1}, "cannot be negative"),
])
def test_a_warmup_that_leaves_nothing_to_measure_is_refused(fields: dict[str, float], message: str) -> None:
    from eventlab.measure.load import LoadSpec

    with pytest.raises(ValueError, match=message):
        LoadSpec.from_dict(fields)


def test_an_experiment_refuses_a_warmup_of_all_its_messages_before_building_anything() -> None:
    from eventlab.experiments import sqs as experiments

    class NoRun:  # any use of the run (a client, a queue) would fail the test
        def __getattr__(self, name: str) -> None:
            raise AssertionError(f"the experiment used run.{name} before checking its load")

    with pytest.raises(ValueError, match="warmup_count=30 leaves none of the 30"):
        experiments.latency_standard_vs_fifo(NoRun(), messages=30, warmup=30)


def test_summarize_reports_the_senders_call_counters_for_a_shared_load() -> None:
    probe = ProbeFactory("r").make(0)
    record = SendRecord(path="p", msg_id=probe.msg_id, key=probe.key, seq=probe.seq, intended_ns=0,
                        start_ns=0, end_ns=1, ok=True, attempts=1)
    log = ReceiptLog("r")
    log.record_payload(probe.to_dict(), path="p", consumer="c")
    row = analysis.summarize(pd.DataFrame([asdict(record)]), log.to_frame(), calls={"calls": 7, "call_throttled": 3}).iloc[0]
    assert (row["calls"], row["throttled_calls"]) == (7, 3)


# -- total loss: sends and no receipts ---------------------------------------------------------
def test_a_path_on_which_nothing_arrived_reports_every_message_lost() -> None:
    sends_df, receipts_df = _frames([], [("m0", 0, 0, 0), ("m1", 1, 10, 10), ("m2", 2, 20, 20)])
    summary = analysis.summarize(sends_df, receipts_df, dlq_ids=["m2"])
    (row,) = summary.to_dict(orient="records")
    assert row["path"] == "q"
    assert (row["sent"], row["delivered"], row["in_dlq"], row["lost"]) == (3, 0, 1, 2)
    assert (row["receipts"], row["unique"], row["duplicates"], row["measured"]) == (0, 0, 0, 0)
    assert all(pd.isna(row[f"latency_{p}_ms"]) for p in ("p50", "p90", "p99", "max"))
    assert pd.isna(row["uncorrected_p50_ms"]) and row["send_delay_p99_ms"] == 0
    assert set(summary.columns) == set(analysis.summarize(*_frames([("m0", 0, 0, 5)], [("m0", 0, 0, 0)])).columns)
    assert len(analysis.latency_table(sends_df, receipts_df)) == 0, "an empty table, not an error"


def test_a_silent_path_beside_a_working_one_has_its_own_row() -> None:
    sends_df, receipts_df = _frames([("m0", 0, 0, 5)], [("m0", 0, 0, 0)])
    silent = sends_df.assign(path="quiet", msg_id=["s0"])
    summary = analysis.summarize(pd.concat([sends_df, silent], ignore_index=True), receipts_df).set_index("path")
    assert summary.loc["q", ["sent", "delivered", "lost"]].tolist() == [1, 1, 0]
    assert summary.loc["quiet", ["sent", "delivered", "lost"]].tolist() == [1, 0, 1]


def test_an_expected_receipt_path_that_received_nothing_has_a_row() -> None:
    # one load (send path "sns") read on two receipt paths; the HTTP subscriber got nothing
    sends_df, receipts_df = _frames([("m0", 0, 0, 5), ("m1", 1, 10, 15)], [("m0", 0, 0, 0), ("m1", 1, 10, 10)])
    sends_df["path"] = "sns"
    receipts_df["path"] = "sns-sqs"
    summary = analysis.summarize(sends_df, receipts_df, paths=["sns-sqs", "sns-http"]).set_index("path")
    assert sorted(summary.index) == ["sns-http", "sns-sqs"], "no row for the send path: the receipt paths read it"
    assert summary.loc["sns-http", ["sent", "delivered", "lost"]].tolist() == [2, 0, 2]
    assert summary.loc["sns-sqs", ["sent", "delivered", "lost"]].tolist() == [2, 2, 0]
    # without being told, a receipt path that reads every send covers the send path
    assert analysis.summarize(sends_df, receipts_df)["path"].tolist() == ["sns-sqs"]


def test_nothing_sent_and_nothing_received_is_an_empty_summary() -> None:
    sends_df, receipts_df = _frames([], [])
    assert analysis.summarize(sends_df, receipts_df).empty


def test_the_latency_plot_of_a_total_loss_says_so() -> None:
    from eventlab.measure import plots

    sends_df, receipts_df = _frames([], [("m0", 0, 0, 0)])
    figure = plots.latency_cdf(analysis.latency_table(sends_df, receipts_df))
    assert [t.get_text() for t in figure.axes[0].texts] == ["no message arrived"]
