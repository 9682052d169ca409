"""Lambda cases: a function can be deleted in every state (notebooks 05 to 09 delete what they make)."""

from __future__ import annotations

import io
import time
import zipfile

from botocore.exceptions import ClientError

from eventlab import policies
from eventlab.fidelity.model import Case, Unsupported, doc
from eventlab.run import Run, is_gone
from eventlab.services import iam
from eventlab.services import lambda_ as functions

STATES = "https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html"
HANDLER = b"def handler(event, context):\n    return event\n"


def package(*, broken: bool = False) -> bytes:
    """A one-file handler package. ``broken`` adds an entry below the file ``main.py``, as if it
    were a folder: a valid zip that no one can unzip (the function cannot be prepared)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("main.py", date_time=(1980, 1, 1, 0, 0, 0)), HANDLER)
        if broken:
            archive.writestr(zipfile.ZipInfo("main.py/inner.py", date_time=(1980, 1, 1, 0, 0, 0)), HANDLER)
    return buffer.getvalue()


def create(run: Run, base: str, code: bytes) -> str:
    """CreateFunction without waiting for it (it starts Pending); deleted with the run if still there."""
    name = run.name(base, max_length=functions.MAX_NAME)
    role = iam.create_role(run, functions.role_base(base), service="lambda.amazonaws.com", policy=policies.document(
        policies.allow(["logs:CreateLogStream", "logs:PutLogEvents"], [f"arn:aws:logs:*:*:log-group:/aws/lambda/{name}:*"])))
    client = run.target.client("lambda")
    arn = client.create_function(FunctionName=name, Runtime=functions.DEFAULT_RUNTIME, Role=role.arn, Handler="main.handler",
                                 Code={"ZipFile": code}, Tags=run.tags)["FunctionArn"]

    def delete() -> None:
        try:
            client.delete_function(FunctionName=name)
        except ClientError as error:
            if not is_gone(error):
                raise

    run.track("lambda:function", name, arn, delete)
    return name


def state(run: Run, name: str) -> str:
    return str(run.target.client("lambda").get_function_configuration(FunctionName=name).get("State"))


def wait_state(run: Run, name: str, wanted: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while (now := state(run, name)) != wanted and now not in ("Active", "Failed") and time.monotonic() < deadline:
        time.sleep(0.3)
    return state(run, name)


def delete_and_look(run: Run, name: str) -> str:
    """DeleteFunction, then whether GetFunction still finds it."""
    client = run.target.client("lambda")
    try:
        client.delete_function(FunctionName=name)
    except ClientError as error:
        return f"DeleteFunction refused: {error.response.get('Error', {}).get('Code', '')}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.get_function(FunctionName=name)
        except ClientError as error:
            if is_gone(error):
                return "deleted"
            raise
        time.sleep(0.3)
    return "still there 10 s after DeleteFunction"


def delete_pending(run: Run) -> str:
    return delete_and_look(run, create(run, "fn-pending", package()))


def delete_active(run: Run) -> str:
    name = create(run, "fn-active", package())
    if wait_state(run, name, "Active") != "Active":
        raise Unsupported(f"the function did not become Active ({state(run, name)})")
    return delete_and_look(run, name)


def delete_failed(run: Run) -> str:
    try:
        name = create(run, "fn-failed", package(broken=True))
    except ClientError as error:  # AWS checks the package when the function is created
        raise Unsupported(f"no way to bring a function into the Failed state here ({error.response['Error'].get('Code')})") from error
    reached = wait_state(run, name, "Failed")
    if reached != "Failed":
        raise Unsupported(f"the broken package left the function {reached}, not Failed")
    return delete_and_look(run, name)


CASES = [
    Case("lambda.delete.pending", "lambda", "DeleteFunction right after CreateFunction, while Pending",
         "deleted", doc(STATES, "A function is Pending after creation; a function can be deleted and created again."), delete_pending),
    Case("lambda.delete.active", "lambda", "DeleteFunction of an Active function",
         "deleted", doc(STATES, "Active functions can be invoked; deleting removes the function."), delete_active),
    Case("lambda.delete.failed", "lambda", "DeleteFunction of a function in the Failed state",
         "deleted", doc(STATES, "When function creation fails, Lambda sets the state to Failed, and you must delete and recreate the function."),
         delete_failed, fixed_by="lambda-delete-failed"),
]


# -- event source mappings: the batching rules CreateEventSourceMapping enforces ------------------
CREATE_MAPPING = "https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html"
SQS_CONFIGURE = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html"


def try_mapping(run: Run, *, fifo: bool = False, stream: bool = False, visibility: int = 60, **mapping: object) -> str:
    """CreateEventSourceMapping from a fresh queue (or stream) to a fresh function (timeout 3 s);
    what Lambda says, in its error code. An accepted mapping is deleted with the run (enabled:
    LocalStack never finishes deleting a mapping created disabled, it stays Deleting)."""
    from eventlab.services import kinesis, sqs

    name = create(run, "fn-esm", package())
    if stream:
        source = kinesis.create_stream(run, "esm", shard_count=1, encrypted=False).arn
        mapping.setdefault("StartingPosition", "TRIM_HORIZON")
    else:
        source = sqs.create_queue(run, "esm", fifo=fifo, content_based_deduplication=fifo, encrypted=False,
                                  attributes={"VisibilityTimeout": visibility}).arn
    client = run.target.client("lambda")
    try:
        uuid = client.create_event_source_mapping(FunctionName=name, EventSourceArn=source, **mapping)["UUID"]
    except ClientError as error:
        return f"rejected with {error.response.get('Error', {}).get('Code', '')}"
    run.track(functions.EVENT_SOURCE_MAPPING, uuid, uuid, lambda: functions.delete_event_source_mapping(run, uuid))
    return "accepted"


CASES += [
    Case("lambda.esm.sqs-batch-over-10-without-window", "lambda", "a standard queue's BatchSize over 10 needs a batching window",
         "rejected with InvalidParameterValueException",
         doc(CREATE_MAPPING, "When you set BatchSize to a value greater than 10, you must set MaximumBatchingWindowInSeconds to at least 1."),
         lambda run: try_mapping(run, BatchSize=100)),
    Case("lambda.esm.sqs-batch-over-10-with-window", "lambda", "a standard queue takes BatchSize 100 with a batching window",
         "accepted",
         doc(CREATE_MAPPING, "Amazon SQS standard queues take BatchSize up to 10,000, with MaximumBatchingWindowInSeconds of at least 1 above 10."),
         lambda run: try_mapping(run, BatchSize=100, MaximumBatchingWindowInSeconds=1)),
    Case("lambda.esm.fifo-batch-over-10", "lambda", "a FIFO queue takes BatchSize at most 10",
         "rejected with InvalidParameterValueException",
         doc(CREATE_MAPPING, "BatchSize for Amazon SQS FIFO queues: default 10, maximum 10."),
         lambda run: try_mapping(run, fifo=True, BatchSize=11)),
    Case("lambda.esm.visibility-below-timeout", "lambda", "a queue whose visibility timeout is below the function timeout is refused",
         "rejected with InvalidParameterValueException",
         doc(SQS_CONFIGURE, "Set the source queue's visibility timeout to at least the function timeout (AWS recommends six times); Lambda refuses a mapping from a queue whose visibility timeout is shorter."),
         lambda run: try_mapping(run, visibility=1)),
    Case("lambda.esm.kinesis-batch-over-10000", "lambda", "a Kinesis mapping takes BatchSize at most 10,000",
         "rejected with InvalidParameterValueException",
         doc(CREATE_MAPPING, "BatchSize for Kinesis: default 100, maximum 10,000."),
         lambda run: try_mapping(run, stream=True, BatchSize=10_001)),
]


# -- event source mappings: partial batch responses and redrive -----------------------------------
PARTIAL_BATCH = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html"
REPORTING_HANDLER = (
    "def handler(event, context):\n"
    "    return {'batchItemFailures': [{'itemIdentifier': r['messageId']} for r in event['Records'] if r['body'] == 'fail']}\n"
)


def partial_batch_redrive(run: Run) -> str:
    """A mapping with ReportBatchItemFailures reading a queue whose DLQ takes a message after one
    receive: the function reports one record of three as failed. Where each message ends."""
    import tempfile
    from pathlib import Path

    from eventlab.services import sqs

    dlq = sqs.create_queue(run, "pb-dlq", encrypted=False)
    queue = sqs.create_queue(run, "pb", encrypted=False, dead_letter_queue=dlq, max_receive_count=1,
                             attributes={"VisibilityTimeout": 3})
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "main.py").write_text(REPORTING_HANDLER)
        function = functions.create_function(run, "pb", folder, timeout=3)
    functions.create_event_source_mapping(run, function, queue.arn, batch_size=10, maximum_batching_window=1,
                                          report_batch_item_failures=True)
    client = run.target.client("sqs")
    client.send_message_batch(QueueUrl=queue.url, Entries=[{"Id": b, "MessageBody": b} for b in ("ok-1", "fail", "ok-2")])
    in_dlq = [m["Body"] for m in sqs.receive_all(run, dlq, expected=1, timeout=25.0)]
    left = int(client.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"].get("ApproximateNumberOfMessages", "0"))
    return f"in the DLQ: {', '.join(sorted(in_dlq)) or 'nothing'}; left in the queue: {left}"


CASES += [
    Case("lambda.esm.partial-batch-redrive", "lambda", "ReportBatchItemFailures retries only the failed record, which redrives to the DLQ",
         "in the DLQ: fail; left in the queue: 0",
         doc(PARTIAL_BATCH, "With ReportBatchItemFailures, Lambda deletes the records the function did not report as failed; the reported ones become visible again and, past maxReceiveCount, move to the queue's dead-letter queue."),
         partial_batch_redrive),
]


# -- event source mappings: a stream batch the function keeps failing ----------------------------
STREAM_ERRORS = "https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html"
FAILING_HANDLER = "def handler(event, context):\n    raise RuntimeError('this batch fails')\n"


def kinesis_on_failure(run: Run) -> str:
    """Three records on one shard, read by a mapping whose function always fails, with one retry
    and an SQS on-failure destination: what reaches the destination (its condition, the batch)."""
    import json
    import tempfile
    from pathlib import Path

    from eventlab.services import kinesis, sqs

    destination = sqs.create_queue(run, "kof-dest", encrypted=False)
    stream = kinesis.create_stream(run, "kof", shard_count=1, encrypted=False)
    kinesis.put_records(run.target.client("kinesis"), stream.name, [(f"record-{i}".encode(), "one-key") for i in range(3)])
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "main.py").write_text(FAILING_HANDLER)
        function = functions.create_function(run, "kof", folder, timeout=3)
    functions.create_event_source_mapping(run, function, stream.arn, batch_size=10, starting_position="TRIM_HORIZON",
                                          maximum_retry_attempts=1, on_failure=destination.arn)
    # Two invocations and a record: seconds on an emulator (LocalStack: under 3 s), longer on AWS.
    wait_s = 20.0 if run.target.is_emulated else 45.0
    received = sqs.receive_all(run, destination, expected=1, timeout=wait_s)
    if not received:
        return "nothing reached the on-failure destination"
    record = json.loads(received[0]["Body"])
    batch = record.get("KinesisBatchInfo", {})
    return f"{record.get('requestContext', {}).get('condition')}; a batch of {batch.get('batchSize')}"


CASES += [
    Case("lambda.esm.kinesis-on-failure", "lambda",
         "a stream batch that fails past MaximumRetryAttempts is sent to the on-failure destination, as a record about the batch",
         "RetryAttemptsExhausted; a batch of 3",
         doc(STREAM_ERRORS, "If the function returns an error, Lambda retries until the records expire, exceed the maximum age, or reach the configured retry quota (MaximumRetryAttempts); it then discards them and sends an invocation record (requestContext.condition RetryAttemptsExhausted, KinesisBatchInfo with the batch's shard, sequence numbers and size) to the on-failure destination."),
         kinesis_on_failure),
]


# -- event source mappings over time: the batching window and concurrency under a burst ----------
WINDOW_SLACK_S = 0.2  # the first invocation may start this much before the window ends (clocks, rounding)


def batching_window_gathers(run: Run) -> str:
    """Four messages 0.3 s apart to a mapping with a 3 s batching window and batch size 10 (never
    full): was the first batch held until the window, counted from the first message, ended?"""
    from eventlab.experiments import batching

    window = 3
    row = batching.batching_window_experiment(run, windows=(window,), messages=4, interval_s=0.3).iloc[0]
    if row["delivered"] < 4:
        return f"{row['delivered']} of 4 messages reached the function"
    if row["first_wait_s"] >= window - WINDOW_SLACK_S:
        return "the first batch waited for the window"
    return "invoked before the window ended"


def burst_concurrency(run: Run) -> str:
    """Six messages at once to a function that takes 0.5 s, batch size 1: did more than one
    invocation run at the same time (the handler's own start and end times)?"""
    from eventlab.experiments import batching

    table, _ = batching.burst_experiment(run, batch_sizes=(1,), messages=6, sleep_s=0.5)
    row = table.iloc[0]
    if row["delivered"] < 6:
        return f"{row['delivered']} of 6 messages reached the function"
    return "several batches at once" if row["max_concurrency"] > 1 else "one batch at a time"


CASES += [
    Case("lambda.esm.sqs-batching-window", "lambda", "an SQS mapping holds a batch that is not full until its batching window ends",
         "the first batch waited for the window",
         doc("https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html",
             "Lambda gathers records until the batching window expires, the batch size is reached or the payload reaches 6 MB, then invokes the function with the batch."),
         batching_window_gathers),
    Case("lambda.esm.sqs-burst-concurrency", "lambda", "an SQS mapping invokes several batches at once under a burst",
         "several batches at once",
         doc("https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html",
             "When messages are available, Lambda starts processing five batches at a time with five concurrent invocations, and adds up to 300 more instances per minute while messages remain."),
         burst_concurrency),
]
