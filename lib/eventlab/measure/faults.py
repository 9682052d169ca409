"""Fault injection on a boto3 client: faults that a scenario (see :mod:`eventlab.experiments.faults`)
turns on around the code it measures.

- :class:`LoseResponses`: every n-th call of an operation reaches the service and succeeds, then
  its reply is lost (a read timeout), so the caller retries what was already done.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from botocore.exceptions import ReadTimeoutError


class LoseResponses:
    """Injects lost replies on a client: every ``every``-th call of ``operation`` reaches the
    service and succeeds, then the caller gets a read timeout instead of the reply."""

    def __init__(self, client: Any, operation: str = "SendMessage", every: int = 4) -> None:
        self.client = client
        self.event = f"after-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"
        self.every = every
        self.lost = 0
        self._calls = itertools.count(1)
        self._lock = threading.Lock()
        self._uid = f"eventlab-lose-{id(self)}"

    def __call__(self, http_response: Any, **_: Any) -> None:
        with self._lock:
            n = next(self._calls)
            if n % self.every or http_response.status_code >= 300:
                return
            self.lost += 1
        raise ReadTimeoutError(endpoint_url="(reply dropped by eventlab fault injection)")

    def __enter__(self) -> LoseResponses:
        self.client.meta.events.register(self.event, self, unique_id=self._uid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister(self.event, unique_id=self._uid)
