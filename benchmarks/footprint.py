"""Footprint of an embedded emulator (not a test): memory across repeated SQS runs, idle CPU.

An emulator that keeps something per message grows without bound over a workshop day, and
one with busy background tasks takes a core from the notebooks. This starts an emulator of
``--backend`` (LocalStack by default, or MiniStack) of its own (own state folder, the settings
eventlab uses, plus any ``--setting``), or with ``--attach`` measures the one already running
(say, after ``make run``: the idle figures after the notebook series), then repeats:
a fresh run sends ``--messages`` messages to a new queue (batches of 10 over 4 threads),
receives and deletes them all, and deletes the queue. After each repeat it reads the resident
memory and the CPU time of the emulator's whole process tree. Finally it leaves the emulator
idle for ``--idle`` seconds and reports the CPU share it used meanwhile.

Run: ``.venv/bin/python benchmarks/footprint.py`` (about 3 minutes for the defaults);
``--setting SQS_DISABLE_CLOUDWATCH_METRICS=0`` shows LocalStack's default behaviour;
``--backend ministack --attach --repeats 0`` the idle running MiniStack.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from eventlab.measure.results import provenance
from eventlab.run import Run
from eventlab.runtime import EmulatorProcess, backend_name, emulator_class
from eventlab.services import sqs
from eventlab.target import Target

log = logging.getLogger("benchmarks.footprint")

THREADS = 4
BODY = "x" * 256


def tree_usage(runtime: EmulatorProcess) -> dict[str, float]:
    """Resident memory (MB) and CPU seconds of every process of the emulator, summed."""
    rss = cpu = 0.0
    for proc in runtime.processes():
        try:
            with proc.oneshot():
                rss += proc.memory_info().rss
                times = proc.cpu_times()
                cpu += times.user + times.system
        except psutil.Error:
            continue
    return {"rss_mb": round(rss / 2**20, 1), "cpu_s": round(cpu, 2)}


def sqs_round(target: Target, messages: int) -> float:
    """Send, receive and delete ``messages`` messages through a new queue; seconds taken."""
    started = time.perf_counter()
    with Run(target) as run:
        queue = sqs.create_queue(run, "footprint")
        client = target.client("sqs")
        per_thread = messages // THREADS

        def send(worker: int) -> None:
            for start in range(0, per_thread, 10):
                entries = [{"Id": str(i), "MessageBody": BODY} for i in range(min(10, per_thread - start))]
                client.send_message_batch(QueueUrl=queue.url, Entries=entries)

        def drain(worker: int) -> int:
            got = 0
            idle = 0
            while idle < 3:
                reply = client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
                batch = reply.get("Messages", [])
                if not batch:
                    idle += 1
                    continue
                idle = 0
                got += len(batch)
                client.delete_message_batch(
                    QueueUrl=queue.url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
                )
            return got

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(send, range(THREADS)))
            received = sum(pool.map(drain, range(THREADS)))
        if received < per_thread * THREADS:
            log.warning("received %d of %d messages", received, per_thread * THREADS)
    return round(time.perf_counter() - started, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measured at the end")
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a LocalStack setting on top of eventlab's (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--backend", default=None, help="localstack or ministack (default: EVENTLAB_BACKEND, else localstack)")
    parser.add_argument("--attach", action="store_true", help="measure the running embedded emulator instead of a new one")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")
    settings = dict(pair.split("=", 1) for pair in args.setting)

    backend = backend_name(args.backend)
    kind = emulator_class(backend)
    with tempfile.TemporaryDirectory(prefix="eventlab-footprint-") as state:
        if args.attach:
            runtime = kind()
            if runtime.running() is None:
                parser.error(f"no running {kind.backend.name}: start it with `eventlab up --backend {backend}`")
        else:
            runtime = kind(state_dir=Path(state) / backend, reuse=False, extra_env=settings)
        with runtime:
            target = Target.emulator(runtime.endpoint_url, backend=backend)
            produced_by = provenance(target, {"messages": args.messages, "repeats": args.repeats, "settings": settings, "attached": args.attach})
            time.sleep(2)
            rows: list[dict[str, Any]] = [{"after": "start", **tree_usage(runtime)}]
            for repeat in range(1, args.repeats + 1):
                seconds = sqs_round(target, args.messages)
                rows.append({"after": f"run {repeat}", "seconds": seconds, **tree_usage(runtime)})
                log.info("%s", rows[-1])
            before = tree_usage(runtime)
            time.sleep(args.idle)
            after = tree_usage(runtime)
            idle_cpu = round((after["cpu_s"] - before["cpu_s"]) / args.idle * 100, 1)
            rows.append({"after": f"{args.idle:.0f} s idle", "idle_cpu_percent": idle_cpu, **after})

    print(f"{'after':<12} {'rss MB':>8} {'cpu s':>8}  note")
    for row in rows:
        note = f"{row['seconds']} s for {args.messages} messages" if "seconds" in row else ""
        if "idle_cpu_percent" in row:
            note = f"idle CPU {row['idle_cpu_percent']}% of one core"
        print(f"{row['after']:<12} {row['rss_mb']:>8} {row['cpu_s']:>8}  {note}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "provenance": produced_by}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
