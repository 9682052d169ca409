"""EventBridge Schemas: registries (AWS only; LocalStack's open edition has no Schemas API).

The registry model itself (schemas, versions, validation, bindings) is :mod:`eventlab.schemas`;
this module owns the AWS resource: create, find by run prefix, delete.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from eventlab.run import Run, resource_kind
from eventlab.target import Target

MAX_REGISTRY_NAME = 64


def create_registry(run: Run, base: str, *, description: str = "") -> tuple[str, str]:
    """Create a custom registry named for the run; returns its name and ARN."""
    name = run.name(base, max_length=MAX_REGISTRY_NAME)
    client = run.target.client("schemas")
    kwargs: dict[str, Any] = {"RegistryName": name, "Tags": run.tags}
    if description:
        kwargs["Description"] = description
    arn = str(client.create_registry(**kwargs)["RegistryArn"])
    run.track(REGISTRY, name, arn, lambda: delete_registry(client, name))
    return name, arn


def list_schemas(client: Any, registry: str, prefix: str = "") -> list[str]:
    """The names of the schemas in a registry."""
    names: list[str] = []
    kwargs: dict[str, Any] = {"RegistryName": registry}
    if prefix:
        kwargs["SchemaNamePrefix"] = prefix
    while True:
        reply = client.list_schemas(**kwargs)
        names.extend(s["SchemaName"] for s in reply.get("Schemas", []))
        if not reply.get("NextToken"):
            return sorted(names)
        kwargs["NextToken"] = reply["NextToken"]


def delete_registry(client: Any, name: str) -> None:
    """Delete every schema of a registry, then the registry (it must be empty)."""
    for schema in list_schemas(client, name):
        client.delete_schema(RegistryName=name, SchemaName=schema)
    client.delete_registry(RegistryName=name)


# -- what a run leaves behind ------------------------------------------------------------------
def _find_registries(target: Target, prefix: str) -> Iterator[str]:
    # The emulator has no Schemas API; eventlab's registries there are S3 buckets (s3:bucket).
    if target.is_emulated:
        return
    for page in target.client("schemas").get_paginator("list_registries").paginate(
        RegistryNamePrefix=prefix, Scope="LOCAL"
    ):
        yield from (r["RegistryName"] for r in page.get("Registries", []))


REGISTRY = resource_kind("schemas:registry", _find_registries, lambda t, name: delete_registry(t.client("schemas"), name))
