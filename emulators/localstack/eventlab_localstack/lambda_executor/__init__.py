"""Lambda on LocalStack without Docker: a runtime executor that runs handlers as host processes
(:mod:`.executor`, loaded inside LocalStack) and the small runtime each handler process runs
(:mod:`.bootstrap`, standard library only).

Kept free of LocalStack imports, so that the bootstrap's location can be read anywhere.
"""

from __future__ import annotations

from pathlib import Path


def bootstrap_path() -> Path:
    """The file each handler process runs (``python -P <this file>``)."""
    return Path(__file__).with_name("bootstrap.py")
