"""Keeps every listening socket of the embedded LocalStack on 127.0.0.1.

LocalStack 2026.3.0 honours the port of ``GATEWAY_LISTEN`` but not its host: its default
gateway server (twisted, ``localstack/runtime/server/twisted.py``) opens
``TCP4ServerEndpoint(reactor, port)`` with no interface, which is 0.0.0.0. kinesis-mock (the
npm package kinesis-local, started by LocalStack on Node for Kinesis) has no setting for its
address at all and binds every interface too. Neither has a setting that fixes it, so two small
plugins loaded inside LocalStack do (:mod:`eventlab.loopback.localstack`):

- a gateway server, selected with ``GATEWAY_SERVER`` (:data:`GATEWAY_SERVER_NAME`), that is
  LocalStack's own twisted server with the host passed on. If the plugin is missing LocalStack
  refuses to start ("Unknown gateway server type") rather than listen on every interface;
- a start hook that runs kinesis-mock as ``node --require <listen-loopback.js> main.js``; the
  preload makes Node's ``net.Server.listen`` bind 127.0.0.1.

Kept free of LocalStack imports, so that :mod:`eventlab.runtime` can read the names. eventlab
does not trust these alone: after every start it checks each socket of the process tree
(:func:`eventlab.processes.listeners`).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

# The plux plugin under ``localstack.runtime.server`` (see pyproject.toml): GATEWAY_SERVER's value.
GATEWAY_SERVER_NAME = "eventlab-loopback"
GATEWAY_SERVER_GROUP = "localstack.runtime.server"
# The start hook under ``localstack.hooks.on_infra_start`` that keeps kinesis-mock on loopback.
KINESIS_HOOK_NAME = "eventlab_kinesis_mock_on_loopback"
KINESIS_HOOK_GROUP = "localstack.hooks.on_infra_start"
LISTEN_HOST = "127.0.0.1"


def node_preload_path() -> Path:
    """The script Node loads before kinesis-mock (``node --require <this> main.js``)."""
    return Path(__file__).with_name("listen-loopback.js")


def missing_plugins() -> list[str]:
    """The loopback plugins this environment's metadata lacks (empty when all are registered)."""
    wanted = {(GATEWAY_SERVER_GROUP, GATEWAY_SERVER_NAME), (KINESIS_HOOK_GROUP, KINESIS_HOOK_NAME)}
    return sorted(
        f"{group}:{name}"
        for group, name in wanted
        if not any(ep.name == name for ep in importlib.metadata.entry_points(group=group))
    )
