"""What a topology built for a run: the handle of every resource, by declared name and kind.

:func:`eventlab.topology.apply` fills one :class:`Handles` per run and topology and keeps it
here, so that applying the same topology again for the same run creates only what is missing;
:func:`eventlab.topology.plan.plan` fills one with estimated ARNs, so that the policy code runs
offline on the same handles. The run itself holds no topology state.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, Protocol

from eventlab import policies
from eventlab.run import Run
from eventlab.services import events, firehose, kinesis, kms, lambda_, s3, ses, sns, sqs
from eventlab.topology.model import Ref, Topology


class Place(Protocol):
    """Where ARNs point: a target's (or an estimate's) region and account."""

    @property
    def region(self) -> str: ...

    @property
    def account_id(self) -> str: ...


@dataclass
class Handles:
    """Handles of everything a topology built (or will build): by declared name, per kind."""

    topology: Topology
    place: Place
    queues: dict[str, sqs.Queue] = field(default_factory=dict)
    topics: dict[str, sns.Topic] = field(default_factory=dict)
    subscriptions: dict[str, sns.Subscription] = field(default_factory=dict)
    buses: dict[str, events.EventBus] = field(default_factory=dict)
    archives: dict[str, str] = field(default_factory=dict)
    rules: dict[str, events.Rule] = field(default_factory=dict)
    streams: dict[str, kinesis.Stream] = field(default_factory=dict)
    consumers: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, s3.Bucket] = field(default_factory=dict)
    delivery_streams: dict[str, firehose.DeliveryStream] = field(default_factory=dict)
    functions: dict[str, lambda_.Function] = field(default_factory=dict)
    # Event source mappings by "function/source reference", e.g. "inventory/queue:inventory".
    mappings: dict[str, lambda_.EventSourceMapping] = field(default_factory=dict)
    # The resource policies and rule roles written, by "queue:NAME", "topic:NAME", "role:NAME".
    policies: dict[str, policies.Policy] = field(default_factory=dict)
    # Customer-managed keys of the queues and topics AWS services publish to, by "queue:NAME"/"topic:NAME".
    keys: dict[str, kms.Key] = field(default_factory=dict)
    # Rules whose targets are put, and (function, source ARN) pairs allowed to invoke.
    targeted: set[str] = field(default_factory=set)
    invokers: set[tuple[str, str]] = field(default_factory=set)

    def table(self, kind: str) -> dict[str, Any]:
        """The handles of one kind of reference (``queue``, ``topic``, ...), by declared name."""
        return {
            "queue": self.queues,
            "topic": self.topics,
            "bus": self.buses,
            "stream": self.streams,
            "bucket": self.buckets,
            "function": self.functions,
            "firehose": self.delivery_streams,
        }[kind]

    def arn(self, ref: Ref | str) -> str:
        """The ARN behind a reference such as ``queue:orders`` (or ``identity:a@example.com``)."""
        ref = Ref.parse(ref) if isinstance(ref, str) else ref
        if ref.kind == "identity":
            return ses.identity_arn(self.place, ref.name)
        return str(self.table(ref.kind)[ref.name].arn)

    def outputs(self) -> dict[str, str]:
        """Every ARN and queue URL, keyed ``kind:name`` (what an IaC tool would print)."""
        out: dict[str, str] = {}
        for name, queue in self.queues.items():
            out[f"queue:{name}"] = queue.url
        for kind, table in (
            ("topic", self.topics),
            ("bus", self.buses),
            ("rule", self.rules),
            ("stream", self.streams),
            ("bucket", self.buckets),
            ("delivery-stream", self.delivery_streams),
            ("function", self.functions),
        ):
            for name, handle in table.items():
                out[f"{kind}:{name}"] = handle.arn
        return out


_built: weakref.WeakKeyDictionary[Run, dict[str, Handles]] = weakref.WeakKeyDictionary()


def of_run(run: Run, topology: Topology) -> Handles:
    """The handles of ``topology`` built for ``run`` so far (empty the first time)."""
    by_name = _built.setdefault(run, {})
    if topology.name not in by_name:
        by_name[topology.name] = Handles(topology=topology, place=run.target)
    return by_name[topology.name]
