"""LocalStack's service catalog index, built in a child process so that the emulator never
holds every AWS service specification (a start hook, and ``python -m eventlab_localstack.catalog``).

The problem: to tell which service a request is for, LocalStack 2026.3.0 needs an index of
every service (``localstack.aws.spec.get_service_catalog``). It loads one from a file in its
static-libs folder or its cache folder; when neither exists, it builds the index in its own
process on the first request (``build_service_index_cache``), loading each of the ~400
botocore service specifications through a loader that keeps every one it loaded
(``CustomLoader.load_data`` is an ``instance_cache``). That holds about 370 MB for the
process's life: a fresh LocalStack went from 131 MB to 504 MB resident on its first
``ListQueues``, and neither ``gc.collect()`` nor ``malloc_trim`` gave any of it back. LocalStack's
Docker image avoids it by building the index when the image is built (``python -m
localstack.aws.spec``); a host process has no such step, and every new state folder (a test
session's, a benchmark's) paid it again.

This module is that step. The index depends only on LocalStack's and botocore's versions (its
file name says both), so it is built once per environment, in a child process that exits and
returns the memory, into :func:`shared_dir` (inside LocalStack's environment; ``make
setup-localstack`` builds it there). The start hook (:data:`HOOK_NAME`) copies it into the
state folder's static-libs folder before the first request, where LocalStack looks first. If
anything fails, LocalStack builds the index itself as before: more memory, nothing broken.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOG = logging.getLogger(__name__)

HOOK_NAME = "eventlab_service_catalog"
# The child: LocalStack's own builder, writing the index to the path it is given.
_BUILD = "import sys; from localstack.aws.spec import build_service_index_cache; build_service_index_cache(sys.argv[1])"
BUILD_TIMEOUT = 300.0


def shared_dir() -> Path:
    """Where LocalStack's environment keeps the index it built (one file per LocalStack and botocore version)."""
    return Path(sys.prefix) / "share" / "eventlab-localstack"


def file_name() -> str:
    """The index's file name, as LocalStack names it (its version and botocore's)."""
    from localstack.aws.spec import _get_catalog_filename

    return str(_get_catalog_filename())


def places() -> list[Path]:
    """Where LocalStack looks for an index, in its order: the static-libs folder, then the cache."""
    from localstack import config

    return [Path(folder) / file_name() for folder in (config.dirs.static_libs, config.dirs.cache) if folder]


def build(target: Path) -> Path:
    """Build the index into ``target`` in a child process (its memory goes with it); atomic."""
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".building-") as scratch:
        partial = Path(scratch) / target.name
        subprocess.run([sys.executable, "-c", _BUILD, str(partial)], check=True, capture_output=True,
                       text=True, timeout=BUILD_TIMEOUT)
        os.replace(partial, target)
    LOG.info("eventlab: built LocalStack's service catalog index %s in a child process in %.1f s",
             target, time.monotonic() - started)
    return target


def shared_index() -> Path:
    """The environment's index, built first if it is not there yet."""
    shared = shared_dir() / file_name()
    return shared if shared.is_file() else build(shared)


def ensure_index() -> Path:
    """An index where LocalStack looks for one, so that it loads it instead of building it."""
    for place in places():
        if place.is_file():
            return place
    target = places()[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_index(), target)
    return target


def install_index() -> None:
    """The start hook: :func:`ensure_index`, or a warning that LocalStack will build it itself."""
    try:
        LOG.debug("eventlab: LocalStack's service catalog index: %s", ensure_index())
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", None) or ""
        LOG.warning("eventlab: could not provide LocalStack's service catalog index (%s%s); LocalStack "
                    "builds it in its own process, which keeps about 370 MB more resident", error,
                    f": {detail.strip()[-500:]}" if detail else "")


try:  # the hook exists only where LocalStack is installed; the names above are importable anywhere
    from localstack.runtime import hooks
except ImportError:  # pragma: no cover - LocalStack is not installed
    pass
else:
    # Ahead of LocalStack's own start hooks (the fixes run at 100; nothing here depends on them).
    eventlab_service_catalog = hooks.on_infra_start(name=HOOK_NAME, priority=90)(install_index)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(shared_index())
