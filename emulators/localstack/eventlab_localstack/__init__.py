"""eventlab's plugin for LocalStack: what runs inside the LocalStack process, not in the workbook.

- :mod:`eventlab_localstack.lambda_executor`: a Lambda runtime executor that runs Python
  handlers as host processes (no Docker), with the stdlib-only runtime each handler process runs;
- :mod:`eventlab_localstack.loopback`: a gateway server and a start hook that keep every socket
  of LocalStack's process tree (the gateway, kinesis-mock) on 127.0.0.1;
- :mod:`eventlab_localstack.fixes`: repairs of the LocalStack 2026.3.0 bugs the workbook meets.
- :mod:`eventlab_localstack.kinesis_idle`: stops a kinesis-mock that has been idle a while and
  holds no stream (the next Kinesis request starts a new one);
- :mod:`eventlab_localstack.catalog`: LocalStack's service catalog index, built once per
  environment in a child process, so that LocalStack never builds it in its own (~370 MB kept).

This package imports nothing from ``eventlab``: it is meant to be installed into LocalStack's
own Python environment, where the workbook is not. The names below are the contract with the
workbook's side (``eventlab.runtime.localstack`` and ``eventlab.processes`` define the same
names; a unit test keeps the two in agreement).
"""

from __future__ import annotations

# The Lambda runtime executor's plux plugin under EXECUTOR_GROUP; LocalStack's
# LAMBDA_RUNTIME_EXECUTOR setting selects it by this name.
EXECUTOR_NAME = "eventlab"
EXECUTOR_GROUP = "localstack.lambda.runtime_executor"
# The gateway server's plux plugin under GATEWAY_SERVER_GROUP: the value of GATEWAY_SERVER.
GATEWAY_SERVER_NAME = "eventlab-loopback"
GATEWAY_SERVER_GROUP = "localstack.runtime.server"
# The start hook that keeps kinesis-mock on loopback.
KINESIS_HOOK_NAME = "eventlab_kinesis_mock_on_loopback"
KINESIS_HOOK_GROUP = "localstack.hooks.on_infra_start"
# The idle window (seconds; 0 or unset: never) after which a kinesis-mock holding no stream stops.
KINESIS_IDLE_SETTING = "EVENTLAB_KINESIS_IDLE_STOP_S"
# Set in the environment of every process of an emulator (to its state folder) and passed on to
# every handler process, so that the workbook finds, checks and stops them as the emulator's.
MARKER_ENV = "EVENTLAB_EMULATOR_STATE"
# The one address every socket of the emulator listens on.
LISTEN_HOST = "127.0.0.1"
