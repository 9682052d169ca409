"""One module per AWS service, functions named after the AWS operations they wrap.

Each module owns its service's resource kinds whole: ``create_*`` takes a
:class:`~eventlab.run.Run`, names and tags the resource for it (within the service's name
limit, a constant here that the topology validator reads), applies secure defaults and records
the deletion in the run's ledger; and the module declares each kind
(:func:`eventlab.run.resource_kind`) with how to find what a run left of it by prefix and how to
delete that. Functions that a consumer calls from its own threads or processes (reading a
queue or a shard) take a boto3 client instead of the run.

Importing this package imports every service module, so every kind is declared for
:meth:`eventlab.run.Run.leaks` and :mod:`eventlab.leaks`.
"""

from eventlab.services import (
    cloudwatch,
    eventbridgev2,
    events,
    firehose,
    iam,
    kinesis,
    kms,
    lambda_,
    logs,
    pipes,
    s3,
    scheduler,
    schemas,
    ses,
    sns,
    sqs,
    tags,
)

__all__ = ["cloudwatch", "eventbridgev2", "events", "firehose", "iam", "kinesis", "kms", "lambda_", "logs", "pipes", "s3",
           "scheduler", "schemas", "ses", "sns", "sqs", "tags"]
