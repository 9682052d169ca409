"""Where resources live: an embedded emulator (LocalStack, the default, or MiniStack) or real AWS
(only when asked).

A :class:`Target` hands out boto3 clients and knows its backend (``target.backend``:
``"localstack"``, ``"ministack"`` or ``"aws"``). Nothing else in the library needs to know which
target it is on, except where an emulator needs an emulated quota (``target.is_emulated``) and
where backends differ (the one table, :mod:`eventlab.fidelity.differences`).

Real AWS is never used by accident: :meth:`Target.aws` needs an explicit profile or region,
ignores nothing silently, and logs the account it is about to touch before it returns.

On an emulated target the clients also explain the emulator's own failures: a call to an
emulator that stopped raises :class:`EmulatorStoppedError` (what happened, how to restart, the
log tail) instead of a bare ``EndpointConnectionError``, and Kinesis without Node.js raises
:class:`KinesisBackendError` at once instead of after five retries.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from eventlab.runtime import (
    BACKEND_ENV,
    DEFAULT_BACKEND,
    EMULATORS,
    EmulatorError,
    EmulatorProcess,
    EmulatorStoppedError,
    backend_name,
    emulator_class,
    explain_failure,
    explain_unreachable,
    find_instance,
)
from eventlab.runtime.companions import COMPANION_REGION, COMPANIONS, REGION_ENV, emulator_region

log = logging.getLogger(__name__)

DEFAULT_REGION = COMPANION_REGION
LOCALSTACK_ACCOUNT = "000000000000"
TargetKind = Literal["localstack", "ministack", "aws"]
TARGET_NAMES = (*EMULATORS, "aws")


class TargetError(ValueError):
    """A target was asked for in a way that could reach the wrong place; the message says how."""


def _isolated_botocore_session() -> botocore.session.Session:
    """A botocore session blind to the user's AWS profile, config and credential files.

    The emulator must never pick up ``AWS_PROFILE`` or ``~/.aws/config`` (a missing profile
    would even fail the client), and must never send real credentials anywhere.
    """
    return botocore.session.Session(
        session_vars={
            "profile": (None, None, None, None),
            "config_file": (None, None, os.devnull, None),
            "credentials_file": (None, None, os.devnull, None),
        }
    )


# Failures of the connection itself, after botocore's retries: the emulator is gone or stuck.
_UNREACHABLE = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)


def _explain_emulator_errors(client: Any, endpoint_url: str) -> None:
    """Make a client of an emulated target say what went wrong with the emulator (botocore
    event hooks, so paginators and waiters are covered too). Never used for AWS."""

    def needs_retry(response: Any = None, caught_exception: Exception | None = None, **_: Any) -> None:
        if isinstance(caught_exception, _UNREACHABLE):
            # No point in retrying for seconds when the emulator's process is known to be gone.
            instance = find_instance(endpoint_url)
            record = instance.record if instance is not None else None
            if instance is not None and (record is None or not record.identity.alive()):
                raise EmulatorStoppedError(explain_unreachable(endpoint_url)) from caught_exception
        if response is not None:
            message = str((response[1] or {}).get("Error", {}).get("Message", ""))
            explained = explain_failure(message, endpoint_url) if message else None
            if explained is not None:
                raise explained

    def after_call_error(exception: Exception | None = None, **_: Any) -> None:
        if isinstance(exception, _UNREACHABLE):
            raise EmulatorStoppedError(explain_unreachable(endpoint_url)) from exception

    client.meta.events.register_first("needs-retry", needs_retry)
    client.meta.events.register("after-call-error", after_call_error)


@dataclass
class Target:
    """A place where eventlab builds resources, and the boto3 clients that reach it."""

    kind: TargetKind
    region: str
    session: boto3.Session
    endpoint_url: str | None = None
    profile: str | None = None
    # The URL of each service eventlab serves itself beside the emulator ({"eventbridgev2": url});
    # when empty, looked up in the emulator's record.
    endpoints: dict[str, str] = field(default_factory=dict)
    client_config: Config = field(
        default_factory=lambda: Config(
            retries={"mode": "standard", "max_attempts": 5},
            max_pool_connections=64,
            connect_timeout=5,
            read_timeout=70,
        )
    )
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def emulator(cls, endpoint_url: str, *, backend: str = DEFAULT_BACKEND, region: str = DEFAULT_REGION,
                 endpoints: Mapping[str, str] | None = None) -> Target:
        """The emulator of ``backend`` at ``endpoint_url``, with test credentials; ``endpoints``
        names the servers eventlab runs beside it, if not those in its record."""
        session = boto3.Session(
            botocore_session=_isolated_botocore_session(),
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name=region,
        )
        kind: TargetKind = "ministack" if backend_name(backend) == "ministack" else "localstack"
        return cls(kind=kind, region=region, session=session, endpoint_url=endpoint_url,
                   endpoints=dict(endpoints or {}))

    @classmethod
    def localstack(cls, endpoint_url: str, *, region: str = DEFAULT_REGION,
                   endpoints: Mapping[str, str] | None = None) -> Target:
        """The LocalStack at ``endpoint_url``, with LocalStack's test credentials."""
        return cls.emulator(endpoint_url, backend="localstack", region=region, endpoints=endpoints)

    @classmethod
    def embedded(
        cls, *, region: str | None = None, localstack: EmulatorProcess | None = None, backend: str | None = None
    ) -> Target:
        """The project's embedded emulator of ``backend`` (default: ``EVENTLAB_BACKEND``, else
        LocalStack), which must already be running (``eventlab up``); or the one given. Its
        clients sign for ``region``, by default the one it was started for (its eventbridgev2
        server refuses any other, as an AWS endpoint does)."""
        runtime = localstack or emulator_class(backend)()
        record = runtime.record or runtime.running()
        key = runtime.backend.key
        if record is None:
            raise EmulatorError(
                f"the embedded {runtime.backend.name} is not running. Start it with `eventlab up "
                f"--backend {key}` (or `make lab BACKEND={key}`), or use "
                f"`with eventlab.runtime.emulator({key!r}) as e: Target.emulator(e.endpoint_url, backend={key!r})`."
            )
        runtime.record = record
        runtime.check_listeners()  # attaching: refuse an instance that others could reach
        return cls.emulator(record.endpoint_url, backend=key, region=region or record.region, endpoints=record.endpoints)

    @classmethod
    def aws(
        cls,
        *,
        profile: str | None = None,
        region: str | None = None,
        session: boto3.Session | None = None,
        announce: bool = True,
    ) -> Target:
        """Real AWS, only with an explicitly named profile or region (or a session you built).

        Before it returns it asks STS which account the credentials belong to and logs it, so
        nobody creates resources in an account they did not mean to.
        """
        if session is None and not profile and not region:
            raise TargetError(
                "refusing to guess an AWS account: name a profile or a region, e.g. "
                "Target.aws(profile='sandbox', region='eu-west-1') or EVENTLAB_TARGET=aws with "
                "EVENTLAB_AWS_PROFILE / EVENTLAB_AWS_REGION."
            )
        if session is None:
            session = boto3.Session(profile_name=profile, region_name=region)
        resolved_region = region or session.region_name
        if not resolved_region:
            raise TargetError(
                f"profile {profile!r} names no region: pass region=... or set EVENTLAB_AWS_REGION."
            )
        target = cls(kind="aws", region=resolved_region, session=session, profile=profile)
        if announce:
            target.announce()
        return target

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Target:
        """The target the environment names: ``EVENTLAB_TARGET`` = ``localstack``, ``ministack``
        or ``aws`` (default: ``EVENTLAB_BACKEND``, else ``localstack``).

        For ``aws``, ``EVENTLAB_AWS_PROFILE`` and/or ``EVENTLAB_AWS_REGION`` must be set; the
        plain ``AWS_PROFILE`` is deliberately not enough. For an emulator,
        ``EVENTLAB_ENDPOINT_URL`` points at one of that backend (``EVENTLAB_BACKEND``, default
        ``localstack``, says which backend it is), else the embedded one is used.
        """
        env = os.environ if environ is None else environ
        session_backend = (env.get(BACKEND_ENV) or DEFAULT_BACKEND).strip().lower()
        kind = (env.get("EVENTLAB_TARGET") or session_backend).strip().lower()
        region = env.get(REGION_ENV) or None
        if kind == "aws":
            return cls.aws(profile=env.get("EVENTLAB_AWS_PROFILE") or None, region=region)
        if kind not in EMULATORS:
            raise TargetError(f"EVENTLAB_TARGET={kind!r}: use one of {', '.join(TARGET_NAMES)}.")
        if env.get("EVENTLAB_ENDPOINT_URL") and kind == session_backend:
            return cls.emulator(env["EVENTLAB_ENDPOINT_URL"], backend=kind, region=emulator_region(env))
        return cls.embedded(region=region, backend=kind)

    @classmethod
    def from_description(
        cls, description: Mapping[str, Any], *, announce: bool = False, endpoint_url: str | None = None
    ) -> Target:
        """The target :meth:`describe` described, for another process: a producer, a later
        ``eventlab destroy``, the reaper of a killed run. ``endpoint_url`` says where the emulator
        answers now, if not where it did (``EVENTLAB_ENDPOINT_URL``)."""
        kind = description.get("kind")
        region = description.get("region") or None
        if kind == "aws":
            return cls.aws(profile=description.get("profile") or None, region=region, announce=announce)
        if kind in EMULATORS:
            endpoint = endpoint_url or description.get("endpoint_url")
            if not endpoint:
                raise TargetError(f"the target {dict(description)} names no endpoint: set EVENTLAB_ENDPOINT_URL")
            return cls.emulator(str(endpoint), backend=str(kind), region=region or DEFAULT_REGION)
        raise TargetError(f"unknown target kind {kind!r} in {dict(description)}: it is one of {', '.join(TARGET_NAMES)}")

    @classmethod
    def from_name(
        cls, name: str, *, profile: str | None = None, region: str | None = None
    ) -> Target:
        """A target from a notebook or workload parameter: ``"localstack"``, ``"ministack"`` or
        ``"aws"``. An emulator's is the one at ``EVENTLAB_ENDPOINT_URL`` when that is of the same
        backend (``EVENTLAB_BACKEND``), else the running embedded one."""
        env = {"EVENTLAB_TARGET": name}
        if profile:
            env["EVENTLAB_AWS_PROFILE"] = profile
        if region:
            env["EVENTLAB_AWS_REGION"] = region
        for passed in ("EVENTLAB_ENDPOINT_URL", BACKEND_ENV):
            if os.environ.get(passed):
                env[passed] = os.environ[passed]
        return cls.from_env(env)

    # -- clients ---------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """The backend it reaches, by the name the known-differences table uses."""
        return self.kind

    @property
    def is_emulated(self) -> bool:
        """True on an emulator (LocalStack or MiniStack): the only thing that decides emulated quotas."""
        return self.kind != "aws"

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on this target, created once and shared (thread-safe)."""
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self._clients[service] = self.new_client(service)
            return client

    def new_client(self, service: str, *, config: Config | None = None) -> Any:
        """A client of its own, not the shared one (a consumer that must not share connections,
        or one with other settings: ``config`` is merged into the target's)."""
        endpoint_url = self.service_endpoint(service)
        client = self.session.client(
            service,  # type: ignore[call-overload]
            region_name=self.region,
            endpoint_url=endpoint_url,
            config=self.client_config.merge(config) if config else self.client_config,
        )
        if self.is_emulated and self.endpoint_url and endpoint_url == self.endpoint_url:
            _explain_emulator_errors(client, self.endpoint_url)
        return client

    def service_endpoint(self, service: str) -> str | None:
        """Where ``service``'s clients go: the emulator, or the server eventlab runs beside it for
        an API the emulator lacks (``eventbridgev2``); None on AWS (its own endpoint)."""
        companion = COMPANIONS.get(service)
        if companion is None:
            return self.endpoint_url
        problem = companion.unavailable()
        if problem:
            raise TargetError(problem)
        if not self.is_emulated:
            return None
        if service in self.endpoints:
            return self.endpoints[service]
        instance = find_instance(self.endpoint_url) if self.endpoint_url else None
        record = instance.record if instance is not None else None
        if record is not None and service in record.endpoints:
            return record.endpoints[service]
        raise TargetError(
            f"no {service} server runs beside the emulator at {self.endpoint_url}: eventlab starts "
            f"one with the emulator it runs (`eventlab up`), and this emulator has none (eventlab "
            "did not start it, or started it before it could). Restart it with `eventlab down && "
            f"eventlab up`, or name the server: Target.emulator(url, endpoints={{{service!r}: ...}})."
        )

    def check_emulator(self) -> None:
        """On an emulator that eventlab runs, check again that each of its sockets is on loopback:
        kinesis-mock and Lambda handler processes start long after the emulator. Raises
        :class:`eventlab.runtime.ExposedEmulatorError`; does nothing on AWS or elsewhere."""
        if not self.is_emulated or not self.endpoint_url:
            return
        instance = find_instance(self.endpoint_url)
        if instance is not None and instance.recorded() is not None:
            instance.check_listeners()

    def emulator_version(self) -> str | None:
        """The release of the emulator that answers (as the running instance reported it; its
        record remembers it), ``"unknown"`` when it does not say; None on AWS."""
        if not self.is_emulated or not self.endpoint_url:
            return None
        instance = find_instance(self.endpoint_url)
        if instance is not None and instance.record is not None and instance.backend.key == self.backend:
            return instance.record.version
        backend = emulator_class(self.backend).backend
        health = backend.health(self.endpoint_url)
        return (backend.reported_version(health) if health else None) or "unknown"

    # -- identity --------------------------------------------------------------------------
    def identity(self) -> dict[str, str]:
        """Account, ARN and user id of the credentials in use (STS GetCallerIdentity)."""
        reply = self.client("sts").get_caller_identity()
        return {"account": reply["Account"], "arn": reply["Arn"], "user_id": reply["UserId"]}

    @property
    def account_id(self) -> str:
        return LOCALSTACK_ACCOUNT if self.is_emulated else self.identity()["account"]

    def announce(self) -> dict[str, str]:
        """Log, before anything is created, exactly which AWS account and region will be used."""
        who = self.identity()
        log.warning(
            "eventlab will create and delete resources in AWS account %s (%s), region %s%s",
            who["account"],
            who["arn"],
            self.region,
            f", profile {self.profile}" if self.profile else "",
        )
        return who

    def describe(self) -> dict[str, Any]:
        """What a result records about where it ran."""
        return {
            "kind": self.kind,
            "region": self.region,
            "endpoint_url": self.endpoint_url,
            "profile": self.profile,
        }

    def __str__(self) -> str:
        where = self.endpoint_url if self.is_emulated else f"profile={self.profile}"
        return f"{self.kind} ({self.region}, {where})"
