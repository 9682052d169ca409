"""Lambda on the embedded LocalStack without Docker: a runtime executor that runs handlers as
host processes (:mod:`eventlab.lambda_.executor`, loaded inside LocalStack) and the small
runtime each handler process runs (:mod:`eventlab.lambda_.bootstrap`).

Kept free of LocalStack imports, so that :mod:`eventlab.runtime` can read the executor's name.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

# The plugin name under ``localstack.lambda.runtime_executor`` (see pyproject.toml), and the
# value of LocalStack's LAMBDA_RUNTIME_EXECUTOR setting that selects it.
EXECUTOR_NAME = "eventlab"
ENTRY_POINT_GROUP = "localstack.lambda.runtime_executor"


def executor_bootstrap_path() -> Path:
    """The file each handler process runs (``python -P <this file>``)."""
    return Path(__file__).with_name("bootstrap.py")


def executor_registered() -> bool:
    """True when this environment's metadata has the executor's entry point. Without it,
    LocalStack silently falls back to its Docker executor and every Lambda invoke fails."""
    return any(
        ep.name == EXECUTOR_NAME for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    )
