"""The Python runtimes Lambda handlers run on, on both emulators: interpreters and runtime folders.

A handler imports only what AWS's Python runtime gives it (the standard library, boto3 and
botocore, its own package and layers), so each Python minor version gets one runtime folder,
``.venv-lambda/python3.X/``, holding awslambdaric (AWS's runtime client), boto3, botocore and
their dependencies from the committed lock ``emulators/lambda-runtime/requirements.lock``.
Each is installed with ``pip install --target --python-version 3.X --only-binary=:all:``, so
it is built without running that interpreter. ``make setup-lambda`` (part of ``make setup``)
builds them all; :func:`settings` builds the ones this machine's interpreters need on first use.

:func:`settings` maps each declared runtime (``python3.12``) to the interpreter of that version
found here (:mod:`eventlab.runtime.interpreters`) and its folder, or to the nearest version
there is, with a note that the function's log shows. The emulators get it as one setting,
:data:`eventlab_lambda_runtime.RUNTIMES_SETTING` (JSON).

``python -m eventlab.runtime.lambda_runtimes build`` builds the folders; ``show`` prints the
setting.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eventlab.locations import project_root
from eventlab.runtime import interpreters
from eventlab_lambda_runtime import RUNTIMES_SETTING

log = logging.getLogger(__name__)

#: The minor versions with a runtime folder (awslambdaric 4.2.2 supports 3.10 and newer).
MINORS: tuple[tuple[int, int], ...] = ((3, 10), (3, 11), (3, 12), (3, 13), (3, 14))
#: The declared runtimes mapped (AWS's ``python3.x`` identifiers, deprecated ones included).
RUNTIMES: tuple[str, ...] = tuple(f"python3.{minor}" for minor in range(8, 15))
FOLDER_NAME = ".venv-lambda"
STAMP = ".eventlab-lock-sha256"
_BUILD_TIMEOUT = 600.0


class RuntimeBuildError(RuntimeError):
    """A runtime folder could not be built; the message says why and how to retry."""


def lock_file() -> Path:
    return project_root() / "emulators" / "lambda-runtime" / "requirements.lock"


def runtimes_root() -> Path:
    """``.venv-lambda`` in the checkout (``$EVENTLAB_LAMBDA_RUNTIMES_DIR`` overrides it)."""
    env = os.environ.get("EVENTLAB_LAMBDA_RUNTIMES_DIR")
    return Path(env).resolve() if env else project_root() / FOLDER_NAME


def folder(minor: tuple[int, int]) -> Path:
    return runtimes_root() / f"python{minor[0]}.{minor[1]}"


def _lock_digest() -> str:
    return hashlib.sha256(lock_file().read_bytes()).hexdigest()


def is_built(minor: tuple[int, int]) -> bool:
    """True when the folder holds exactly the committed lock."""
    stamp = folder(minor) / STAMP
    return stamp.is_file() and stamp.read_text().strip() == _lock_digest()


def build(minor: tuple[int, int], *, python: str | None = None) -> Path:
    """Install the lock into ``.venv-lambda/python3.X`` (unless it is already there); when that
    interpreter is on this machine, precompile the folder with it, as AWS's runtime ships it."""
    target = folder(minor)
    if is_built(minor):
        return target
    label = f"{minor[0]}.{minor[1]}"
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".python{label}-", dir=target.parent))
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-deps", "--require-hashes", "--only-binary=:all:", "--implementation", "cp",
        "--python-version", label, "--target", str(staging), "-r", str(lock_file()),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_BUILD_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeBuildError(f"cannot build the Lambda runtime folder for Python {label}: {error}") from error
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = "\n".join(line for line in done.stderr.splitlines() if not line.startswith("WARNING: Location"))
        raise RuntimeBuildError(
            f"cannot build the Lambda runtime folder for Python {label} (pip exited "
            f"{done.returncode}); it needs PyPI or a pip mirror. Retry with `make setup-lambda`. "
            f"pip said:\n{tail[-2000:]}"
        )
    if python:
        subprocess.run([python, "-I", "-S", "-m", "compileall", "-q", str(staging)],
                       capture_output=True, timeout=_BUILD_TIMEOUT, check=False)
    (staging / STAMP).write_text(_lock_digest() + "\n")
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    log.info("Lambda runtime folder for Python %s built in %.1f s: %s", label,
             time.monotonic() - started, target)
    return target


def build_all(minors: tuple[tuple[int, int], ...] = MINORS) -> list[Path]:
    """Build every folder (with this machine's interpreters where there are some)."""
    found = interpreters.find_all(minors)
    return [build(minor, python=found[minor].path if minor in found else None) for minor in minors]


def _nearest(minor: tuple[int, int], available: list[tuple[int, int]]) -> tuple[int, int]:
    """The closest of ``available`` to ``minor``; on a tie the newer one."""
    return min(available, key=lambda m: (abs(m[1] - minor[1]), -m[1]))


def settings(*, build_missing: bool = True) -> dict[str, dict[str, str | None]]:
    """Per declared runtime, the interpreter, the runtime folder and, when it is not the declared
    version, the note for the function's log. Missing folders of found interpreters are built."""
    found = {m: i for m, i in interpreters.find_all(MINORS).items()}
    usable: dict[tuple[int, int], interpreters.Interpreter] = {}
    for minor, interpreter in found.items():
        if not is_built(minor) and build_missing:
            build(minor, python=interpreter.path)
        if is_built(minor):
            usable[minor] = interpreter
    if not usable:
        raise RuntimeBuildError(
            "no Lambda runtime: none of Python "
            + ", ".join(f"{a}.{b}" for a, b in MINORS)
            + " has a runtime folder on this machine; install one of them and run `make setup-lambda`"
        )
    result: dict[str, dict[str, str | None]] = {}
    for runtime in RUNTIMES:
        declared = interpreters.parse_minor(runtime)
        chosen = declared if declared in usable else _nearest(declared, sorted(usable))
        interpreter = usable[chosen]
        note = None
        if chosen != declared:
            note = (f"eventlab: runtime {runtime} runs on Python {'.'.join(map(str, interpreter.version))} "
                    f"({interpreter.path}): no Python {declared[0]}.{declared[1]} with a Lambda runtime "
                    "folder on this machine")
        result[runtime] = {"python": interpreter.path, "runtime_dir": str(folder(chosen)), "note": note}
    return result


def setting_value(*, build_missing: bool = True) -> str:
    """:func:`settings` as the JSON value of :data:`RUNTIMES_SETTING`."""
    return json.dumps(settings(build_missing=build_missing), sort_keys=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_parser = sub.add_parser("build", help="build the runtime folders from the lock")
    build_parser.add_argument("--minor", action="append", help="only this version, e.g. 3.12")
    sub.add_parser("show", help=f"print the {RUNTIMES_SETTING} setting")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "build":
            minors = tuple(interpreters.parse_minor(m) for m in args.minor) if args.minor else MINORS
            for path in build_all(minors):
                print(path)
        else:
            print(json.dumps(settings(), indent=2, sort_keys=True))
    except (RuntimeBuildError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
