"""Keeps every listening socket of LocalStack on 127.0.0.1.

LocalStack 2026.3.0 honours the port of ``GATEWAY_LISTEN`` but not its host: its default
gateway server (twisted, ``localstack/runtime/server/twisted.py``) opens
``TCP4ServerEndpoint(reactor, port)`` with no interface, which is 0.0.0.0. kinesis-mock (the
npm package kinesis-local, started by LocalStack on Node for Kinesis) has no setting for its
address at all and binds every interface too. Neither has a setting that fixes it, so two small
plugins loaded inside LocalStack do (:mod:`.plugins`):

- a gateway server, selected with ``GATEWAY_SERVER`` (:data:`eventlab_localstack.GATEWAY_SERVER_NAME`),
  that is LocalStack's own twisted server with the host passed on. If the plugin is missing
  LocalStack refuses to start ("Unknown gateway server type") rather than listen on every interface;
- a start hook that runs kinesis-mock as ``node --require <listen-loopback.js> main.js``; the
  preload makes Node's ``net.Server.listen`` bind 127.0.0.1.

The workbook does not trust these alone: after every start it checks each socket of the process
tree (``eventlab.processes.listeners``).
"""

from __future__ import annotations

from pathlib import Path


def node_preload_path() -> Path:
    """The script Node loads before kinesis-mock (``node --require <this> main.js``)."""
    return Path(__file__).with_name("listen-loopback.js")
