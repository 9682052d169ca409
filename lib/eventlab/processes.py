"""Processes eventlab starts and must find again: who they are, what they listen on, how they end.

Nothing here knows about LocalStack: any emulator run as a tree of host processes (LocalStack
today, another backend later) is recorded, checked and stopped with these pieces.

- A :class:`ProcessIdentity` (pid, start time, command line) names one process for good: a pid
  alone is reused after a crash or a reboot, and signalling a stale pid kills a stranger. The
  start time is compared as time since boot: the wall-clock one the OS reports moves in whole
  seconds whenever the clock is stepped (NTP, a virtual machine resumed), and the same process
  would otherwise look like a stranger.
- Every process of an emulator carries a marker in its environment (:data:`MARKER_ENV`, the
  emulator's state folder), inherited by whatever it starts, so that its processes are found
  even after the one that started them is gone, and unrelated processes never are.
- :func:`listeners` and :func:`exposed` say which of those processes listen where: an emulator
  runs code as its user, so nothing of it may be reachable from another machine.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

log = logging.getLogger(__name__)

# Set in an emulator's environment to its state folder; every process it starts inherits it.
MARKER_ENV = "EVENTLAB_EMULATOR_STATE"
# How much of a command line messages show.
COMMAND_WIDTH = 160
# Two readings of one process's start time since boot differ by clock-tick rounding only.
CREATE_TIME_TOLERANCE = 0.5


def _started(proc: psutil.Process) -> tuple[float, float]:
    """``(create_time, boot_time)`` of ``proc``, read against one boot time: psutil adds the
    kernel's boot time (whole seconds, moved when the clock is stepped) to the start it counts
    from boot, so the difference of the two is the process's start since boot."""
    while True:
        boot = psutil.boot_time()
        created = proc.create_time()
        if psutil.boot_time() == boot:
            return created, boot


@dataclass(frozen=True)
class ProcessIdentity:
    """One process, told apart from any later process that reuses its pid."""

    pid: int
    create_time: float
    cmdline: tuple[str, ...]
    # The boot time ``create_time`` was read against (None in records written before it was kept:
    # then the wall-clock start times are compared).
    boot_time: float | None = None

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        """The identity of the live process ``pid``, or None when there is none."""
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                created, boot = _started(proc)
                return cls(pid, created, tuple(proc.cmdline()), boot)
        except psutil.Error:
            return None

    @classmethod
    def from_json(cls, data: Any) -> ProcessIdentity | None:
        """Read what :meth:`to_json` wrote; None for anything else (an older record, say)."""
        try:
            boot = data.get("boot_time")
            return cls(int(data["pid"]), float(data["create_time"]), tuple(str(a) for a in data["cmdline"]),
                       None if boot is None else float(boot))
        except (AttributeError, KeyError, TypeError, ValueError):
            return None

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "create_time": self.create_time, "cmdline": list(self.cmdline),
                "boot_time": self.boot_time}

    def _same_start(self, proc: psutil.Process) -> bool:
        created, boot = _started(proc)
        if self.boot_time is None:
            return abs(created - self.create_time) <= CREATE_TIME_TOLERANCE
        return abs((created - boot) - (self.create_time - self.boot_time)) <= CREATE_TIME_TOLERANCE

    def process(self, *, check_cmdline: bool = True) -> psutil.Process | None:
        """The running process this identity names; None when it ended (or is a zombie) or its
        pid now belongs to another process (another start time or, if checked, command line)."""
        try:
            proc = psutil.Process(self.pid)
            with proc.oneshot():
                if proc.status() == psutil.STATUS_ZOMBIE:
                    return None
                if not self._same_start(proc):
                    return None
                if check_cmdline and tuple(proc.cmdline()) != self.cmdline:
                    return None
        except psutil.Error:
            return None
        return proc

    def alive(self, *, check_cmdline: bool = True) -> bool:
        """True while this very process runs. Before signalling it, check the command line too;
        to ask only whether it still runs (it may have retitled itself), the start time is enough."""
        return self.process(check_cmdline=check_cmdline) is not None

    def describe(self) -> str:
        return f"pid {self.pid} ({command_line(self.cmdline)})"


