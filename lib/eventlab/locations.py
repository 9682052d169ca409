"""Where eventlab keeps its files: the project root and its git-ignored build folder (file locations;
a "path" in eventlab is a message path, see :mod:`eventlab.measure.paths`)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The workbook checkout: ``$EVENTLAB_HOME``, else the checkout this package lives in, else cwd.

    The package sits in ``<root>/lib/eventlab`` in a checkout (and in an editable install), so
    notebooks, the CLI and tests all agree on one build folder wherever they are started from.
    """
    env = os.environ.get("EVENTLAB_HOME")
    if env:
        return Path(env).resolve()
    candidate = _PACKAGE_DIR.parent.parent
    if (candidate / "pyproject.toml").is_file() and (candidate / "lib" / "eventlab").is_dir():
        return candidate
    return Path.cwd().resolve()


def data_dir() -> Path:
    """The committed data: topologies (YAML), published AWS figures, benchmark baselines."""
    return project_root() / "data"


def topology_file(name: str) -> Path:
    """A committed topology, ``data/topologies/<name>.yaml``."""
    return data_dir() / "topologies" / f"{name}.yaml"


def build_dir() -> Path:
    """The ignored folder for everything a run produces: LocalStack's state, logs, executed notebooks."""
    env = os.environ.get("EVENTLAB_BUILD_DIR")
    path = Path(env).resolve() if env else project_root() / "build"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (made if missing) for the block: serialises what
    several processes do to one folder (an emulator's start and stop, the fidelity results that
    parallel test workers and notebook kernels merge)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
