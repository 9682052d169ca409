"""Schema registries: registry -> schema -> versions, on AWS or kept by eventlab on the emulator.

LocalStack's open edition has no EventBridge Schemas API, so on the emulator a
:class:`S3SchemaRegistry` keeps the same model as JSON objects in an S3 bucket of the run::

    registries/<registry>/registry.json
    registries/<registry>/schemas/<schema>/versions/<n>.json

Why S3 and not files in the build folder: the bucket is created, tagged, leak-checked and
deleted with the run like every other resource; every process that reaches the emulator
(notebook kernels, consumers, the CLI) sees the same registry; and a new version is written
with ``IfNoneMatch="*"``, so two writers can never both create version ``n``. On AWS,
:class:`EventBridgeSchemaRegistry` calls the real API (``schemas`` client). Both share the
behaviour that matters here (:class:`SchemaRegistry`): an unchanged schema makes no new
version, every new version is compared with the previous one, validation and code bindings.
:func:`create_registry` picks one by ``target.is_emulated``.
"""

from __future__ import annotations

import abc
import functools
import io
import json
import logging
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError

from eventlab.run import Run
from eventlab.schemas import codegen, compat, document, validate
from eventlab.schemas.infer import (
    DRAFT4,
    SCHEMA_TYPES,
    InferredSchema,
    canonical,
    merge_shapes,
    render,
)
from eventlab.services import s3
from eventlab.services import schemas as schemas_service
from eventlab.target import Target

log = logging.getLogger(__name__)

MAX_CONTENT = 100_000  # characters; the Schemas API's limit on Content
MAX_VERSION_RETRIES = 20


class SchemaRegistryError(RuntimeError):
    """A registry operation failed; the message names the registry or schema and the fix."""


