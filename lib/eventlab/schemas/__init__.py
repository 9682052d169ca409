"""Event schemas: discovery from a bus, a versioned registry, validation, typed code bindings.

The model is EventBridge Schemas' (registry -> schema -> versions, ``JSONSchemaDraft4`` or
``OpenApi3`` content shaped like EventBridge's discovered schemas, names
``<source>@<DetailType>``). On AWS the registry is EventBridge's; on LocalStack, whose open
edition has no Schemas API, eventlab keeps the same model in an S3 bucket of the run.
:func:`create_registry` chooses by ``target.is_emulated``::

    registry = create_registry(run, "shop")
    observer = observe_bus(run, bus)
    ...                                             # producers put events
    discover(registry, observer.receive(min_events=10))
    registry.validate(event, "shop.orders@OrderPlaced")
    Path("order_placed.py").write_text(registry.code_bindings("shop.orders@OrderPlaced"))
"""

from eventlab.schemas.codegen import import_bindings, python_bindings
from eventlab.schemas.compat import Change, compare
from eventlab.schemas.discovery import BusObserver, discover, observe_bus
from eventlab.schemas.infer import (
    DRAFT4,
    OPENAPI3,
    InferredSchema,
    infer_schemas,
    render,
    schema_name,
)
from eventlab.schemas.registry import (
    EventBridgeSchemaRegistry,
    PutResult,
    S3SchemaRegistry,
    SchemaNotFoundError,
    SchemaRegistry,
    SchemaRegistryError,
    SchemaVersion,
    create_registry,
)
from eventlab.schemas.validate import Problem, SchemaValidationError, problems, validate

__all__ = [
    "DRAFT4",
    "OPENAPI3",
    "BusObserver",
    "Change",
    "EventBridgeSchemaRegistry",
    "InferredSchema",
    "Problem",
    "PutResult",
    "S3SchemaRegistry",
    "SchemaNotFoundError",
    "SchemaRegistry",
    "SchemaRegistryError",
    "SchemaValidationError",
    "SchemaVersion",
    "compare",
    "create_registry",
    "discover",
    "import_bindings",
    "infer_schemas",
    "observe_bus",
    "problems",
    "python_bindings",
    "render",
    "schema_name",
    "validate",
]
