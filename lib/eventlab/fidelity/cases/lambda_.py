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
