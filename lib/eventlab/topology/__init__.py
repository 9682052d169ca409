"""Declare a topology (dataclasses or YAML), build it with :func:`apply`, remove it with the run.

    topology = Topology.from_yaml("data/topologies/fanout.yaml")
    with Run(target) as run:
        built = apply(topology, run)
        built.queues["orders"].url
"""

from eventlab.topology.apply import apply
from eventlab.topology.filters import PatternError, validate_event_pattern, validate_filter_policy
from eventlab.topology.handles import Handles
from eventlab.topology.model import (
    ArchiveSpec,
    BucketSpec,
    BusSpec,
    DeliveryStreamSpec,
    EventSourceSpec,
    FunctionSpec,
    InputTransformerSpec,
    QueueSpec,
    Ref,
    RuleSpec,
    RuleTargetSpec,
    StreamSpec,
    SubscriptionSpec,
    TopicSpec,
    Topology,
    TopologyError,
)
from eventlab.topology.validate import validate

__all__ = [
    "ArchiveSpec", "BucketSpec", "BusSpec", "DeliveryStreamSpec", "EventSourceSpec",
    "FunctionSpec", "Handles", "InputTransformerSpec", "PatternError", "QueueSpec", "Ref", "RuleSpec",
    "RuleTargetSpec", "StreamSpec", "SubscriptionSpec", "TopicSpec", "Topology", "TopologyError",
    "apply", "validate", "validate_event_pattern", "validate_filter_policy",
]
