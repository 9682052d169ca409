"""Lambda start-up on the embedded LocalStack (not a test): time to Active, cold start, warm invokes.

    .venv/bin/python benchmarks/lambda_startup.py --invokes 50

Starts (or reuses) the embedded LocalStack, deploys a handler that returns at once under a
fresh run, and writes one JSON document to stdout; the run is destroyed afterwards. The
figures describe the emulator on this machine, not AWS.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eventlab.run import Run
from eventlab.runtime import EmbeddedLocalStack, localstack_version
from eventlab.services import lambda_
from eventlab.target import Target

log = logging.getLogger(__name__)

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
INIT_RE = re.compile(r"Init Duration: ([0-9.]+) ms")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def measure(target: Target, invokes: int = 50) -> dict[str, Any]:
    """Deploy a trivial function under a new run, invoke it cold once and warm ``invokes`` times."""
    with Run(target) as run, tempfile.TemporaryDirectory() as code:
        Path(code, "main.py").write_text(HANDLER)
        started = time.perf_counter()
        function = lambda_.create_function(run, "measure", code, timeout=10)
        to_active = time.perf_counter() - started

        started = time.perf_counter()
        cold = lambda_.invoke(run, function, {})
        cold_seconds = time.perf_counter() - started
        init = INIT_RE.search(cold.log_tail)

        warm: list[float] = []
        for _ in range(invokes):
            started = time.perf_counter()
            result = lambda_.invoke(run, function, {}, tail=False)
            warm.append(time.perf_counter() - started)
            if not result.ok:
                raise RuntimeError(f"warm invoke failed: {result.payload}")
        warm.sort()
        return {
            "target": target.describe(),
            "localstack": localstack_version(),
            "python": sys.version.split()[0],
            "create_to_active_ms": _ms(to_active),
            "cold_invoke_ms": _ms(cold_seconds),
            "cold_init_duration_ms": float(init.group(1)) if init else None,
            "warm_invokes": invokes,
            "warm_p50_ms": _ms(statistics.median(warm)),
            "warm_p90_ms": _ms(warm[int(0.9 * (len(warm) - 1))]),
            "warm_max_ms": _ms(warm[-1]),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=50, help="warm invocations to time")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with EmbeddedLocalStack() as localstack:
        result = measure(Target.localstack(localstack.endpoint_url), args.invokes)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
