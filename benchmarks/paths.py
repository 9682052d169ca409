"""Latency of every path on the embedded LocalStack, beside the published AWS figures.

Not a test: a quick look (about a minute) at what the emulator does per path at a modest
open-loop rate. LocalStack's latencies are not AWS's; the published figures are printed
beside them, with their sources. Run: ``.venv/bin/python benchmarks/paths.py [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd

from eventlab.measure.load import LoadSpec
from eventlab.measure.results import published_figures
from eventlab.measure.workloads import measure_eventbridge, measure_kinesis, measure_sns, measure_sqs
from eventlab.run import Run
from eventlab.runtime import EmbeddedLocalStack
from eventlab.target import Target

COLUMNS = ["path", "measured", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms",
           "uncorrected_p99_ms", "send_call_p50_ms", "send_call_p99_ms", "send_delay_p99_ms", "duplicates", "inversions", "lost"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="messages per second per path")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of load per path (first second is warm-up)")
    parser.add_argument("--json", type=Path, help="also write every result's JSON record here (a folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # 8 keys over 8 sender threads, each key on one thread: the producer keeps per-key order and
    # has calls in flight enough to keep the schedule when a call takes longer than 1/rate
    spec = LoadSpec(rate=args.rate, duration_s=args.seconds, warmup_s=1.0, keys=8, threads=8, progress=False)
    rows = []
    with EmbeddedLocalStack() as localstack:
        target = Target.localstack(localstack.endpoint_url)
        with Run(target) as run:
            results = [
                measure_sqs(run, spec),
                measure_sqs(run, spec, fifo=True, receivers=1),
                measure_sns(run, spec),
                measure_eventbridge(run, spec),
                # kinesis-mock answers a PutRecord in about as long as a PutRecords of many
                measure_kinesis(run, replace(spec, batch=10), shards=2),
            ]
            for result in results:
                rows.append(result.summary)
                if args.json:
                    result.save(args.json)
    local = pd.concat(rows, ignore_index=True)[COLUMNS]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 1):
        print(f"LocalStack, open loop at {args.rate:g} msg/s for {args.seconds:g} s per path (latency from intended send time, ms):")
        print(local.to_string(index=False))
        print("\nPublished AWS figures (not comparable one to one: Lambda to Lambda, eu-west-1):")
        print(published_figures().to_string(index=False))
    print(json.dumps({"lost": int(local["lost"].sum())}))
    return 0 if local["lost"].sum() == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