def command_line(cmdline: Sequence[str], width: int = COMMAND_WIDTH) -> str:
    """A command line for messages, at most ``width`` characters: a long one keeps its start
    (the program) and its end (the script or last arguments), with the middle elided."""
    text = " ".join(cmdline)
    if len(text) <= width:
        return text
    head = width // 2
    return f"{text[:head]}...{text[-(width - head - 3):]}"


def describe(proc: psutil.Process) -> str:
    """``pid N (command line)``, for messages."""
    try:
        return f"pid {proc.pid} ({command_line(proc.cmdline())})"
    except psutil.Error:
        return f"pid {proc.pid}"


def marked(value: str, *, key: str = MARKER_ENV) -> list[psutil.Process]:
    """Live processes whose environment has ``key=value``: an emulator's whole family, also the
    orphans of one whose parent died. This process and its ancestors are never included."""
    own = {os.getpid(), *(p.pid for p in _ancestors())}
    found = []
    for proc in psutil.process_iter():
        if proc.pid in own:
            continue
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE and proc.environ().get(key) == value:
                found.append(proc)
    return found


def _ancestors() -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return psutil.Process().parents()
    return []


def family(root: psutil.Process | None, extra: Iterable[psutil.Process] = ()) -> list[psutil.Process]:
    """``root``, its descendants, and ``extra`` (e.g. :func:`marked` orphans), each once."""
    procs: dict[int, psutil.Process] = {}
    if root is not None:
        with contextlib.suppress(psutil.Error):
            procs[root.pid] = root
            for child in root.children(recursive=True):
                procs.setdefault(child.pid, child)
    for proc in extra:
        procs.setdefault(proc.pid, proc)
    return list(procs.values())


@dataclass(frozen=True)
class Listener:
    """A socket that waits for others to connect (TCP LISTEN) or to send (unconnected UDP)."""

    pid: int
    process: str
    protocol: str
    address: str
    port: int

    @property
    def loopback(self) -> bool:
        return is_loopback(self.address)

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.protocol} {host}:{self.port} of pid {self.pid} ({self.process})"


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for wildcards and the rest."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def listeners(procs: Iterable[psutil.Process]) -> list[Listener]:
    """Every listening socket of ``procs`` (processes that ended meanwhile are skipped)."""
    found = []
    for proc in procs:
        try:
            with proc.oneshot():
                name = command_line(proc.cmdline()) or proc.name()
                connections = proc.net_connections(kind="inet")
        except psutil.Error:
            continue
        for conn in connections:
            if not conn.laddr:
                continue
            if conn.type == socket.SOCK_STREAM and conn.status != psutil.CONN_LISTEN:
                continue
            if conn.type == socket.SOCK_DGRAM and conn.raddr:
                continue  # a connected UDP socket only talks to its peer
            protocol = "tcp" if conn.type == socket.SOCK_STREAM else "udp"
            found.append(Listener(proc.pid, name, protocol, conn.laddr.ip, conn.laddr.port))
    return sorted(found, key=lambda item: (item.pid, item.port))


def exposed(found: Sequence[Listener]) -> list[Listener]:
    """The listeners another machine could reach: any not bound to a loopback address."""
    return [item for item in found if not item.loopback]


def terminate(procs: Sequence[psutil.Process], *, grace: float) -> None:
    """SIGTERM each, wait up to ``grace`` seconds, then SIGKILL whatever is left."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(list(procs), timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=3)


def terminate_tree(root: psutil.Process | None, extra: Iterable[psutil.Process] = (), *, grace: float) -> None:
    """Stop a process tree: the root first (it shuts its own children down in order), then every
    descendant and ``extra`` process still running."""
    members = family(root, extra)
    if root is not None:
        terminate([root], grace=grace)
    rest = [p for p in members if root is None or p.pid != root.pid]
    terminate([p for p in rest if _running(p)], grace=3.0)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
