"""Lambda functions in a topology: deploy, event sources, and invoke permissions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventlab.topology.model import TopologyError

if TYPE_CHECKING:
    from eventlab.topology.apply import Deployment


def build(deployment: Deployment) -> None:
    """Create the topology's functions and their event source mappings."""
    raise TopologyError(
        [f"function {f.name!r}: Lambda functions in topologies are not supported yet" for f in deployment.topology.functions]
    )


def allow_invoke(deployment: Deployment, name: str, service: str, source_arn: str) -> None:
    """Let ``service`` invoke function ``name``, only for ``source_arn``."""
    raise TopologyError([f"function {name!r}: Lambda functions in topologies are not supported yet"])
