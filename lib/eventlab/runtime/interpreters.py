"""The Python interpreters on this machine, by version: one finder for the Makefile and the library.

Stdlib only and free of package imports, so it also runs by path before any environment exists
(``python3 lib/eventlab/runtime/interpreters.py 3.13``). Candidates come from ``$EVENTLAB_PYTHON``,
versioned names on PATH, the pyenv versions folder, the usual system prefixes and an active conda
environment; each is asked for its own version, so a misnamed binary is never trusted.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

#: The minor versions searched for when no particular one is asked for.
KNOWN_MINORS: tuple[tuple[int, int], ...] = tuple((3, minor) for minor in range(8, 16))

_SYSTEM_PREFIXES = ("/usr/local/bin", "/usr/bin", "/opt/homebrew/bin", "/opt/local/bin")
_PROBE = "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.implementation.name)"


@dataclass(frozen=True)
class Interpreter:
    """One interpreter: where it is and what version it says it is."""

    path: str
    version: tuple[int, int, int]
    implementation: str = "cpython"

    @property
    def minor(self) -> tuple[int, int]:
        return self.version[:2]

    @property
    def label(self) -> str:
        return f"{self.minor[0]}.{self.minor[1]}"


def parse_minor(text: str) -> tuple[int, int]:
    """``"3.12"`` (or ``"python3.12"``) as ``(3, 12)``; a clear ValueError otherwise."""
    value = text.strip().removeprefix("python")
    parts = value.split(".")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise ValueError(f"{text!r} is not a Python minor version; write it like 3.13")
    return int(parts[0]), int(parts[1])


def probe(path: str, timeout: float = 10.0) -> Interpreter | None:
    """Ask the binary at ``path`` for its version; None when it is not a working Python."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return None
    try:
        out = subprocess.run(
            [path, "-I", "-S", "-c", _PROBE], capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2:
        return None
    try:
        major, minor, micro = (int(part) for part in lines[0].split("."))
    except ValueError:
        return None
    return Interpreter(path=path, version=(major, minor, micro), implementation=lines[1])


def candidates(minors: tuple[tuple[int, int], ...] = KNOWN_MINORS) -> list[str]:
    """Paths that may be Pythons of ``minors``, first preference first, without duplicates."""
    found: list[str] = []
    names = [f"python{major}.{minor}" for major, minor in minors]
    for name in (*names, "python3"):
        path = shutil.which(name)
        if path:
            found.append(path)
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for major, minor in minors:
        pattern = os.path.join(pyenv_root, "versions", f"{major}.{minor}*", "bin")
        for folder in sorted(glob.glob(pattern), reverse=True):
            found.extend(os.path.join(folder, n) for n in (f"python{major}.{minor}", "python"))
    for prefix in _SYSTEM_PREFIXES:
        found.extend(os.path.join(prefix, name) for name in names)
    conda = os.environ.get("CONDA_PREFIX")
    if conda:
        found.append(os.path.join(conda, "bin", "python"))
    unique: list[str] = []
    seen: set[str] = set()
    for path in found:
        key = os.path.realpath(path)
        if key not in seen and os.path.exists(path):
            seen.add(key)
            unique.append(path)
    return unique


def find_all(minors: tuple[tuple[int, int], ...] = KNOWN_MINORS) -> dict[tuple[int, int], Interpreter]:
    """The first working CPython found for each of ``minors`` (absent minors are left out)."""
    result: dict[tuple[int, int], Interpreter] = {}
    for path in candidates(minors):
        found = probe(path)
        if found and found.implementation == "cpython" and found.minor in minors:
            result.setdefault(found.minor, found)
    return dict(sorted(result.items()))


def find(minor: tuple[int, int]) -> Interpreter | None:
    """A CPython of exactly ``minor``: ``$EVENTLAB_PYTHON`` when it is one, else the first found."""
    explicit = os.environ.get("EVENTLAB_PYTHON")
    if explicit:
        found = probe(explicit)
        if found and found.minor == minor:
            return found
    return find_all((minor,)).get(minor)


def find_newest(
    low: tuple[int, int], high: tuple[int, int], prefer: str | None = "python3"
) -> Interpreter | None:
    """A CPython in ``low..high`` inclusive: ``$EVENTLAB_PYTHON``, then ``prefer`` on PATH, then the newest."""
    def fits(found: Interpreter | None) -> bool:
        return found is not None and low <= found.minor <= high

    explicit = os.environ.get("EVENTLAB_PYTHON")
    if explicit:
        found = probe(explicit)
        return found if fits(found) else None
    if prefer:
        path = shutil.which(prefer)
        found = probe(path) if path else None
        if fits(found):
            return found
    minors = tuple(m for m in KNOWN_MINORS if low <= m <= high)
    everything = find_all(minors)
    return everything[max(everything)] if everything else None


def main(argv: list[str] | None = None) -> int:
    """Print the path of the interpreter asked for, or every one found; exit 1 when there is none."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("minor", nargs="?", help="an exact minor version, e.g. 3.13")
    parser.add_argument("--range", nargs=2, metavar=("LOW", "HIGH"),
                        help="the newest in LOW..HIGH (after $EVENTLAB_PYTHON and python3)")
    parser.add_argument("--list", action="store_true", help="every interpreter found, by version")
    args = parser.parse_args(argv)
    if args.list or not (args.minor or args.range):
        for found in find_all().values():
            print(f"{found.label}\t{found.path}")
        return 0
    found = (find(parse_minor(args.minor)) if args.minor
             else find_newest(parse_minor(args.range[0]), parse_minor(args.range[1])))
    if found is None:
        return 1
    print(found.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
