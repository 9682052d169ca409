"""Companions: servers eventlab runs itself beside an emulator, for APIs no emulator implements.

A companion is a Python module run as ``python -m MODULE --host 127.0.0.1 --port N --state-dir
DIR --backend-endpoint URL --region R`` that answers ``GET HEALTH_PATH`` once it serves. The
process manager (:mod:`eventlab.runtime.process`) starts each companion of a backend after the
emulator is healthy, marks it as one of the emulator's processes (so the loopback check, stray
clean-up and ``stop()`` cover it), and records it in the emulator's record, so that reuse,
``eventlab status`` and ``Target.client`` find it. It is started by module name: the runtime
does not import the server. Today there is one, eventlab's ``eventbridgev2`` server.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HEALTH_PATH = "/_eventlab/health"
# The region of an emulated target when none is named (eventlab.target.DEFAULT_REGION).
COMPANION_REGION = "us-east-1"
# Names the region of emulated targets as of AWS ones (Target.from_env reads it for both).
REGION_ENV = "EVENTLAB_AWS_REGION"


def emulator_region(environ: Mapping[str, str] | None = None) -> str:
    """The region an emulator is configured for, and its clients sign for: ``EVENTLAB_AWS_REGION``,
    else us-east-1. The companions serve it alone, with ARNs in it, as an AWS endpoint does.
    ``AWS_DEFAULT_REGION`` is not read: emulated clients are blind to the user's AWS settings."""
    env = os.environ if environ is None else environ
    return (env.get(REGION_ENV) or "").strip() or COMPANION_REGION


def health(endpoint_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """A companion's health document (``GET HEALTH_PATH``), or None while it does not answer."""
    try:
        with urllib.request.urlopen(endpoint_url + HEALTH_PATH, timeout=timeout) as response:
            if response.status != 200:
                return None
            document: dict[str, Any] = json.loads(response.read())
            return document
    except (urllib.error.URLError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class Companion:
    """One server eventlab runs beside an emulator (see the module docstring)."""

    #: The boto3 service name it serves, and its name in records and ``endpoints``.
    service: str
    #: The module ``python -m`` runs.
    module: str
    #: The botocore release whose model of ``service`` it speaks (the first one that has it all).
    min_botocore: str

    @property
    def log_name(self) -> str:
        return f"{self.service}.log"

    def unavailable(self) -> str | None:
        """Why it cannot run with this interpreter's botocore (no model of its service), with
        the fix; None when it can."""
        try:
            import botocore
            import botocore.session
        except ImportError:
            return f"botocore is not installed, so {self.service} cannot be served: install botocore {self.min_botocore} or later"
        if self.service in botocore.session.get_session().get_available_services():
            return None
        return (
            f"botocore {botocore.__version__} has no model of {self.service}, so eventlab cannot "
            f"serve or call it. Use a Python environment whose boto3/botocore is {self.min_botocore} "
            f"or later (`pip install 'boto3>={self.min_botocore}' 'botocore>={self.min_botocore}'`)."
        )

    def state_dir(self, emulator_state_dir: Path) -> Path:
        """Its state folder: inside the emulator's, so it lives and goes with that emulator's."""
        return emulator_state_dir / self.service

    def command(self, *, port: int, state_dir: Path, backend_endpoint: str, region: str = COMPANION_REGION,
                host: str = "127.0.0.1") -> list[str]:
        """``python -m MODULE`` with the arguments every companion takes (this interpreter)."""
        return [
            sys.executable, "-m", self.module, "--host", host, "--port", str(port),
            "--state-dir", str(state_dir), "--backend-endpoint", backend_endpoint, "--region", region,
        ]



EVENTBRIDGEV2 = Companion(service="eventbridgev2", module="eventlab.eventbridgev2", min_botocore="1.44")
# Every companion by service name: what Target.client looks up.
COMPANIONS: dict[str, Companion] = {EVENTBRIDGEV2.service: EVENTBRIDGEV2}
