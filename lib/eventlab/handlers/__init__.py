"""The Lambda handlers eventlab ships, one folder each, and the one resolver that finds them.

- ``notification/``: the article's notification system (SQS batch -> SES email);
- ``ecommerce/``: the e-commerce pipeline's functions (they bundle :mod:`eventlab.idempotency`);
- ``batch_probe/``: logs each invocation's start, end and records (notebook 05's batching and concurrency);
- ``receipt_sink/``: reports the probes a function was invoked with to the receipt sink of a
  measurement (it bundles :mod:`eventlab.measure.sink`).

A folder is packaged as it is (see :func:`eventlab.services.lambda_.package`); its modules are
Lambda code, not part of this package: they import the standard library, boto3 and what their
``bundle.txt`` names, never ``eventlab``. A topology refers to one as ``code: eventlab:NAME``.
"""

from __future__ import annotations

from pathlib import Path

HANDLERS_DIR = Path(__file__).resolve().parent


def names() -> list[str]:
    """The bundled handler folders, by name."""
    return sorted(p.name for p in HANDLERS_DIR.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def handler_dir(name: str) -> Path:
    """The folder of the bundled handler ``name``; FileNotFoundError naming those that exist."""
    path = HANDLERS_DIR / name
    if not name or "/" in name or not path.is_dir():
        raise FileNotFoundError(f"no bundled handler {name!r} in {HANDLERS_DIR}; there are: {', '.join(names())}")
    return path
