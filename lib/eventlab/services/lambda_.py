"""Lambda: functions packaged from a folder, their roles, log groups, triggers and permissions.

The same calls work on the embedded LocalStack (handlers run as host processes, see
``eventlab_localstack.lambda_executor``) and on real AWS: nothing here is LocalStack-only. On AWS a
new role takes seconds to be usable by Lambda; the create calls retry for that.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.util
import io
import json
import logging
import re
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar

from botocore.exceptions import ClientError

from eventlab import policies
from eventlab.run import Run, resource_kind
from eventlab.services import iam, logs
from eventlab.target import Target
from eventlab.waiting import until, until_gone

log = logging.getLogger(__name__)
T = TypeVar("T")  # Python 3.11 has no def f[T]

# Limits from the Lambda API reference and "Lambda quotas"; the topology validator reads them here.
MAX_NAME = 64
NAME_PATTERN = r"[a-zA-Z0-9_-]+"
DEFAULT_RUNTIME = "python3.13"
# eventlab's executor runs Python handlers only: the Python runtimes Lambda creates functions
# with today, and those it has deprecated (still created, with a warning; see the Lambda
# runtimes page for the dates after which AWS refuses them).
PYTHON_RUNTIMES = ("python3.14", "python3.13", "python3.12", "python3.11", "python3.10")
DEPRECATED_PYTHON_RUNTIMES = ("python3.9", "python3.8")
# The Lambda runtimes page's deprecated runtimes table, for the Python runtimes eventlab knows:
# (deprecation, block function create, block function update). After its block-create date
# AWS refuses CreateFunction with the runtime; before it, a deprecated runtime is still created.
RUNTIMES_PAGE = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html"
RUNTIME_DATES: dict[str, tuple[date, date, date]] = {
    "python3.8": (date(2024, 10, 14), date(2025, 2, 28), date(2025, 3, 31)),
    "python3.9": (date(2025, 12, 15), date(2027, 2, 1), date(2027, 3, 3)),
}


def runtime_status(runtime: str, today: date) -> Literal["supported", "deprecated", "blocked"]:
    """Where a Python runtime is on AWS's deprecation path on ``today``: ``blocked`` once AWS
    refuses to create functions with it, ``deprecated`` once it gets no more patches."""
    dates = RUNTIME_DATES.get(runtime)
    if dates is None:
        return "supported"
    deprecated, block_create, _ = dates
    if today >= block_create:
        return "blocked"
    return "deprecated" if today >= deprecated else "supported"
MEMORY_MB = (128, 10_240)
TIMEOUT_SECONDS = (1, 900)
HANDLER_MAX_CHARS = 128
DESCRIPTION_MAX_CHARS = 256
MAX_TAGS = 50  # per function ("Using tags on Lambda functions")
# The environment, measured as Lambda does: its compact JSON, in bytes.
ENVIRONMENT_MAX_BYTES = 4_096
ENVIRONMENT_KEY_PATTERN = r"[a-zA-Z]([a-zA-Z0-9_])+"
# Set by the runtime; Lambda refuses a function that sets them.
RESERVED_ENVIRONMENT_KEYS = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ",
})
# A .zip uploaded in the CreateFunction request, and what it holds unzipped.
PACKAGE_MAX_ZIPPED_BYTES = 50 * 1024 * 1024
PACKAGE_MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
# Reserved concurrency comes out of the account's (default 1,000); 100 always stay unreserved.
ACCOUNT_CONCURRENCY = 1_000
MIN_UNRESERVED_CONCURRENCY = 100
# Event source mappings (Lambda parameters for SQS and Kinesis event source mappings).
SQS_BATCH_SIZE = (1, 10_000)
SQS_FIFO_BATCH_SIZE = (1, 10)
SQS_BATCH_WITHOUT_WINDOW = 10  # larger batches need a batching window of at least 1 s
STREAM_BATCH_SIZE = (1, 10_000)
BATCHING_WINDOW_SECONDS = (0, 300)
STREAM_RETRIES_MAX = 10_000  # MaximumRetryAttempts of a stream mapping: -1 (until the record expires) to this
ROLE_SUFFIX = "-role"
PRINCIPAL = "lambda.amazonaws.com"  # assumes a function's execution role
(INVOKE_ACTION,) = policies.SENDS_TO["lambda"][0].actions  # what a permission lets a service do
# What an asynchronous invocation's OnSuccess/OnFailure destination may be.
DESTINATION_SERVICES = frozenset({"sqs", "sns", "lambda", "events"})
# Files and folders never packaged: caches and local tooling, not handler code.
SKIPPED = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".DS_Store"})
# How long to retry while IAM propagates a new role or policy (AWS only; immediate locally).
IAM_PROPAGATION_SECONDS = 60.0

@dataclass(frozen=True)
class Function:
    name: str
    arn: str
    role: iam.Role
    log_group: str
    runtime: str
    timeout: int


@dataclass(frozen=True)
class EventSourceMapping:
    uuid: str
    function_name: str
    source_arn: str
    settings: dict[str, Any] = field(default_factory=dict)


BUNDLE_FILE = "bundle.txt"


def bundled_modules(code_dir: str | Path) -> dict[str, bytes]:
    """eventlab modules a handler folder asks for in ``bundle.txt`` (one module per line), as
    ``{file name at the zip's root: source}``. A bundled module must import without eventlab
    (at its top level), since on AWS the package holds nothing else of it."""
    manifest = Path(code_dir) / BUNDLE_FILE
    if not manifest.exists():
        return {}
    files = {}
    for line in manifest.read_text().splitlines():
        module = line.split("#", 1)[0].strip()
        if not module:
            continue
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None or not module.startswith("eventlab."):
            raise ValueError(f"{manifest}: {module!r} is not an eventlab module")
        source = Path(spec.origin).read_bytes()
        for node in ast.parse(source).body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if any(name == "eventlab" or name.startswith("eventlab.") for name in names):
                    raise ValueError(f"{module} imports eventlab at its top level and cannot be bundled into a handler")
        files[f"{module.rsplit('.', 1)[-1]}.py"] = source
    return files


def package(code_dir: str | Path) -> bytes:
    """Zip a folder of handler code (files at the zip's root), reproducibly: fixed timestamps,
    sorted entries, no caches; plus the eventlab modules its ``bundle.txt`` names."""
    root = Path(code_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"handler folder {root} does not exist: pass the folder that holds the handler module")
    entries: dict[str, bytes] = {}
    executable: set[str] = set()  # kept executable, as AWS runs an exec wrapper from the zip
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in SKIPPED or part.endswith(".pyc") for part in relative.parts) or not path.is_file():
            continue
        if relative.as_posix() != BUNDLE_FILE:
            entries[relative.as_posix()] = path.read_bytes()
            if path.stat().st_mode & 0o111:
                executable.add(relative.as_posix())
    for name, source in bundled_modules(root).items():
        if name in entries:
            raise ValueError(f"{root}: {name} is both a handler file and a bundled module")
        entries[name] = source
    if not entries:
        raise ValueError(f"handler folder {root} has no files to package")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in executable else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name])
    return buffer.getvalue()


def _retry_while_iam_propagates(call: Callable[[], T], what: str) -> T:
    """Retry a call that AWS rejects until a just-created role or policy is visible to Lambda."""
    deadline = time.monotonic() + IAM_PROPAGATION_SECONDS
    while True:
        try:
            return call()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = str(error)
            propagating = code == "InvalidParameterValueException" and (
                "cannot be assumed" in message or "permission" in message.lower()
            )
            if not propagating or time.monotonic() > deadline:
                raise
            log.info("%s: waiting for IAM to propagate the role (%s)", what, code)
            time.sleep(2)


def role_base(base: str) -> str:
    """The base name of a function's execution role."""
    return f"{base}{ROLE_SUFFIX}"


def log_group_name(function_name: str) -> str:
    """The log group Lambda writes a function's logs to (created here first, with a retention)."""
    return f"{logs.LAMBDA_PREFIX}{function_name}"


def environment_size(environment: Mapping[str, str]) -> int:
    """The size Lambda measures against its 4 KB environment limit: compact JSON, in bytes."""
    return len(json.dumps(dict(environment), separators=(",", ":")).encode())


def execution_statements(group_arn: str, statements: Sequence[dict[str, Any]] = (), dead_letter_target_arn: str | None = None) -> list[dict[str, Any]]:
    """The statements of a function role's policy: write its own log group, plus ``statements``
    and the send permission on its dead-letter target."""
    all_statements = [*policies.may_send_to(group_arn), *statements]
    if dead_letter_target_arn:
        all_statements += policies.may_send_to(dead_letter_target_arn)
    return all_statements


def create_function(
    run: Run,
    base: str,
    code_dir: str | Path,
    *,
    handler: str = "main.handler",
    runtime: str = DEFAULT_RUNTIME,
    timeout: int = 30,
    memory_size: int = 128,
    environment: Mapping[str, str] | None = None,
    statements: Sequence[dict[str, Any]] = (),
    reserved_concurrency: int | None = None,
    dead_letter_target_arn: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> Function:
    """Package ``code_dir`` and create a function with its own role and log group.

    The role may write to the function's log group only, plus ``statements`` (build them with
    :func:`eventlab.policies.allow`). The log group ``/aws/lambda/<name>`` is created first, with
    a retention, so it is tagged and deleted with the run rather than left behind by Lambda.
    """
    if not TIMEOUT_SECONDS[0] <= timeout <= TIMEOUT_SECONDS[1]:
        raise ValueError(f"function {base!r}: timeout={timeout}; Lambda allows {TIMEOUT_SECONDS[0]} to {TIMEOUT_SECONDS[1]} seconds.")
    if not MEMORY_MB[0] <= memory_size <= MEMORY_MB[1]:
        raise ValueError(f"function {base!r}: memory_size={memory_size}; Lambda allows {MEMORY_MB[0]} to {MEMORY_MB[1]} MB.")
    name = run.name(base, max_length=MAX_NAME)
    zipped = package(code_dir)
    group = logs.create_log_group(run, log_group_name(name))

    all_statements = execution_statements(logs.log_group_arn(run.target, group), statements, dead_letter_target_arn)
    role = iam.create_role(
        run, role_base(base), service=PRINCIPAL, policy=policies.document(*all_statements)
    )

    kwargs: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": runtime,
        "Role": role.arn,
        "Handler": handler,
        "Code": {"ZipFile": zipped},
        "Timeout": timeout,
        "MemorySize": memory_size,
        "Tags": {**(tags or {}), **run.tags},
        "Publish": False,
    }
    if environment:
        kwargs["Environment"] = {"Variables": dict(environment)}
    if dead_letter_target_arn:
        kwargs["DeadLetterConfig"] = {"TargetArn": dead_letter_target_arn}
    if description:
        kwargs["Description"] = description
    client = run.target.client("lambda")
    arn = _retry_while_iam_propagates(lambda: client.create_function(**kwargs), f"function {name}")["FunctionArn"]
    run.track(FUNCTION, name, arn, lambda: delete_function(run, name))
    if reserved_concurrency is not None:
        client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved_concurrency)
    wait_active(run, name)
    log.info("function %s is active (%s, timeout %d s)", name, runtime, timeout)
    return Function(name=name, arn=arn, role=role, log_group=group, runtime=runtime, timeout=timeout)


def wait_active(run: Run, name: str, timeout: float = 120) -> None:
    """Wait until a function's State is Active (and its last update finished)."""
    client = run.target.client("lambda")
    seen: dict[str, Any] = {}

    def active() -> bool:
        seen.update(client.get_function_configuration(FunctionName=name))
        state, update = seen.get("State"), seen.get("LastUpdateStatus", "Successful")
        if state == "Failed" or update == "Failed":
            reason = seen.get("StateReason") or seen.get("LastUpdateStatusReason")
            raise RuntimeError(f"function {name} failed to become active: {reason}")
        return state == "Active" and update == "Successful"

    if not until(active, timeout=timeout):
        raise TimeoutError(f"function {name} is still {seen.get('State')}/{seen.get('LastUpdateStatus')} after {timeout:.0f} s")


def delete_function(run: Run, name: str) -> None:
    """Delete a function (its execution environments stop with it)."""
    run.target.client("lambda").delete_function(FunctionName=name)


def add_permission(
    run: Run,
    function: Function,
    *,
    principal: str,
    source_arn: str,
    statement_id: str | None = None,
) -> str:
    """Let ``principal`` (sns/events/s3.amazonaws.com) invoke the function, only for
    ``source_arn`` (the topic, rule or bucket)."""
    digest = hashlib.sha256(source_arn.encode()).hexdigest()[:10]
    sid = statement_id or f"{principal.split('.')[0]}-{digest}"
    client = run.target.client("lambda")
    client.add_permission(
        FunctionName=function.name,
        StatementId=sid,
        Action=INVOKE_ACTION,
        Principal=principal,
        SourceArn=source_arn,
    )
    run.track(
        PERMISSION,
        f"{function.name}/{sid}",
        f"{function.arn}#{sid}",
        lambda: client.remove_permission(FunctionName=function.name, StatementId=sid),
    )
    return sid


def read_policy_name(source_arn: str) -> str:
    """The name of the inline policy that lets a function's role read one event source:
    ``read-<service>-<resource>``, unique per source (a queue and a stream may share a name)
    and within IAM's rules for policy names (no '/', at most 128 characters)."""
    service, resource = source_arn.split(":")[2], re.split(r"[:/]", source_arn)[-1]
    name = f"read-{service}-{resource}"
    if len(name) > iam.MAX_POLICY_NAME:
        digest = hashlib.sha256(source_arn.encode()).hexdigest()[:8]
        name = f"{name[: iam.MAX_POLICY_NAME - 9]}-{digest}"
    return name


def grant(run: Run, function: Function, name: str, statements: Iterable[dict[str, Any]]) -> None:
    """Add an inline policy to the function's role (deleted with the role)."""
    run.target.client("iam").put_role_policy(
        RoleName=function.role.name,
        PolicyName=name,
        PolicyDocument=policies.to_json(policies.document(*statements)),
    )


def create_event_source_mapping(
    run: Run,
    function: Function,
    source_arn: str,
    *,
    batch_size: int = 10,
    maximum_batching_window: int = 0,
    report_batch_item_failures: bool = False,
    starting_position: str | None = None,
    maximum_retry_attempts: int | None = None,
    bisect_batch_on_function_error: bool = False,
    on_failure: str | None = None,
    enabled: bool = True,
    wait: bool = True,
) -> EventSourceMapping:
    """Let Lambda poll an SQS queue (or a Kinesis stream) and invoke the function with batches.

    Grants the role exactly the read actions on that source first. ``wait`` returns once the
    mapping is Enabled, so messages sent afterwards are picked up. For a stream,
    ``maximum_retry_attempts`` (default: until the record expires),
    ``bisect_batch_on_function_error`` and ``on_failure`` (an SQS queue's or SNS topic's ARN,
    which the role may then send to) say what happens to a batch the function keeps failing.
    """
    is_queue = source_arn.startswith("arn:aws:sqs:")
    if is_queue and (maximum_retry_attempts is not None or bisect_batch_on_function_error or on_failure):
        raise ValueError("maximum_retry_attempts, bisect_batch_on_function_error and on_failure are for stream "
                         "mappings; an SQS mapping's failures go to the queue's redrive policy (its DLQ).")
    if maximum_retry_attempts is not None and not -1 <= maximum_retry_attempts <= STREAM_RETRIES_MAX:
        raise ValueError(f"maximum_retry_attempts={maximum_retry_attempts}: a stream mapping takes -1 (until the "
                         f"record expires) to {STREAM_RETRIES_MAX:,}.")
    if is_queue and not SQS_BATCH_SIZE[0] <= batch_size <= SQS_BATCH_SIZE[1]:
        raise ValueError(f"batch_size={batch_size}: SQS mappings take {SQS_BATCH_SIZE[0]} to {SQS_BATCH_SIZE[1]:,}.")
    if is_queue and batch_size > SQS_BATCH_WITHOUT_WINDOW and maximum_batching_window < 1:
        raise ValueError(f"SQS batch sizes over {SQS_BATCH_WITHOUT_WINDOW} need maximum_batching_window >= 1 s (AWS rule).")
    grant(run, function, read_policy_name(source_arn), policies.may_read_from(source_arn))
    kwargs: dict[str, Any] = {
        "FunctionName": function.name,
        "EventSourceArn": source_arn,
        "BatchSize": batch_size,
        "MaximumBatchingWindowInSeconds": maximum_batching_window,
        "Enabled": enabled,
    }
    if report_batch_item_failures:
        kwargs["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    if not is_queue:
        kwargs["StartingPosition"] = starting_position or "LATEST"
        if maximum_retry_attempts is not None:
            kwargs["MaximumRetryAttempts"] = maximum_retry_attempts
        if bisect_batch_on_function_error:
            kwargs["BisectBatchOnFunctionError"] = True
        if on_failure:
            grant(run, function, f"on-failure-{re.split(r'[:/]', on_failure)[-1]}"[: iam.MAX_POLICY_NAME],
                  policies.may_send_to(on_failure))
            kwargs["DestinationConfig"] = {"OnFailure": {"Destination": on_failure}}
    client = run.target.client("lambda")
    reply = _retry_while_iam_propagates(
        lambda: client.create_event_source_mapping(**kwargs), f"mapping {function.name}"
    )
    uuid = reply["UUID"]
    run.track(
        EVENT_SOURCE_MAPPING,
        f"{source_arn.rsplit(':', 1)[-1]}->{function.name}",
        reply.get("EventSourceMappingArn", uuid),
        lambda: delete_event_source_mapping(run, uuid),
    )
    if wait and enabled:
        _wait_mapping(run, uuid, "Enabled")
    settings = {k: v for k, v in kwargs.items() if k not in ("FunctionName", "EventSourceArn")}
    return EventSourceMapping(uuid=uuid, function_name=function.name, source_arn=source_arn, settings=settings)


def _wait_mapping(run: Run, uuid: str, state: str, timeout: float = 120) -> None:
    client = run.target.client("lambda")
    if not until(lambda: client.get_event_source_mapping(UUID=uuid)["State"] == state, timeout=timeout):
        current = client.get_event_source_mapping(UUID=uuid)["State"]
        raise TimeoutError(f"event source mapping {uuid} is {current}, not {state}, after {timeout:.0f} s")


def set_mapping_enabled(run: Run, uuid: str, enabled: bool) -> None:
    """Pause (``enabled=False``) or resume a mapping, and wait until Lambda says it is so: while
    paused, messages wait in the queue, so those sent meanwhile can share one batch."""
    run.target.client("lambda").update_event_source_mapping(UUID=uuid, Enabled=enabled)
    _wait_mapping(run, uuid, "Enabled" if enabled else "Disabled")


def delete_event_source_mapping(run: Run, uuid: str) -> None:
    """Delete a mapping and wait until it is gone, so that it polls no more."""
    client = run.target.client("lambda")
    client.delete_event_source_mapping(UUID=uuid)
    until_gone(lambda: client.get_event_source_mapping(UUID=uuid), client.exceptions.ResourceNotFoundException,
               what=f"event source mapping {uuid}")


def put_function_event_invoke_config(
    run: Run,
    function: Function,
    *,
    maximum_retry_attempts: int = 2,
    maximum_event_age: int = 21600,
    on_success: str | None = None,
    on_failure: str | None = None,
) -> None:
    """Configure asynchronous invocation: retries, event age, and destinations (SQS/SNS/Lambda/
    EventBridge ARNs); the role gets the send permission on each destination."""
    if not 0 <= maximum_retry_attempts <= 2:
        raise ValueError(f"maximum_retry_attempts={maximum_retry_attempts}: Lambda allows 0 to 2.")
    destinations: dict[str, Any] = {}
    statements = []
    for key, arn in (("OnSuccess", on_success), ("OnFailure", on_failure)):
        if arn:
            if policies.service_of(arn) not in DESTINATION_SERVICES:
                raise ValueError(f"destination {arn}: use an SQS queue, SNS topic, Lambda function or event bus ARN")
            destinations[key] = {"Destination": arn}
            statements += policies.may_send_to(arn)
    if statements:
        grant(run, function, "async-destinations", statements)
    client = run.target.client("lambda")
    kwargs: dict[str, Any] = {
        "FunctionName": function.name,
        "MaximumRetryAttempts": maximum_retry_attempts,
        "MaximumEventAgeInSeconds": maximum_event_age,
    }
    if destinations:
        kwargs["DestinationConfig"] = destinations
    _retry_while_iam_propagates(lambda: client.put_function_event_invoke_config(**kwargs), f"invoke config {function.name}")
    run.track(
        EVENT_INVOKE_CONFIG,
        function.name,
        f"{function.arn}#event-invoke-config",
        lambda: client.delete_function_event_invoke_config(FunctionName=function.name),
    )


@dataclass(frozen=True)
class InvokeResult:
    status_code: int
    payload: Any
    function_error: str | None
    log_tail: str

    @property
    def ok(self) -> bool:
        return self.function_error is None


def invoke(
    run: Run,
    function: Function | str,
    event: Any = None,
    *,
    invocation_type: str = "RequestResponse",
    tail: bool = True,
) -> InvokeResult:
    """Invoke a function; returns the decoded result (or error document) and the log tail."""
    name = function.name if isinstance(function, Function) else function
    kwargs: dict[str, Any] = {
        "FunctionName": name,
        "InvocationType": invocation_type,
        "Payload": json.dumps(event).encode(),
    }
    if tail and invocation_type == "RequestResponse":
        kwargs["LogType"] = "Tail"
    reply = run.target.client("lambda").invoke(**kwargs)
    body = reply["Payload"].read() if "Payload" in reply else b""
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = body.decode(errors="replace")
    log_tail = base64.b64decode(reply["LogResult"]).decode(errors="replace") if reply.get("LogResult") else ""
    return InvokeResult(
        status_code=reply["StatusCode"],
        payload=payload,
        function_error=reply.get("FunctionError"),
        log_tail=log_tail,
    )


def filter_log_events(run: Run, function: Function, pattern: str = "") -> list[str]:
    """All log lines of the function so far (optionally matching a CloudWatch filter pattern)."""
    return logs.filter_log_events(run, function.log_group, pattern)


_REPORT = re.compile(
    r"REPORT RequestId: (?P<request_id>\S+)\tDuration: (?P<duration_ms>[\d.]+) ms"
    r"(?:.*?Init Duration: (?P<init_ms>[\d.]+) ms)?"
)


def invocation_reports(run: Run, function: Function) -> list[dict[str, Any]]:
    """One row per invocation from the function's REPORT log lines: duration, and the init
    duration that marks a cold start (a new execution environment)."""
    rows = []
    for line in filter_log_events(run, function, "REPORT"):
        match = _REPORT.search(line)
        if match:
            init = match["init_ms"]
            rows.append({
                "request_id": match["request_id"],
                "duration_ms": float(match["duration_ms"]),
                "init_ms": float(init) if init else None,
                "cold": init is not None,
            })
    return rows



# -- what a run leaves behind ------------------------------------------------------------------
def _find_functions(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("lambda").get_paginator("list_functions").paginate():
        yield from (f["FunctionName"] for f in page.get("Functions", []) if f["FunctionName"].startswith(prefix))


def _find_event_source_mappings(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("lambda").get_paginator("list_event_source_mappings").paginate():
        for mapping in page.get("EventSourceMappings", []):
            if mapping.get("FunctionArn", "").rsplit(":", 1)[-1].startswith(prefix):
                yield mapping["UUID"]


FUNCTION = resource_kind("lambda:function", _find_functions, lambda t, name: t.client("lambda").delete_function(FunctionName=name))
EVENT_SOURCE_MAPPING = resource_kind(
    "lambda:event-source-mapping", _find_event_source_mappings, lambda t, uuid: t.client("lambda").delete_event_source_mapping(UUID=uuid)
)
# A function's permissions and invoke configuration go with it.
PERMISSION = resource_kind("lambda:permission")
EVENT_INVOKE_CONFIG = resource_kind("lambda:event-invoke-config")
