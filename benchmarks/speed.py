"""Speed benchmark of the measurement toolkit itself (not a test): can it measure honestly here?

Against its own embedded LocalStack, it checks three figures and prints each as a ratio to
its goal, all measured in this one run:

1. offered load: the generator offers at least 1,000 msg/s to SQS (batched, threaded);
2. send delay: at 200 msg/s (open loop, unbatched) the send-delay p99 stays under 10 ms;
3. probe overhead: sending probes through the toolkit costs less than 5% more than plain
   boto3 SendMessage calls with bodies of the same size (alternating rounds, medians); the
   bookkeeping alone (make, encode, record) is also timed without any call, as a share of one.
4. Dask producers: the rate offered to SQS by 2 Dask workers (``measure.distributed``, closed
   loop, batches of 10, one sending thread each) is at least 0.9 of what plain boto3
   SendMessageBatch loops offer from 2 processes of their own with the same batching; the same
   ratio for 1 worker is reported. The two alternate round by round (ABBA) on warm workers and
   processes, each as fast as it goes; the plain processes are the comparison, not the product.

Run: ``.venv/bin/python benchmarks/speed.py`` (about three minutes; ``--only dask`` runs figure
4 alone). ``--json PATH`` also writes the figures with their provenance.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from botocore.config import Config

from eventlab.measure import analysis, distributed
from eventlab.measure.consumers import SqsReceiver
from eventlab.measure.load import LoadGenerator, LoadSpec, RetryPolicy, run_load, send_with_retries
from eventlab.measure.probes import ProbeFactory, ReceiptLog, SendLog, SendRecord
from eventlab.measure.results import provenance
from eventlab.measure.senders import SqsSender
from eventlab.run import Run
from eventlab.runtime import EmbeddedLocalStack
from eventlab.services import sqs
from eventlab.target import Target

log = logging.getLogger("benchmarks.speed")

GOAL_RATE = 1000.0  # msg/s offered
GOAL_DELAY_P99_MS = 10.0  # at 200 msg/s
GOAL_OVERHEAD = 0.05  # 5%
GOAL_DASK_RATIO = 0.9  # 2 Dask workers against 2 plain processes
DELAY_THREADS = 128
# Ratios: measured / goal. Rate: >= 1 passes. Delay and overhead: < 1 passes (negative
# overhead means the difference is inside the noise of a shared machine).


def offered_rate(run: Run, seconds: float) -> dict[str, Any]:
    """Open loop at 1,500 msg/s, batches of 10 over 4 threads; the rate actually offered."""
    queue = sqs.create_queue(run, "speed-rate")
    client = run.target.client("sqs")
    spec = LoadSpec(rate=1500, duration_s=seconds, batch=10, threads=4, progress=False)
    load = run_load(SqsSender(client, queue.url, batch=True), run.run_id, spec)
    sends = load.frame()
    ok = sends[sends["ok"]]
    span_s = (ok["end_ns"].max() - sends["intended_ns"].min()) / 1e9
    rate = len(ok) / span_s
    return {"asked_rate": spec.rate, "sent": len(ok), "span_s": span_s, "offered_rate": rate, "ratio": rate / GOAL_RATE}


def send_delay(run: Run, seconds: float) -> dict[str, Any]:
    """Open loop at 200 msg/s, one probe per call, with a receiver running as in a real run.

    128 sender threads: the emulator now and then stalls every call for 200-400 ms (seen
    here), and a sender with fewer calls in flight than the rate times the stall (40-80)
    falls behind its schedule; the latency from intended time counts the stall either way.
    Calls that took over 100 ms are counted as emulator stalls.
    """
    queue = sqs.create_queue(run, "speed-delay")
    client = run.target.client("sqs")
    receipts = ReceiptLog(run.run_id)
    spec = LoadSpec(rate=200, duration_s=seconds, threads=DELAY_THREADS, warmup_s=1.0, progress=False)
    with SqsReceiver(client, queue.url, receipts, threads=1):
        load = run_load(SqsSender(client, queue.url), run.run_id, spec)
        receipts.wait_for(int(load.frame()["ok"].sum()), timeout=30)
    delay = analysis.send_delays(load.frame())
    measured = load.frame()[~load.frame()["warmup"]]
    stalls = int(((measured["end_ns"] - measured["start_ns"]) > 100_000_000).sum())
    summary = analysis.summarize(load.frame(), receipts.to_frame()).iloc[0]
    return {
        "send_delay_ms": delay,
        "p99_ms": delay["p99"],
        "ratio": delay["p99"] / GOAL_DELAY_P99_MS,
        "latency_p50_ms": summary["latency_p50_ms"],
        "latency_p99_ms": summary["latency_p99_ms"],
        "lost": int(summary["lost"]),
        "calls_over_100ms": stalls,
    }


def probe_overhead(run: Run, messages: int, rounds: int) -> dict[str, Any]:
    """Per message: a plain boto3 SendMessage against the toolkit's send path for one probe
    (make the probe, encode it, send through SqsSender with retry bookkeeping, record it).

    The two alternate message by message (ABBA) on one thread and one connection, and each
    is timed alone; medians of the per-message times resist the emulator's occasional stalls.
    The bookkeeping alone (no call) is timed too: the part of the overhead that is ours.
    Whole generator runs (thread start-up included) are timed too, alternating, for reference.
    """
    queue = sqs.create_queue(run, "speed-overhead")
    client = run.target.client("sqs")
    body = ProbeFactory(run.run_id).make(time.time_ns()).to_json()
    factory = ProbeFactory(run.run_id)
    sender = SqsSender(client, queue.url)
    policy = RetryPolicy()
    log_ = SendLog()

    def probed_one() -> None:
        probe = factory.make(time.time_ns())
        record = SendRecord(sender.path, probe.msg_id, probe.key, probe.seq, probe.intended_ns)
        send_with_retries(sender, [(probe, record)], policy)
        log_.extend([record])

    for _ in range(20):  # warm both paths
        client.send_message(QueueUrl=queue.url, MessageBody=body)
        probed_one()
    plain_ns: list[int] = []
    probed_ns: list[int] = []

    def time_plain() -> None:
        began = time.perf_counter_ns()
        client.send_message(QueueUrl=queue.url, MessageBody=body)
        plain_ns.append(time.perf_counter_ns() - began)

    def time_probed() -> None:
        began = time.perf_counter_ns()
        probed_one()
        probed_ns.append(time.perf_counter_ns() - began)

    for i in range(messages * rounds):  # ABBA order: neither path always goes first
        for step in ((time_plain, time_probed) if i % 2 == 0 else (time_probed, time_plain)):
            step()
    cpu_factory = ProbeFactory(run.run_id)
    began = time.perf_counter_ns()
    for _ in range(10_000):  # the bookkeeping alone, no call: make, encode, record
        probe = cpu_factory.make(time.time_ns())
        probe.to_json()
        SendRecord(sender.path, probe.msg_id, probe.key, probe.seq, probe.intended_ns)
    bookkeeping_ns = (time.perf_counter_ns() - began) / 10_000

    def generator_run() -> float:
        generator = LoadGenerator(sender, ProbeFactory(run.run_id), LoadSpec(mode="closed", count=messages, progress=False))
        began = time.perf_counter()
        generator.run()
        return time.perf_counter() - began

    def plain_run() -> float:
        began = time.perf_counter()
        for _ in range(messages):
            client.send_message(QueueUrl=queue.url, MessageBody=body)
        return time.perf_counter() - began

    runs_plain, runs_gen = [], []
    for _ in range(3):
        runs_plain.append(plain_run())
        runs_gen.append(generator_run())
    client.purge_queue(QueueUrl=queue.url)
    plain_med = statistics.median(plain_ns)
    probed_med = statistics.median(probed_ns)
    ratio = probed_med / plain_med
    return {
        "messages": messages * rounds,
        "plain_median_us": plain_med / 1000,
        "probed_median_us": probed_med / 1000,
        "probed_over_plain": ratio,
        "overhead": ratio - 1,
        "ratio": (ratio - 1) / GOAL_OVERHEAD,
        "generator_runs_s": runs_gen,
        "plain_runs_s": runs_plain,
        "generator_over_plain": statistics.median(runs_gen) / statistics.median(runs_plain),
        "bookkeeping_us": bookkeeping_ns / 1000,
        "bookkeeping_share": bookkeeping_ns / plain_med,
    }


def _plain_producer(target: dict[str, Any], queue_url: str, body: str, start_ns: int, seconds: float, batch: int) -> tuple[int, int]:
    """One plain process: its own boto3 client, SendMessageBatch in a loop from ``start_ns`` for
    ``seconds``; returns (messages accepted, when the last reply came)."""
    client = Target.from_description(target).client("sqs")
    entries = [{"Id": str(i), "MessageBody": body} for i in range(batch)]
    pause = (start_ns - time.time_ns()) / 1e9
    if pause > 0:
        time.sleep(pause)
    end_ns = start_ns + int(seconds * 1e9)
    sent, last = 0, start_ns
    while time.time_ns() < end_ns:
        reply = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
        sent += len(reply.get("Successful", []))
        last = time.time_ns()
    return sent, last


def _dask_round(run: Run, pool: distributed.Pool, spec: LoadSpec, name: str) -> float:
    """msg/s offered by the pool's workers to a fresh queue, from the schedule's start to the last reply."""
    queue = sqs.create_queue(run, name)
    offered = pool.offer(run, SqsSender(run.target.client("sqs"), queue.url, batch=True), spec)
    sends = [load.frame() for load in offered.loads]
    ok = sum(int(frame["ok"].sum()) for frame in sends)
    start = min(int(frame["intended_ns"].min()) for frame in sends)
    last = max(int(frame["end_ns"].max()) for frame in sends)
    return ok / ((last - start) / 1e9)


def _plain_round(run: Run, plain: ProcessPoolExecutor, n: int, body: str, seconds: float, name: str) -> float:
    """msg/s offered by ``n`` plain processes to a fresh queue, from their common start to the last reply."""
    queue = sqs.create_queue(run, name)
    start = time.time_ns() + int(distributed.START_LEAD_S * 1e9)
    jobs = [plain.submit(_plain_producer, run.target.describe(), queue.url, body, start, seconds, 10) for _ in range(n)]
    done = [job.result() for job in jobs]
    return sum(sent for sent, _ in done) / ((max(last for _, last in done) - start) / 1e9)


def dask_against_plain(run: Run, seconds: float, rounds: int, sizes: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """For 1 and 2 producers: the rate offered by Dask workers and by plain processes, alternating
    ABBA over ``rounds`` pairs on warm workers and processes (each round a fresh queue)."""
    body = ProbeFactory(run.run_id, size=256).make(time.time_ns()).to_json()
    spec = LoadSpec(mode="closed", duration_s=seconds, batch=10, size=256, threads=1, progress=False)
    figures: dict[str, Any] = {}
    context = multiprocessing.get_context("spawn")
    for n in sizes:
        dask_rates: list[float] = []
        plain_rates: list[float] = []
        with distributed.connect(workers=n, dashboard=False) as pool, ProcessPoolExecutor(n, mp_context=context) as plain:
            list(plain.map(time.sleep, [0] * n))  # the processes are up before the first round
            for number in range(rounds):  # ABBA: neither side always goes first
                for side in ("dask", "plain") if number % 2 == 0 else ("plain", "dask"):
                    if side == "dask":
                        dask_rates.append(_dask_round(run, pool, spec, f"speed-dask{n}-{number}"))
                    else:
                        plain_rates.append(_plain_round(run, plain, n, body, seconds, f"speed-plain{n}-{number}"))
        ratio = statistics.median(dask_rates) / statistics.median(plain_rates)
        figures[f"workers_{n}"] = {"dask_rates": dask_rates, "plain_rates": plain_rates, "ratio": ratio}
    figures["ratio"] = figures["workers_2"]["ratio"] / GOAL_DASK_RATIO if "workers_2" in figures else float("nan")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the rate and delay runs")
    parser.add_argument("--messages", type=int, default=200, help="messages per overhead round")
    parser.add_argument("--rounds", type=int, default=5, help="overhead rounds (alternating sends)")
    parser.add_argument("--dask-rounds", type=int, default=4, help="rounds of Dask against plain processes (ABBA)")
    parser.add_argument("--only", choices=("dask",), help="run one figure only")
    parser.add_argument("--json", type=Path, help="also write the figures and provenance here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    load_before = os.getloadavg()
    with EmbeddedLocalStack() as localstack:
        target = Target.localstack(localstack.endpoint_url)
        # room for every sender thread's call in flight (the default pool holds 64)
        target.client_config = target.client_config.merge(Config(max_pool_connections=DELAY_THREADS + 32))
        with Run(target) as run:
            if args.only is None:
                rate = offered_rate(run, args.seconds)
                delay = send_delay(run, args.seconds)
                overhead = probe_overhead(run, args.messages, args.rounds)
            dask = dask_against_plain(run, args.seconds, args.dask_rounds)
        figures = {"dask_against_plain": dask, "load_average_before": load_before}
        if args.only is None:
            figures |= {"offered_rate": rate, "send_delay": delay, "probe_overhead": overhead}
        meta = provenance(target, vars(args) | {"json": str(args.json) if args.json else None})

    before = load_before
    after = os.getloadavg()
    figures["load_average_after"] = after
    print(f"eventlab speed benchmark on {meta['machine']['cores']} cores, LocalStack {meta['localstack_version']}, commit {str(meta['git']['commit'])[:10]}")
    busy = max(before[0], after[0]) > meta["machine"]["cores"]
    note = ": above the core count, other processes compete for the CPU and timings suffer" if busy else ""
    print(f"machine load average (1 min) {before[0]:.1f} before, {after[0]:.1f} after{note}")
    ok = [dask["ratio"] >= 1]
    for n in (1, 2):
        one = dask[f"workers_{n}"]
        rates = ", ".join(f"{d:.0f}/{p:.0f}" for d, p in zip(one["dask_rates"], one["plain_rates"], strict=True))
        goal = f"goal >= {GOAL_DASK_RATIO:.1f}   ratio {dask['ratio']:.2f}  {'PASS' if ok[0] else 'FAIL'}" if n == 2 else "(reported)"
        print(f"4. Dask/plain, {n} worker(s) {one['ratio']:6.2f}            {goal}"
              f"   (msg/s Dask/plain by round, ABBA: {rates}; batch 10, one thread each, closed loop as the plain loops)")
    if args.only is not None:
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"figures": figures, "provenance": meta}, indent=2, default=str) + "\n")
        return 0 if all(ok) else 1
    ok += [rate["ratio"] >= 1, delay["ratio"] < 1, overhead["ratio"] < 1]
    print(f"1. offered rate to SQS   {rate['offered_rate']:8.0f} msg/s   goal >= {GOAL_RATE:.0f}     ratio {rate['ratio']:.2f}  {'PASS' if ok[1] else 'FAIL'}"
          f"   ({rate['sent']} msgs in {rate['span_s']:.2f} s, asked {rate['asked_rate']:.0f}/s, batch 10, 4 threads)")
    print(f"2. send delay p99 @200/s {delay['p99_ms']:8.2f} ms      goal < {GOAL_DELAY_P99_MS:.0f} ms    ratio {delay['ratio']:.2f}  {'PASS' if ok[2] else 'FAIL'}"
          f"   (p50 {delay['send_delay_ms']['p50']:.2f}, p99.9 {delay['send_delay_ms']['p99.9']:.2f}, max {delay['send_delay_ms']['max']:.2f} ms;"
          f" {DELAY_THREADS} threads; {delay['calls_over_100ms']} calls took > 100 ms; end-to-end latency p50 {delay['latency_p50_ms']:.1f} / p99 {delay['latency_p99_ms']:.1f} ms, lost {delay['lost']})")
    print(f"3. probe overhead        {overhead['overhead'] * 100:8.2f} %       goal < {GOAL_OVERHEAD * 100:.0f} %      ratio {overhead['ratio']:.2f}  {'PASS' if ok[3] else 'FAIL'}"
          f"   (median per send {overhead['probed_median_us']:.0f} us vs {overhead['plain_median_us']:.0f} us plain, {overhead['messages']} alternating sends;"
          f" whole closed-loop runs {overhead['generator_over_plain']:.3f}x plain;"
          f" bookkeeping alone {overhead['bookkeeping_us']:.1f} us/msg = {overhead['bookkeeping_share'] * 100:.2f} % of a plain call)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"figures": figures, "provenance": meta}, indent=2, default=str) + "\n")
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
