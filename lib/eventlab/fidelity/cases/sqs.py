"""SQS cases: the dead-letter queue redrive API (notebook 01)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from eventlab.fidelity.model import Case, Unsupported, doc
from eventlab.run import Run
from eventlab.services import sqs
from eventlab.waiting import until

START_MESSAGE_MOVE_TASK = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html"


def message_move_task(run: Run) -> str:
    """One message in a dead-letter queue, StartMessageMoveTask back to its source: what moved."""
    dlq = sqs.create_queue(run, "mm-dlq", encrypted=False)
    source = sqs.create_queue(run, "mm-src", dead_letter_queue=dlq, max_receive_count=1, encrypted=False)
    client = run.target.client("sqs")
    client.send_message(QueueUrl=dlq.url, MessageBody="dead letter")
    try:
        client.start_message_move_task(SourceArn=dlq.arn, DestinationArn=source.arn)
    except ClientError as error:
        raise Unsupported(f"StartMessageMoveTask is refused with {error.response.get('Error', {}).get('Code', '')}") from None
    until(lambda: sqs.approximate_count(run, source) >= 1, timeout=30, interval=0.2)
    return f"{sqs.approximate_count(run, source)} message(s) moved back, {sqs.approximate_count(run, dlq)} left in the DLQ"


CASES = [
    Case("sqs.redrive.message-move-task", "sqs", "StartMessageMoveTask moves a dead-letter queue's messages back to their source",
         "1 message(s) moved back, 0 left in the DLQ",
         doc(START_MESSAGE_MOVE_TASK, "StartMessageMoveTask moves the messages of a dead-letter queue to another queue, by default back to their source queue."),
         message_move_task),
]
