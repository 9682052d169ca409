"""Fixes for LocalStack 2026.3.0 bugs that the workbook meets, applied when LocalStack starts.

LocalStack's repository was archived with release 2026.3.0, so these bugs will not be fixed
upstream. Each module here repairs one, and its docstring names the bug, its cause in
LocalStack's code and what AWS does instead. The conformance suite (``eventlab.fidelity``)
holds a case for each that fails without it.

They are applied by :func:`apply_fixes` when LocalStack starts, before any service is loaded (it runs ahead of the other start hooks):
:data:`HOOK_NAME` is its ``localstack.hooks.on_infra_start`` hook, registered in pyproject.toml. ``EVENTLAB_LOCALSTACK_FIXES`` chooses them:
unset or ``all`` applies every fix, ``none`` none (to see LocalStack as released), and a
comma-separated list of names (:data:`FIXES`) only those. ``GET /_eventlab/fixes`` on the
gateway (:data:`STATUS_PATH`) says which ones this LocalStack applied.
"""

from __future__ import annotations

import importlib
import logging
import os

LOG = logging.getLogger(__name__)

# Fix name -> module (in this package) whose ``apply()`` installs it.
FIXES: dict[str, str] = {
    "replay": "replay",
    "input-template": "input_template",
    "firehose-buffering": "firehose_buffering",
    "subscribe-to-shard": "subscribe_to_shard",
    "lambda-delete-failed": "lambda_delete_failed",
}
SETTING = "EVENTLAB_LOCALSTACK_FIXES"
HOOK_NAME = "eventlab_localstack_fixes"
STATUS_PATH = "/_eventlab/fixes"


def chosen(value: str | None) -> list[str]:
    """The fixes a value of :data:`SETTING` asks for; an unknown name is an error that lists the known ones."""
    text = (value or "all").strip().lower()
    if text in ("", "all", "1", "on", "yes"):
        return list(FIXES)
    if text in ("none", "0", "off", "no"):
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FIXES]
    if unknown:
        raise ValueError(f"{SETTING}={value!r}: unknown fix(es) {unknown}; use all, none or any of {sorted(FIXES)}")
    return names


def apply(names: list[str]) -> list[str]:
    """Install the named fixes (each once); returns the names installed."""
    applied = []
    for name in names:
        module = importlib.import_module(f"{__name__}.{FIXES[name]}")
        module.apply()
        applied.append(name)
    return applied


def apply_fixes() -> None:
    """The start hook: install the fixes :data:`SETTING` chooses, log which, and answer
    :data:`STATUS_PATH` with them."""
    names = chosen(os.environ.get(SETTING))
    applied = apply(names)
    skipped = sorted(set(FIXES) - set(applied))
    LOG.info("eventlab fixes applied: %s%s", ", ".join(applied) or "none",
             f" (not applied: {', '.join(skipped)})" if skipped else "")
    _serve_status(applied)


def _serve_status(applied: list[str]) -> None:
    from localstack.http import route
    from localstack.services.edge import ROUTER

    class FixesStatus:
        @route(STATUS_PATH, methods=["GET"])
        def status(self, request: object) -> dict[str, list[str]]:
            return {"applied": list(applied), "available": list(FIXES)}

    ROUTER.add(FixesStatus())


try:  # the hook exists only where LocalStack is installed; the names above are importable anywhere
    from localstack.runtime import hooks
except ImportError:  # pragma: no cover - LocalStack is not installed
    pass
else:
    eventlab_localstack_fixes = hooks.on_infra_start(name=HOOK_NAME, priority=100)(apply_fixes)
