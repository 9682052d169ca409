"""Ports for an emulator on 127.0.0.1: parse the one the user asked for, check it, find a free one.

A port counts as taken when any process listens on it at any address, not only on 127.0.0.1:
held on the LAN address or on 0.0.0.0 it would look free on loopback and then collide. Each
refusal says what is really wrong (in use, by whom; or privileged, EACCES) and how to fix it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
from pathlib import Path

import psutil

from eventlab import processes
from eventlab.runtime.errors import EmulatorError, PortInUseError, PortNotPermittedError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_FIX = "Choose another with `--port N` or EVENTLAB_PORT=N, or leave the port unset to take a free one"


def parse_port(value: str | int, source: str = "port") -> int:
    """A TCP port for the emulator, from ``--port``, EVENTLAB_PORT or code (``source`` names which).

    Only 1..65535 is a port; 0 ("any port") cannot be recorded for other processes to find, so
    it is refused with the way to get a free port: leave the setting unset."""
    unset = f"leave {source} unset to take a free port"
    try:
        port = int(str(value).strip())
    except ValueError:
        raise EmulatorError(f"{source}={value!r} is not a port number: give one from 1 to 65535, or {unset}") from None
    if port == 0:
        raise EmulatorError(f"{source}=0 names no port: {unset}, or give one from 1 to 65535")
    if not 1 <= port <= 65535:
        raise EmulatorError(f"{source}={port} is not a port: ports go from 1 to 65535 (or {unset})")
    return port


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when nothing listens on host:port (a bind succeeds)."""
    return _bind_error(host, port) is None


def free_port(host: str = HOST) -> int:
    """A port the kernel says is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _bind_error(host: str, port: int) -> int | None:
    """The errno a listener on host:port would get now (None: it would succeed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            return error.errno or errno.EADDRINUSE
    return None


def _listening_on(port: int) -> list[tuple[str, str]] | None:
    """(address, who) of every TCP listener on ``port``, on any address; None when the OS does
    not let this user list sockets (macOS without root)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    found = []
    for conn in connections:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        who = "a process this user cannot see"
        if conn.pid:
            with contextlib.suppress(psutil.Error):
                who = processes.describe(psutil.Process(conn.pid))
        found.append((conn.laddr.ip, who))
    return found


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def unprivileged_port_start() -> int:
    """The lowest port a user without privileges may listen on (Linux: a sysctl; else 1024)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        return 1024


def user_name() -> str:
    """``user NAME (uid N)``, for messages about what this user may do."""
    uid = os.geteuid()
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def check_port(port: int, host: str = HOST, *, who: str = "the emulator") -> None:
    """Raise, naming what is really wrong, unless ``who`` can listen on host:port now.

    A port another program listens on at any address counts as taken, not only on ``host``:
    on the LAN address or 0.0.0.0 it would look free on 127.0.0.1 and then collide (or, worse,
    share a port number with a stranger). A privileged port this user may not bind is said to
    be that (EACCES), not "in use".
    """
    holders = _listening_on(port)
    if holders:
        where = "; ".join(f"{_host_port(address, port)} by {holder}" for address, holder in holders)
        raise PortInUseError(
            f"port {port} is in use: {where}, so {who} cannot have it on {host}. {_FIX}, or stop that process."
        )
    # Without a socket list (macOS), a bind on the wildcard finds holders of any IPv4 address.
    for address in (host,) if holders is not None else (host, "0.0.0.0"):
        error = _bind_error(address, port)
        if error is None:
            continue
        if error == errno.EACCES:
            start = unprivileged_port_start()
            raise PortNotPermittedError(
                f"port {port} is a privileged port (below {start}) and {user_name()} lacks the "
                "privilege to listen on it: the system refused with EACCES (permission denied); "
                f"the port is not in use. {_FIX}; ports from {start} up need no privilege."
            )
        if error == errno.EADDRINUSE:
            raise PortInUseError(
                f"port {port} on {address} is in use by a process this user cannot see, so "
                f"{who} cannot have it on {host}. {_FIX}."
            )
        if error == errno.EADDRNOTAVAIL and address == host:
            raise EmulatorError(
                f"{host} is not an address of this machine (EADDRNOTAVAIL): the loopback "
                "interface is down or missing. Bring it up (`ip link set lo up`)."
            )
        raise EmulatorError(f"cannot listen on {_host_port(address, port)}: {os.strerror(error)}")


def usable_port(requested: int | None, last: int | None, *, who: str = "the emulator") -> int:
    """The requested port (checked), else the last start's port when it is usable, else a free one."""
    if requested is not None:
        check_port(requested, who=who)
        return requested
    if last is not None:
        try:
            check_port(last, who=who)
            return last
        except EmulatorError as why:
            log.info("not reusing port %d of the last start: %s", last, why)
    for _ in range(20):
        port = free_port()
        with contextlib.suppress(PortInUseError):
            check_port(port, who=who)
            return port
    return free_port()
