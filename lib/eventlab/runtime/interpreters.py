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


def find(minor: tuple[int, int], variable: str = "EVENTLAB_PYTHON") -> Interpreter | None:
    """A CPython of exactly ``minor``: ``$variable`` when it is one, else the first found."""
    explicit = os.environ.get(variable)
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


# -- the two environments' interpreters ------------------------------------------------------------
@dataclass(frozen=True)
class Purpose:
    """What one of eventlab's environments needs of its Python, and how to get one."""

    low: tuple[int, int]
    high: tuple[int, int]
    #: The variable that chooses one explicitly (it must then fit).
    variable: str
    #: Why, and how to get one: shown when none fits.
    missing: str

    @property
    def wanted(self) -> str:
        low, high = (f"{m[0]}.{m[1]}" for m in (self.low, self.high))
        return low if low == high else f"{low} to {high}"


#: The one place that says which Python each environment needs (the Makefile asks through
#: ``scripts/find-python``, the library through :func:`find_for`).
PURPOSES: dict[str, Purpose] = {
    "workbook": Purpose(
        low=(3, 11), high=(3, 14), variable="EVENTLAB_PYTHON",
        missing=(
            "eventlab's workbook (.venv) needs Python 3.11 to 3.14, and none was found on PATH, in\n"
            "the pyenv versions folder or the usual system prefixes. Install one (pyenv install 3.13,\n"
            "apt install python3 python3-venv, conda env create -f environment.yml), or point at one:\n"
            "  make EVENTLAB_PYTHON=/path/to/python3 setup"
        ),
    ),
    "localstack": Purpose(
        low=(3, 13), high=(3, 13), variable="EVENTLAB_LOCALSTACK_PYTHON",
        missing=(
            "The embedded LocalStack needs Python 3.13 (LocalStack 2026.3.0 imports\n"
            "warnings.deprecated, new in 3.13, and its locked dependencies do not resolve on 3.14),\n"
            "and none was found on PATH, in the pyenv versions folder or the usual system prefixes.\n"
            "Two ways on:\n"
            "  1. install Python 3.13, then run the same make command again:\n"
            "       pyenv install 3.13            (make finds it in ~/.pyenv/versions)\n"
            "       apt install python3.13 python3.13-venv   (where your release has it)\n"
            "       conda env create -f emulators/localstack/environment.yml\n"
            "     or point at one: make EVENTLAB_LOCALSTACK_PYTHON=/path/to/python3.13 test\n"
            "  2. use the other embedded emulator, MiniStack, which needs no Python 3.13:\n"
            "       make test BACKEND=ministack   /   make run BACKEND=ministack"
        ),
    ),
}


class NoInterpreter(LookupError):
    """No Python fits a purpose; the message says why and how to get one."""


def find_for(purpose: str) -> Interpreter:
    """The Python for one of :data:`PURPOSES`: its variable's when set (it must fit), else the
    newest that fits (``python3`` on PATH first); :class:`NoInterpreter` says how to get one."""
    wanted = PURPOSES[purpose]
    explicit = os.environ.get(wanted.variable)
    if explicit:
        found = probe(explicit)
        if found is None or not wanted.low <= found.minor <= wanted.high:
            what = f"Python {found.label}" if found else "not a working Python"
            raise NoInterpreter(
                f"{wanted.variable}={explicit} is {what}; it must be a Python {wanted.wanted}. "
                f"Point it at one, or unset it to let make search."
            )
        return found
    found = find_newest(wanted.low, wanted.high) if wanted.low != wanted.high else None
    found = found or find(wanted.low, wanted.variable)
    if found is None:
        raise NoInterpreter(wanted.missing)
    return found


def main(argv: list[str] | None = None) -> int:
    """Print the path of the interpreter asked for, or every one found; exit 1 when there is none."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("minor", nargs="?", help="an exact minor version, e.g. 3.13")
    parser.add_argument("--range", nargs=2, metavar=("LOW", "HIGH"),
                        help="the newest in LOW..HIGH (after $EVENTLAB_PYTHON and python3)")
    parser.add_argument("--list", action="store_true", help="every interpreter found, by version")
    parser.add_argument("--for", dest="purpose", choices=sorted(PURPOSES),
                        help="the Python for one of eventlab's environments, or why there is none")
    args = parser.parse_args(argv)
    if args.purpose:
        try:
            print(find_for(args.purpose).path)
        except NoInterpreter as missing:
            print(missing, file=sys.stderr)
            return 1
        return 0
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
