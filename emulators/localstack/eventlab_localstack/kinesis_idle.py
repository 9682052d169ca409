"""Stop a kinesis-mock that holds nothing, so an idle emulator does not keep Node's ~110 MB for it.

LocalStack 2026.3.0 starts one kinesis-mock (a Node process) per account on the first Kinesis
request (``KinesisServerManager.get_server_for_account``, called by the provider's
``get_forward_url``) and keeps it until LocalStack stops. After a notebook series it idles with
every stream deleted, still resident (~118 MB of the emulator's ~470 MB).

This start hook (:data:`HOOK_NAME`) stops such a server once it has had no request for
:data:`SETTING` seconds (unset or 0: never) AND it holds no stream: asked directly (``ListStreams``
against its own URL, in every region it was used in), it lists none. A stream in any state keeps it
up (a registered consumer belongs to a stream, so it does too), and so does a check that fails:
its state would be lost. The server is removed from the manager, so the next Kinesis request
starts a fresh one the usual way.

Race-free: every ``get_forward_url`` stamps the account's last use under the manager's lock,
which the stopper holds while it checks, pops and shuts down. A request either stamps first (the
server is not idle) or waits for the stop and then gets a new server.

``GET`` :data:`STATUS_PATH` on the gateway says which servers run and how long each has been
idle; ``POST`` it with ``{"idle_s": N}`` (and ``"accounts": [...]`` to choose) stops, now, those idle
for N seconds that hold nothing (the integration test's way in, without a short window for a
whole session).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from eventlab_localstack import KINESIS_IDLE_SETTING

LOG = logging.getLogger(__name__)

HOOK_NAME = "eventlab_kinesis_idle_stop"
SETTING = KINESIS_IDLE_SETTING
STATUS_PATH = "/_eventlab/kinesis-mock"
MAX_SWEEP_INTERVAL_S = 15.0

# (server, account id, region) -> True when the server holds a stream there.
HoldsStreams = Callable[[Any, str, str], bool]


def idle_window(value: str | None) -> float:
    """The idle window :data:`SETTING` asks for, in seconds (0: never stop); a bad value is an error that says so."""
    text = (value or "").strip()
    if not text:
        return 0.0
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{SETTING}={value!r}: give the idle seconds after which an empty kinesis-mock stops, or 0 for never") from None
    if seconds < 0:
        raise ValueError(f"{SETTING}={value!r}: the idle window cannot be negative; 0 means never")
    return seconds


def lists_a_stream(server: Any, account_id: str, region: str) -> bool:
    """Ask kinesis-mock itself whether it holds a stream in ``region`` (``ListStreams``, one name is enough)."""
    from botocore.config import Config

    client = _session().create_client(
        "kinesis", region_name=region, endpoint_url=f"http://127.0.0.1:{server.port}",
        aws_access_key_id=account_id, aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )
    try:
        answer = client.list_streams(Limit=1)
    finally:
        client.close()
    return bool(answer.get("StreamNames") or answer.get("StreamSummaries") or answer.get("HasMoreStreams"))


_botocore_session: Any = None


def _session() -> Any:
    global _botocore_session
    if _botocore_session is None:
        import botocore.session

        _botocore_session = botocore.session.Session()
    return _botocore_session


class IdleStopper:
    """The idle bookkeeping of one ``KinesisServerManager``: last use and regions per account, and the stop."""

    def __init__(self, manager: Any, holds_streams: HoldsStreams = lists_a_stream,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.manager = manager
        self.holds_streams = holds_streams
        self.clock = clock
        self.last_use: dict[str, float] = {}
        self.regions: dict[str, set[str]] = {}

    def touch(self, account_id: str, region: str) -> None:
        """Stamp a use of the account's server; the caller holds the manager's lock."""
        self.last_use[account_id] = self.clock()
        self.regions.setdefault(account_id, set()).add(region)

    def idle_for(self) -> dict[str, float]:
        """Seconds since the last request, per running server."""
        with self.manager._lock:
            now = self.clock()
            return {account: now - self.last_use.get(account, now) for account in self.manager._servers}

    def sweep(self, window: float, accounts: Iterable[str] | None = None) -> list[str]:
        """Stop the servers (of ``accounts``, default all) idle for ``window`` seconds that hold no
        stream; returns their accounts."""
        if window <= 0:
            return []
        only = None if accounts is None else set(accounts)
        stopped = []
        with self.manager._lock:
            for account, server in list(self.manager._servers.items()):
                if only is not None and account not in only:
                    continue
                now = self.clock()
                idle = now - self.last_use.setdefault(account, now)
                if idle < window:
                    continue
                regions = sorted(self.regions.get(account, ()))
                if self._holds_something(server, account, regions):
                    continue
                del self.manager._servers[account]
                self.last_use.pop(account, None)
                self.regions.pop(account, None)
                _shutdown(server)
                LOG.info("kinesis-mock of account %s stopped: no request for %.0f s and no stream (regions %s); "
                         "the next Kinesis request starts a new one", account, idle, ", ".join(regions) or "none")
                stopped.append(account)
        return stopped

    def _holds_something(self, server: Any, account: str, regions: Iterable[str]) -> bool:
        for region in regions:
            try:
                if self.holds_streams(server, account, region):
                    return True
            except Exception as error:  # noqa: BLE001 - an unanswered check keeps it: its state would be lost
                LOG.debug("kinesis-mock of account %s kept: ListStreams in %s failed: %s", account, region, error)
                return True
        return False


def _shutdown(server: Any) -> None:
    """Stop the server, reap its Node process, and forget its thread.

    LocalStack's ``ShellCommandThread.stop`` kills the process and drops it unwaited (a zombie
    until LocalStack's next subprocess), and ``TMP_THREADS`` keeps every such thread.
    """
    thread = getattr(server, "_thread", None)
    process = getattr(thread, "process", None)
    server.shutdown()
    if process is not None:
        try:
            process.wait(timeout=10)
        except Exception as error:  # noqa: BLE001 - it was killed; a late reap is no harm
            LOG.debug("kinesis-mock process %s not reaped yet: %s", process.pid, error)
    try:
        from localstack.utils.common import TMP_THREADS
    except ImportError:  # pragma: no cover - LocalStack is not installed
        return
    if thread in TMP_THREADS:
        TMP_THREADS.remove(thread)


_stoppers: weakref.WeakKeyDictionary[Any, IdleStopper] = weakref.WeakKeyDictionary()
_stoppers_lock = threading.Lock()


def stopper_for(manager: Any) -> IdleStopper:
    with _stoppers_lock:
        if manager not in _stoppers:
            _stoppers[manager] = IdleStopper(manager)
        return _stoppers[manager]


def forward_url(fn: Callable[..., str], provider: Any, account_id: str, region_name: str) -> str:
    """``KinesisProvider.get_forward_url``, stamping the use under the manager's lock (the stopper's)."""
    manager = provider.server_manager
    stopper = stopper_for(manager)
    with manager._lock:
        stopper.touch(account_id, region_name)
        return fn(provider, account_id, region_name)


def sweep_all(window: float, accounts: Iterable[str] | None = None) -> list[str]:
    with _stoppers_lock:
        stoppers = list(_stoppers.values())
    return [account for stopper in stoppers for account in stopper.sweep(window, accounts)]


def _sweeper(window: float) -> None:
    interval = max(1.0, min(window / 4, MAX_SWEEP_INTERVAL_S))
    while True:
        time.sleep(interval)
        try:
            sweep_all(window)
        except Exception:  # never let the sweeper die; LocalStack keeps running either way
            LOG.exception("stopping idle kinesis-mock servers failed")


installed: list[Any] = []  # the patches install() applied (a test undoes them)


def install() -> float:
    """The start hook: stamp every ``get_forward_url``, serve :data:`STATUS_PATH`, and start the
    sweeper when :data:`SETTING` gives a window. Returns the window."""
    from localstack.services.kinesis.provider import KinesisProvider
    from localstack.utils.patch import patch

    window = idle_window(os.environ.get(SETTING))

    @patch(KinesisProvider.get_forward_url)
    def get_forward_url(fn: Any, self: KinesisProvider, account_id: str, region_name: str) -> str:
        return forward_url(fn, self, account_id, region_name)

    installed.append(get_forward_url.patch)
    _serve_status(window)
    if window > 0:
        threading.Thread(target=_sweeper, args=(window,), name="eventlab-kinesis-idle", daemon=True).start()
        LOG.info("kinesis-mock servers stop after %.0f s without a request when they hold no stream", window)
    return window


def _serve_status(window: float) -> None:
    from localstack.http import Request, route
    from localstack.services.edge import ROUTER

    class KinesisMockStatus:
        @route(STATUS_PATH, methods=["GET"])
        def status(self, request: Request) -> dict[str, Any]:
            with _stoppers_lock:
                stoppers = list(_stoppers.values())
            servers = {account: round(idle, 1) for stopper in stoppers for account, idle in stopper.idle_for().items()}
            return {"idle_stop_s": window, "idle_s": servers}

        @route(STATUS_PATH, methods=["POST"])
        def stop_idle(self, request: Request) -> dict[str, Any]:
            asked = request.get_json(silent=True) or {}
            accounts = asked.get("accounts")
            return {"stopped": sweep_all(float(asked.get("idle_s", window)), None if accounts is None else list(accounts))}

    ROUTER.add(KinesisMockStatus())


try:  # the hook exists only where LocalStack is installed; the names above are importable anywhere
    from localstack.runtime import hooks
except ImportError:  # pragma: no cover - LocalStack is not installed
    pass
else:
    eventlab_kinesis_idle_stop = hooks.on_infra_start(name=HOOK_NAME)(install)
