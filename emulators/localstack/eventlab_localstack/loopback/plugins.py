"""The loopback plugins, loaded inside the LocalStack process (see :mod:`eventlab_localstack.loopback`).

Imported by LocalStack's plugin manager only; it uses LocalStack's own API.
"""

from __future__ import annotations

import logging
from typing import Any

from localstack import config
from localstack.aws.serving.twisted import TLSMultiplexerFactory
from localstack.runtime import hooks
from localstack.runtime.server.core import RuntimeServer, RuntimeServerPlugin
from localstack.runtime.server.twisted import TwistedRuntimeServer
from rolo.gateway import Gateway
from rolo.serving.twisted import TwistedGateway
from twisted.internet import reactor, ssl

from eventlab_localstack import GATEWAY_SERVER_NAME, LISTEN_HOST
from eventlab_localstack.loopback import node_preload_path

LOG = logging.getLogger(__name__)


class LoopbackTwistedRuntimeServer(TwistedRuntimeServer):
    """LocalStack's twisted gateway server, listening on the host of each GATEWAY_LISTEN entry.

    Upstream's ``register`` (2026.3.0) differs only in that it leaves the interface out for
    IPv4 (``# TODO: interface = host?``), which binds 0.0.0.0. ``listenTCP`` also fails at once
    when the port cannot be had, so LocalStack exits with the reason instead of running deaf.
    """

    def register(
        self,
        gateway: Gateway,
        listen: list[config.HostAndPort],
        ssl_creds: tuple[str, str] | None = None,
    ) -> None:
        site = TwistedGateway(gateway)
        if ssl_creds:
            cert_file_name, key_file_name = ssl_creds
            context_factory = ssl.DefaultOpenSSLContextFactory(key_file_name, cert_file_name)
            context_factory.getContext().use_certificate_chain_file(cert_file_name)
            protocol_factory: Any = TLSMultiplexerFactory(context_factory, False, site)
        else:
            protocol_factory = site
        for host_and_port in listen:
            host = host_and_port.host
            if host in ("", "0.0.0.0", "::"):
                raise ValueError(
                    f"GATEWAY_LISTEN={host_and_port}: the {GATEWAY_SERVER_NAME} gateway listens on "
                    "loopback only; give 127.0.0.1:<port>"
                )
            reactor.listenTCP(host_and_port.port, protocol_factory, interface=host)
            LOG.info("gateway listening on %s", host_and_port)


class LoopbackRuntimeServerPlugin(RuntimeServerPlugin):
    """The plux plugin that ``GATEWAY_SERVER=eventlab-loopback`` selects."""

    name = GATEWAY_SERVER_NAME

    def load(self, *args: Any, **kwargs: Any) -> RuntimeServer:
        return LoopbackTwistedRuntimeServer()


# Node's flags for kinesis-mock, on its command line (NODE_OPTIONS would reach the npm install
# of kinesis-local too). V8 grows its young generation's semi-spaces to 16 MB each under load
# and keeps them; capped at 1 MB, kinesis-mock fell back from ~680 MB to ~130 MB resident once
# idle after 20,000 1 KB records, where it stayed at ~680 MB without (benchmarks/README.md).
NODE_FLAGS = ("--max-semi-space-size=1",)


def node_command(cmd: list[Any], preload: str) -> list[Any]:
    """kinesis-mock's ``node main.js`` with :data:`NODE_FLAGS` and the loopback preload."""
    node, *rest = cmd
    return [node, *NODE_FLAGS, "--require", preload, *rest]


@hooks.on_infra_start()
def eventlab_kinesis_mock_on_loopback() -> None:
    """Start kinesis-mock on Node with the preload that makes it listen on 127.0.0.1 only, and
    with :data:`NODE_FLAGS`."""
    from localstack.services.kinesis.kinesis_mock_server import KinesisMockNodeServer
    from localstack.utils.patch import patch

    preload = node_preload_path()
    if not preload.is_file():
        raise RuntimeError(f"eventlab's Node preload {preload} is missing: reinstall eventlab_localstack")

    @patch(KinesisMockNodeServer._create_shell_command)
    def _create_shell_command(fn: Any, self: KinesisMockNodeServer) -> tuple[list[Any], dict[str, Any]]:
        cmd, env_vars = fn(self)
        LOG.info("kinesis-mock: listening on %s only (node %s --require %s)", LISTEN_HOST, " ".join(NODE_FLAGS), preload)
        return node_command(cmd, str(preload)), env_vars

    installed.append(_create_shell_command.patch)


installed: list[Any] = []  # the patches the hook applied (a test undoes them)
