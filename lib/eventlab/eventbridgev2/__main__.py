"""``python -m eventlab.eventbridgev2 --port N --state-dir DIR --backend-endpoint URL --region R``

Runs the Custom Event Bus server in the foreground until SIGTERM or Ctrl-C, logging to stderr.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from eventlab.eventbridgev2.model import ModelUnavailableError
from eventlab.eventbridgev2.server import DEFAULT_ACCOUNT_ID, EventBridgeV2Server, ServerError
from eventlab.eventbridgev2.service import DEFAULT_MAX_EVENT_BUSES
from eventlab.eventbridgev2.store import StoreError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m eventlab.eventbridgev2",
        description="eventlab's local server for the EventBridge Custom Event Bus API (eventbridgev2).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 takes a free one")
    parser.add_argument("--state-dir", type=Path, required=True, help="folder for the SQLite state file")
    parser.add_argument("--backend-endpoint", required=True,
                        help="endpoint URL of the emulator that holds the targets (SQS, SNS, Lambda, Kinesis)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID)
    parser.add_argument("--provisioning-delay", type=float, default=0.5,
                        help="seconds a bus stays CREATING/UPDATING/DELETING (default 0.5)")
    parser.add_argument("--max-event-buses", type=int, default=DEFAULT_MAX_EVENT_BUSES,
                        help="the [EventsV2] Event Buses quota (AWS's default: 5)")
    parser.add_argument("--retry-base-delay", type=float, default=1.0,
                        help="first retry delay in seconds; later ones double, with jitter")
    parser.add_argument("--retry-max-delay", type=float, default=60.0, help="longest retry delay in seconds")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        server = EventBridgeV2Server(
            state_dir=args.state_dir, backend_endpoint=args.backend_endpoint, region=args.region,
            host=args.host, port=args.port, account_id=args.account_id,
            provisioning_delay=args.provisioning_delay, max_event_buses=args.max_event_buses,
            retry_base_delay=args.retry_base_delay, retry_max_delay=args.retry_max_delay,
        ).start()
    except (ServerError, StoreError, ModelUnavailableError) as error:
        logging.getLogger("eventlab.eventbridgev2").error("%s", error)
        return 2
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