class SchemaNotFoundError(SchemaRegistryError, KeyError):
    """No such schema (or version) in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class SchemaVersion:
    """One version of a schema, as DescribeSchema returns it."""

    registry: str
    name: str
    version: str
    type: str
    content: str = field(repr=False)
    arn: str = ""
    created: datetime | None = None
    description: str = ""

    @property
    def document(self) -> dict[str, Any]:
        """The content as a dict."""
        return document.parse(self.content)

    @property
    def json_schema(self) -> dict[str, Any]:
        """The content as JSON Schema Draft 4 (OpenApi3 content is converted)."""
        return document.to_draft4(self.content, self.type)


@dataclass(frozen=True)
class PutResult:
    """What :meth:`SchemaRegistry.put_schema` did: the version now current, whether it is new,
    and how it differs from the previous version."""

    version: SchemaVersion
    created: bool
    previous: str | None = None
    changes: list[compat.Change] = field(default_factory=list)

    @property
    def breaking(self) -> list[compat.Change]:
        return compat.breaking(self.changes)

    @property
    def compatible(self) -> bool:
        return not self.breaking


class SchemaRegistry(abc.ABC):
    """A registry of versioned event schemas; subclasses store them (S3 or EventBridge Schemas)."""

    kind: str = "abstract"

    def __init__(self, target: Target, name: str) -> None:
        self.target = target
        self.name = name

    # -- storage, per backend -----------------------------------------------------------------
    @abc.abstractmethod
    def _write_version(self, schema: str, schema_type: str, content: str, description: str,
                       exists: bool) -> SchemaVersion:
        """Store ``content`` as the next version of ``schema`` (the first if it does not exist)."""

    @abc.abstractmethod
    def describe_schema(self, schema: str, version: str | None = None) -> SchemaVersion:
        """One version of a schema (the latest by default); raises :class:`SchemaNotFoundError`."""

    @abc.abstractmethod
    def list_schema_versions(self, schema: str) -> list[str]:
        """The versions of a schema, oldest first (``["1", "2", ...]``)."""

    @abc.abstractmethod
    def list_schemas(self, prefix: str = "") -> list[str]:
        """The names of the schemas in the registry."""

    # -- shared behaviour --------------------------------------------------------------------
    @functools.cached_property
    def account_id(self) -> str:
        """The account of the target, asked once (on AWS it is an STS call)."""
        return self.target.account_id

    def schema_arn(self, schema: str) -> str:
        return f"arn:aws:schemas:{self.target.region}:{self.account_id}:schema/{self.name}/{schema}"

    def put_schema(self, schema: str, content: str | Mapping[str, Any], *, schema_type: str | None = None,
                   description: str = "") -> PutResult:
        """Create the schema, or add a version if ``content`` differs from the latest one.

        Content equal to the latest version (compared as key-sorted JSON) creates nothing. A new
        version comes with the list of changes and which of them break consumers; a breaking
        change is logged as a warning, not refused (a registry records what producers send).
        """
        doc = document.parse(content)
        schema_type = schema_type or document.detect_type(doc)
        if schema_type not in SCHEMA_TYPES:
            raise ValueError(f"schema type {schema_type!r}: use one of {', '.join(SCHEMA_TYPES)}")
        document.to_draft4(doc, schema_type)  # fail early on content that cannot be read
        text = json.dumps(doc, indent=2, sort_keys=False)
        if len(text) > MAX_CONTENT:
            raise ValueError(f"schema {schema}: content is {len(text)} characters, over the {MAX_CONTENT} the Schemas API allows")
        try:
            latest: SchemaVersion | None = self.describe_schema(schema)
        except SchemaNotFoundError:
            latest = None
        if latest is not None and latest.type == schema_type and canonical(latest.content) == canonical(doc):
            log.info("schema %s/%s unchanged at version %s", self.name, schema, latest.version)
            return PutResult(version=latest, created=False, previous=latest.version)
        new = self._write_version(schema, schema_type, text, description, exists=latest is not None)
        if latest is None:
            log.info("schema %s/%s created at version %s", self.name, schema, new.version)
            return PutResult(version=new, created=True)
        changes = compat.compare(latest.content, new.content, latest.type, new.type)
        result = PutResult(version=new, created=True, previous=latest.version, changes=changes)
        if result.breaking:
            log.warning("schema %s/%s version %s breaks version %s: %s", self.name, schema, new.version,
                        latest.version, "; ".join(str(c) for c in result.breaking))
        else:
            log.info("schema %s/%s version %s is compatible with %s", self.name, schema, new.version, latest.version)
        return result

    def put_inferred(self, inferred: InferredSchema, *, schema_type: str = DRAFT4,
                     merge: bool = True) -> PutResult:
        """Register a schema inferred from events under its discovered name (``source@DetailType``).

        With ``merge`` (as EventBridge schema discovery does), the inferred shape is merged into
        the latest version first: fields seen before but absent now become optional, new fields
        are added as optional, so discovery only ever widens a schema. Without it, the inferred
        schema is registered as seen and may break the previous version.
        """
        detail = inferred.detail
        if merge:
            try:
                latest = self.describe_schema(inferred.name)
            except SchemaNotFoundError:
                latest = None
            if latest is not None:
                previous = document.detail_shape(latest.json_schema)
                detail = merge_shapes(previous, detail)
        content = render(inferred.source, inferred.detail_type, detail, schema_type)
        return self.put_schema(inferred.name, content, schema_type=schema_type,
                               description=f"Discovered from {inferred.events} event(s) by eventlab")

    def compatibility(self, schema: str, old: str, new: str | None = None) -> list[compat.Change]:
        """The changes from version ``old`` to ``new`` (default: the latest)."""
        a, b = self.describe_schema(schema, old), self.describe_schema(schema, new)
        return compat.compare(a.content, b.content, a.type, b.type)

    def problems(self, event: Mapping[str, Any], schema: str, version: str | None = None, *,
                 detail_only: bool = False) -> list[validate.Problem]:
        """What is wrong with ``event`` under a schema version (empty when it matches)."""
        v = self.describe_schema(schema, version)
        return validate.problems(event, v.content, schema_type=v.type, detail_only=detail_only)

    def validate(self, event: Mapping[str, Any], schema: str, version: str | None = None, *,
                 detail_only: bool = False) -> SchemaVersion:
        """Raise :class:`~eventlab.schemas.validate.SchemaValidationError` naming each bad field;
        returns the version the event matched."""
        v = self.describe_schema(schema, version)
        validate.validate(event, v.content, schema=f"{self.name}/{schema} version {v.version}",
                          schema_type=v.type, detail_only=detail_only)
        return v

    def code_bindings(self, schema: str, version: str | None = None) -> str:
        """Python source with typed dataclasses for a schema version (see :mod:`.codegen`)."""
        v = self.describe_schema(schema, version)
        header = (f"Typed bindings for {self.name}/{schema} version {v.version} ({v.type}), generated by "
                  "eventlab.schemas. Do not edit; regenerate.")
        return codegen.python_bindings(v.content, v.type, header=header)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r} on {self.target})"


# -- on the emulator: S3 ---------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3SchemaRegistry(SchemaRegistry):
    """The registry model kept as JSON objects in an S3 bucket (LocalStack has no Schemas API).

    Works on AWS too (pass ``backend="s3"`` to :func:`create_registry`) where the Schemas API
    is not allowed.
    """

    kind = "s3"

    def __init__(self, target: Target, name: str, bucket: str) -> None:
        super().__init__(target, name)
        self.bucket = bucket
        self._s3 = target.client("s3")

    @property
    def arn(self) -> str:
        return f"arn:aws:schemas:{self.target.region}:{self.account_id}:registry/{self.name}"

    def _key(self, *parts: str) -> str:
        return "/".join(["registries", quote(self.name, safe=""), *parts])

    def _versions_prefix(self, schema: str) -> str:
        return self._key("schemas", quote(schema, safe="@.-_"), "versions") + "/"

    @classmethod
    def open(cls, target: Target, bucket: str, name: str | None = None) -> S3SchemaRegistry:
        """An existing registry in ``bucket`` (e.g. from another kernel); ``name`` may be left
        out when the bucket holds only one registry."""
        client = target.client("s3")
        reply = client.list_objects_v2(Bucket=bucket, Prefix="registries/", Delimiter="/")
        names = sorted(unquote(p["Prefix"].rstrip("/").rsplit("/", 1)[-1]) for p in reply.get("CommonPrefixes", []))
        if name is None and len(names) == 1:
            name = names[0]
        if name is None or name not in names:
            wanted = f"registry {name}" if name else "a registry name"
            raise SchemaRegistryError(f"bucket {bucket} has registries {names or 'none'}: pass {wanted} that exists, "
                                      "or create one with create_registry(run, ...)")
        return cls(target, name, bucket)

    def create(self, description: str = "", tags: Mapping[str, str] | None = None) -> None:
        """Write the registry's own record (CreateRegistry)."""
        body = {"RegistryName": self.name, "RegistryArn": self.arn, "Description": description,
                "Tags": dict(tags or {}), "Created": _now().isoformat()}
        try:
            self._s3.put_object(Bucket=self.bucket, Key=self._key("registry.json"),
                                Body=json.dumps(body).encode(), ContentType="application/json", IfNoneMatch="*")
        except ClientError as error:
            if _error_code(error) == "PreconditionFailed":
                raise SchemaRegistryError(f"registry {self.name} already exists in bucket {self.bucket}") from error
            raise

    def list_schema_versions(self, schema: str) -> list[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        versions = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._versions_prefix(schema)):
            for obj in page.get("Contents", []):
                stem = obj["Key"].rsplit("/", 1)[-1].removesuffix(".json")
                if stem.isdigit():
                    versions.append(int(stem))
        return [str(v) for v in sorted(versions)]

    def list_schemas(self, prefix: str = "") -> list[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        names = set()
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key("schemas") + "/", Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                names.add(unquote(common["Prefix"].rstrip("/").rsplit("/", 1)[-1]))
        return sorted(n for n in names if n.startswith(prefix))

    def describe_schema(self, schema: str, version: str | None = None) -> SchemaVersion:
        if version is None:
            versions = self.list_schema_versions(schema)
            if not versions:
                raise SchemaNotFoundError(f"schema {schema} is not in registry {self.name}: "
                                          "register it with put_schema() or discover it from events")
            version = versions[-1]
        if not str(version).isdigit():
            raise SchemaNotFoundError(f"schema version {version!r}: versions are numbers ('1', '2', ...)")
        try:
            reply = self._s3.get_object(Bucket=self.bucket, Key=f"{self._versions_prefix(schema)}{int(version)}.json")
        except ClientError as error:
            if _error_code(error) in ("NoSuchKey", "404"):
                raise SchemaNotFoundError(f"schema {schema} has no version {version} in registry {self.name}; "
                                          f"versions: {self.list_schema_versions(schema) or 'none'}") from error
            raise
        body = json.loads(reply["Body"].read())
        return SchemaVersion(registry=self.name, name=schema, version=str(body["SchemaVersion"]),
                             type=body["Type"], content=body["Content"], arn=self.schema_arn(schema),
                             created=datetime.fromisoformat(body["VersionCreatedDate"]),
                             description=body.get("Description", ""))

    def _write_version(self, schema: str, schema_type: str, content: str, description: str,
                       exists: bool) -> SchemaVersion:
        for _ in range(MAX_VERSION_RETRIES):
            versions = self.list_schema_versions(schema)
            number = int(versions[-1]) + 1 if versions else 1
            created = _now()
            body = {"SchemaName": schema, "SchemaVersion": str(number), "Type": schema_type,
                    "Content": content, "Description": description, "VersionCreatedDate": created.isoformat()}
            try:
                self._s3.put_object(Bucket=self.bucket, Key=f"{self._versions_prefix(schema)}{number}.json",
                                    Body=json.dumps(body).encode(), ContentType="application/json",
                                    IfNoneMatch="*")
            except ClientError as error:
                if _error_code(error) in ("PreconditionFailed", "ConditionalRequestConflict"):
                    log.debug("version %s of %s was taken by another writer; retrying", number, schema)
                    continue
                raise
            return SchemaVersion(self.name, schema, str(number), schema_type, content,
                                 self.schema_arn(schema), created, description)
        raise SchemaRegistryError(f"schema {schema}: gave up after {MAX_VERSION_RETRIES} writers raced for "
                                  "the next version number")


# -- on AWS: the EventBridge Schemas API -----------------------------------------------------
class EventBridgeSchemaRegistry(SchemaRegistry):
    """A custom registry in EventBridge Schemas (``schemas`` client)."""

    kind = "eventbridge"

    def __init__(self, target: Target, name: str) -> None:
        super().__init__(target, name)
        self._client = target.client("schemas")

    def _not_found(self, error: ClientError) -> bool:
        return _error_code(error) in ("NotFoundException", "NotFound")

    def describe_schema(self, schema: str, version: str | None = None) -> SchemaVersion:
        kwargs: dict[str, Any] = {"RegistryName": self.name, "SchemaName": schema}
        if version is not None:
            kwargs["SchemaVersion"] = str(version)
        try:
            reply = self._client.describe_schema(**kwargs)
        except ClientError as error:
            if self._not_found(error):
                what = f"version {version} of schema {schema}" if version else f"schema {schema}"
                raise SchemaNotFoundError(f"{what} is not in registry {self.name}") from error
            raise
        return SchemaVersion(registry=self.name, name=schema, version=str(reply["SchemaVersion"]),
                             type=reply["Type"], content=reply["Content"], arn=reply.get("SchemaArn", ""),
                             created=reply.get("VersionCreatedDate"), description=reply.get("Description", ""))

    def list_schema_versions(self, schema: str) -> list[str]:
        versions: list[str] = []
        kwargs: dict[str, Any] = {"RegistryName": self.name, "SchemaName": schema}
        while True:
            try:
                reply = self._client.list_schema_versions(**kwargs)
            except ClientError as error:
                if self._not_found(error):
                    return []
                raise
            versions.extend(str(v["SchemaVersion"]) for v in reply.get("SchemaVersions", []))
            if not reply.get("NextToken"):
                return sorted(versions, key=int)
            kwargs["NextToken"] = reply["NextToken"]

    def list_schemas(self, prefix: str = "") -> list[str]:
        return schemas_service.list_schemas(self._client, self.name, prefix)

    def _write_version(self, schema: str, schema_type: str, content: str, description: str,
                       exists: bool) -> SchemaVersion:
        kwargs: dict[str, Any] = {"RegistryName": self.name, "SchemaName": schema, "Type": schema_type,
                                  "Content": content}
        if description:
            kwargs["Description"] = description
        if exists:
            reply = self._client.update_schema(**kwargs)
        else:
            try:
                reply = self._client.create_schema(**kwargs)
            except ClientError as error:
                if _error_code(error) != "ConflictException":
                    raise
                log.info("schema %s was created by another writer meanwhile; adding a version", schema)
                reply = self._client.update_schema(**kwargs)
        return SchemaVersion(registry=self.name, name=schema, version=str(reply["SchemaVersion"]),
                             type=reply.get("Type", schema_type), content=content,
                             arn=reply.get("SchemaArn", ""), created=reply.get("VersionCreatedDate"),
                             description=reply.get("Description", description))

    def aws_code_binding(self, schema: str, version: str | None = None, *, language: str = "Python36",
                         timeout: float = 120, poll: float = 2) -> dict[str, str]:
        """EventBridge's own code binding (PutCodeBinding, then GetCodeBindingSource): its files.

        AWS generates them asynchronously; this waits until the binding is ``CREATE_COMPLETE``.
        They use AWS's ``schema`` package layout; :meth:`code_bindings` gives eventlab's own
        dataclasses on every target.
        """
        kwargs: dict[str, Any] = {"RegistryName": self.name, "SchemaName": schema, "Language": language}
        if version is not None:
            kwargs["SchemaVersion"] = str(version)
        status = self._client.put_code_binding(**kwargs).get("Status")
        deadline = time.monotonic() + timeout
        while status != "CREATE_COMPLETE":
            if status == "CREATE_FAILED":
                raise SchemaRegistryError(f"EventBridge could not generate {language} bindings for {schema}")
            if time.monotonic() > deadline:
                raise SchemaRegistryError(f"{language} bindings for {schema} still {status} after {timeout:.0f} s")
            time.sleep(poll)
            status = self._client.describe_code_binding(**kwargs).get("Status")
        body = self._client.get_code_binding_source(**kwargs)["Body"]
        data = body.read() if hasattr(body, "read") else body
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {n: archive.read(n).decode("utf-8") for n in archive.namelist() if not n.endswith("/")}

    def delete(self) -> None:
        """Delete every schema of the registry, then the registry."""
        schemas_service.delete_registry(self._client, self.name)


# -- the factory -----------------------------------------------------------------------------
def create_registry(run: Run, base: str = "events", *, description: str = "",
                    backend: str | None = None) -> SchemaRegistry:
    """Create a registry for the run: S3-backed on the emulator, EventBridge Schemas on AWS.

    ``backend`` (``"s3"`` or ``"eventbridge"``) overrides the choice; the emulator has no
    Schemas API, so ``"eventbridge"`` there fails with a clear error.
    """
    backend = backend or ("s3" if run.target.is_emulated else "eventbridge")
    if backend == "s3":
        name = run.name(base, max_length=schemas_service.MAX_REGISTRY_NAME)
        bucket = s3.create_bucket(run, f"{base}-schemas")
        registry = S3SchemaRegistry(run.target, name, bucket.name)
        registry.create(description, run.tags)
        return registry
    if backend != "eventbridge":
        raise ValueError(f"registry backend {backend!r}: use 's3' or 'eventbridge'")
    if run.target.is_emulated:
        raise SchemaRegistryError(
            "LocalStack's open edition has no EventBridge Schemas API: use backend='s3' (the default "
            "on the emulator), which keeps the same registry model in an S3 bucket of the run."
        )
    name, _ = schemas_service.create_registry(run, base, description=description)
    return EventBridgeSchemaRegistry(run.target, name)
