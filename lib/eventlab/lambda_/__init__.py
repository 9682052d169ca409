"""Lambda on the embedded LocalStack without Docker: a runtime executor that runs handlers as
host processes (:mod:`eventlab.lambda_.executor`, loaded inside LocalStack) and the small
runtime each handler process runs (:mod:`eventlab.lambda_.bootstrap`).

Kept free of LocalStack imports, so that :mod:`eventlab.runtime` can read the executor's name.
"""

from __future__ import annotations

from pathlib import Path

# The plugin name under ``localstack.lambda.runtime_executor`` (see pyproject.toml), and the
# value of LocalStack's LAMBDA_RUNTIME_EXECUTOR setting that selects it.
EXECUTOR_NAME = "eventlab"


def executor_bootstrap_path() -> Path:
    """The file each handler process runs (``python -P <this file>``)."""
    return Path(__file__).with_name("bootstrap.py")
