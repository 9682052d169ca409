"""The known differences between AWS and each backend: the one table of them.

``KNOWN_DIFFERENCES[backend][case id]`` is what that backend does instead of AWS's verdict
(in the verdict's own vocabulary) and why. The conformance suite holds it exact both ways: a
case that differs must be listed here with the same observation, and a listed case that now
agrees fails until its entry is removed. AWS's side of each row is the case itself
(:attr:`~eventlab.fidelity.model.Case.verdict` and its source).

A case that tests eventlab's own code, or that an eventlab LocalStack fix covers, is never
listed here for LocalStack: such a difference is a bug to fix (:func:`~eventlab.fidelity.model.judge`).
"""

from __future__ import annotations

from typing import Any

from eventlab.fidelity.model import Case, KnownDifference

SNS_POLICY_JSON_ONLY = (
    "MiniStack's Subscribe and SetSubscriptionAttributes only check that FilterPolicy is valid JSON "
    "(ministack/services/sns.py); the operators, value types and AWS's limits (keys, combinations, "
    "nesting, numeric range) are never checked, so a policy AWS refuses is stored and matched"
)
ESM_BATCHING_UNCHECKED = (
    "_create_esm (ministack/services/lambda_svc.py) stores BatchSize and MaximumBatchingWindowInSeconds "
    "as given, checking only the scaling configuration, the function and the source ARN, so AWS's "
    "batch size bounds per source are never enforced"
)

KNOWN_DIFFERENCES: dict[str, dict[str, KnownDifference]] = {
    "localstack": {
        # EventBridge pattern validation: LocalStack's own engine
        # (localstack/services/events/event_rule_engine.py, EventPatternCompiler) checks each value
        # on its own and approximates AWS's wildcard complexity.
        "events.pattern-syntax.empty-object": KnownDifference(
            observed="accepted",
            reason="EventPatternCompiler.aggregate_rules walks an object's keys and raises only on a bad value; an empty object has no keys, so nothing refuses it",
        ),
        "events.pattern-syntax.wildcard-six-stars": KnownDifference(
            observed="rejected with InvalidEventPatternException",
            reason="_validate_wildcard stands in for AWS's complexity evaluation (a TODO in its code) by refusing more than five '*' in any wildcard, repeated sequences or not",
        ),
        "events.pattern-syntax.wildcard-bad-escape": KnownDifference(
            observed="accepted",
            reason="_validate_wildcard looks only for '**' and counts the '*'; it never reads backslashes, so an escape of another character passes",
        ),
        "events.pattern-syntax.anything-but-mixed": KnownDifference(
            observed="accepted",
            reason="_validate_rule checks each item of an anything-but list alone (refusing only null), never that the items are all strings or all numbers",
        ),
        "events.pattern-syntax.anything-but-boolean-in-list": KnownDifference(
            observed="accepted",
            reason="_validate_rule checks each item of an anything-but list as a plain value, and booleans are plain values there; only null is refused",
        ),
        "events.pattern-syntax.anything-but-empty-list": KnownDifference(
            observed="accepted",
            reason="_validate_rule loops over the anything-but list's items; an empty list has none, so nothing refuses it",
        ),
        "events.pattern-syntax.or-one-branch": KnownDifference(
            observed="accepted",
            reason="aggregate_rules adds up the branches of a $or without counting them, so a single branch passes",
        ),
        "events.pattern-syntax.or-not-objects": KnownDifference(
            observed="rejected with InternalError",
            reason="aggregate_rules calls .items() on each $or branch; a string branch raises AttributeError, which the gateway returns as a 500 InternalError",
        ),
        "kinesis.limits.record-size": KnownDifference(
            observed="1048576 bytes accepted; 1048577 bytes rejected with InvalidArgumentException",
            reason="localstack/services/kinesis/provider.py put_record raises NotImplementedError to fall through to kinesis-mock, which refuses a data blob over 1 MiB itself, with InvalidArgumentException, where AWS's request validation answers ValidationException",
        ),
        "kinesis.limits.put-records-500": KnownDifference(
            observed="accepted",
            reason="localstack/services/kinesis/provider.py put_records hands every request to kinesis-mock unchecked, and kinesis-mock takes more than 500 entries",
        ),
        # Event source mappings over time (localstack/services/lambda_/event_source_mapping/):
        # one poller thread per mapping, invoking synchronously.
        "lambda.esm.sqs-batching-window": KnownDifference(
            observed="invoked before the window ended",
            reason="SqsPoller.poll_events (pollers/sqs_poller.py) makes the window one long-polling ReceiveMessage whose wait counts from the start of the poll, not from the batch's first record, and SqsQueue.receive (localstack/services/sqs/models.py) subtracts the time since the start again after every message, so the wait runs out early and a batch that is not full is invoked before its window ends",
        ),
        "lambda.esm.sqs-burst-concurrency": KnownDifference(
            observed="one batch at a time",
            reason="each mapping has one poller thread (EsmWorker.poller_loop in esm_worker.py) that calls SqsPoller.poll_events, which invokes the function for a batch and waits for it before it polls again: batches never overlap, however many messages wait",
        ),
        "kinesis.limits.shard-write-throttle": KnownDifference(
            observed="2500 of 2500 records accepted",
            reason="localstack/services/kinesis/provider.py forwards PutRecords to kinesis-mock, which enforces no per-shard write rate, so nothing answers ProvisionedThroughputExceededException",
        ),
        "kinesis.limits.record-size-10mib": KnownDifference(
            observed="UpdateMaxRecordSize rejected with AccessDeniedException",
            reason="KinesisProvider (localstack/services/kinesis/provider.py) has no update_max_record_size and forwards the call to kinesis-mock, which does not know the action and answers AccessDeniedException ('Unable to determine service/operation name to be authorized'); kinesis-mock also refuses any data blob over 1 MiB",
        ),
        "lambda.esm.visibility-below-timeout": KnownDifference(
            observed="accepted",
            reason="localstack/services/lambda_/provider.py validate_event_source_mapping checks the batch size against the batching window but never reads the queue's VisibilityTimeout",
        ),
        "sns.http.retries": KnownDifference(
            observed="1 attempts, then 1 in the subscription's DLQ",
            reason="HttpTopicPublisher (localstack/services/sns/publisher.py) POSTs once with requests.post and, on an error status, sends the message to the subscription's DLQ at once: the DeliveryPolicy's retries are never made",
        ),
        "sns.policy-syntax.numeric-over-limit": KnownDifference(
            observed="accepted",
            reason="localstack/services/sns/filter.py (FilterPolicyValidator._validate_rule) leaves the +-1e9 bound unchecked: 'AWS says they support only from -10^9 to 10^9 but seems to accept it'",
        ),
        "kinesis.efo.resubscribe-within-5s": KnownDifference(
            observed="the second subscription is accepted",
            reason=(
                "LocalStack implements SubscribeToShard as a fresh read of the shard for every call and "
                "keeps no record of the consumer's open subscriptions, so nothing refuses a second one"
            ),
        ),
        # CloudWatch (notebook 08): metrics the services publish themselves, and JSON filter patterns.
        "sqs.policy.source-arn": KnownDifference(
            observed="delivered",
            reason="LocalStack 2026.3.0 does not evaluate SQS queue policies: SNS's delivery to the queue is never checked against its Policy",
        ),
        "sqs.cloudwatch.queue-metrics": KnownDifference(
            observed="no AWS/SQS metric for the queue",
            reason="eventlab starts LocalStack with SQS_DISABLE_CLOUDWATCH_METRICS=1 (lib/eventlab/runtime/localstack.py): its per-message metrics kept LocalStack busy and growing long after a run; notebook 08 publishes the gauges it reads from SQS itself",
        ),
        "kinesis.cloudwatch.iterator-age": KnownDifference(
            observed="no AWS/Kinesis metric for the stream",
            reason="LocalStack's Kinesis (kinesis-mock behind its API) sends no metrics to CloudWatch",
        ),
        "logs.filter-pattern.json-field": KnownDifference(
            observed="2 of 2 lines returned",
            reason="get_pattern_matcher (localstack/services/logs/provider.py) is a hook for plugins that, without one, matches every event: FilterLogEvents ignores the pattern",
        ),
        # EventBridge Scheduler (localstack/services/scheduler/provider.py) is moto's store with an
        # expression check; LocalStack 2026.3.0 has no EventBridge Pipes provider at all.
        "scheduler.at.delivers-input": KnownDifference(
            observed="the schedule was stored but never fired",
            reason="SchedulerProvider keeps schedules in moto's EventBridgeSchedulerBackend and only validates the expression on create; nothing in it (or in moto) ever invokes a schedule's target",
            outcome="unsupported",
        ),
        "pipes.filter.sqs-to-sqs": KnownDifference(
            observed="CreatePipe answered InternalFailure: this backend has no Pipes API",
            reason="LocalStack 2026.3.0 registers no provider for the pipes service (localstack/services/providers.py has none), so its gateway answers every Pipes call with InternalFailure",
            outcome="unsupported",
        ),
    },
    "ministack": {
        # Archive and replay (ministack/services/eventbridge.py, _start_replay): the replay runs at
        # once, re-dispatching the archived events as they are, in archive order.
        "events.replay.redelivers-window": KnownDifference(
            observed="COMPLETED, 3 delivered, 3 re-delivered, last replayed time None",
            reason="MiniStack completes a replay without setting EventLastReplayedTime in DescribeReplay",
        ),
        "events.replay.order-by-minute": KnownDifference(
            observed="replayed in the order ['o-0', 'o-1']",
            reason="MiniStack re-dispatches the archive in the order events were archived, not minute by minute of event time",
        ),
        "events.replay.filter-arns": KnownDifference(
            observed="chosen rule: 1 replayed; other rule: 1 replayed",
            reason="MiniStack ignores the replay destination's FilterArns and sends replayed events to every rule of the bus",
        ),
        # Firehose (ministack/services/firehose.py): BufferingHints are stored, never used; each
        # record is written as an object of its own, and CompressionFormat applies to Parquet only.
        "firehose.buffer.interval": KnownDifference(
            observed="15 object(s) holding 15 records",
            reason="MiniStack's Firehose has no buffer: it writes every record as an S3 object of its own at once",
        ),
        "firehose.buffer.size": KnownDifference(
            observed="delivered below 1 MiB (1 object(s) of 600 KiB)",
            reason="MiniStack's Firehose has no buffer: it writes every record as an S3 object of its own at once",
        ),
        "firehose.s3.concatenation": KnownDifference(
            observed="3 object(s): 'a | b | c'",
            reason="MiniStack's Firehose writes one object per record instead of concatenating a buffer's records",
        ),
        "firehose.s3.gzip": KnownDifference(
            observed="10 objects, each: key ends .gz: no, GZIP data: no, records in order: no",
            reason="MiniStack's Firehose ignores CompressionFormat GZIP (it applies compression to Parquet conversion only) and writes one object per record",
        ),
        # Kinesis resharding (ministack/services/kinesis.py, _update_shard_count): the shards are
        # replaced by fresh ones numbered from 0, their records dropped; there is no closed shard.
        "kinesis.reshard.parent-kept": KnownDifference(
            observed="the parent is open with 0 of its 3 records; 0 children name it",
            reason="MiniStack's UpdateShardCount replaces every shard, records included, with new shards that name no parent",
        ),
        "lambda.delete.failed": KnownDifference(
            observed="the broken package left the function Active, not Failed",
            reason="MiniStack creates a function Active without checking its package, so no function is ever in the Failed state",
            outcome="unsupported",
        ),
        "lambda.esm.kinesis-on-failure": KnownDifference(
            observed="nothing reached the on-failure destination",
            reason="_poll_kinesis (ministack/services/lambda_svc.py) keeps a failing batch's position and retries it after a "
                   "short back-off for ever: it reads neither MaximumRetryAttempts nor DestinationConfig.OnFailure for a "
                   "Kinesis mapping (only its DynamoDB-stream poller sends on-failure records), so the shard stays blocked",
        ),
        # EventBridge pattern validation (ministack/services/eventbridge.py, _compile_pattern): a
        # $or that fails to compile as the operator is compiled again as an ordinary field name.
        "events.pattern-syntax.or-not-objects": KnownDifference(
            observed="accepted",
            reason="_compile_pattern retries a pattern whose $or is not an array of objects with $or read as a field name (its docstring says Event Ruler's compiler does the same), so {\"$or\": [\"a\", \"b\"]} matches a field called $or; AWS's documentation says $or takes an array of patterns",
        ),
        # SNS filter policies (ministack/services/sns.py, subscribe and _set_subscription_attributes):
        # a FilterPolicy is stored once it parses as JSON; its operators, values and limits are not checked.
        "sns.policy-syntax.prefix-ignore-case": KnownDifference(
            observed="accepted",
            reason=SNS_POLICY_JSON_ONLY,
        ),
        "sns.policy-syntax.anything-but-suffix": KnownDifference(
            observed="accepted",
            reason=SNS_POLICY_JSON_ONLY,
        ),
        "sns.policy-syntax.wildcard": KnownDifference(
            observed="accepted",
            reason=SNS_POLICY_JSON_ONLY,
        ),
        "sns.policy-syntax.exists-string": KnownDifference(
            observed="accepted",
            reason=SNS_POLICY_JSON_ONLY,
        ),
        "sns.policy-syntax.numeric-string-operand": KnownDifference(
            observed="accepted",
            reason=SNS_POLICY_JSON_ONLY,
        ),
        "sns.policy-syntax.numeric-over-limit": KnownDifference(
            observed="accepted",
            reason=SNS_POLICY_JSON_ONLY,
        ),
        "sns.policy-syntax.six-keys": KnownDifference(
            observed="accepted",
            reason=SNS_POLICY_JSON_ONLY,
        ),
        "sns.policy-syntax.151-combinations": KnownDifference(
            observed="accepted",
            reason=SNS_POLICY_JSON_ONLY,
        ),
        "sns.policy-syntax.nested-combinations": KnownDifference(
            observed="accepted",
            reason=SNS_POLICY_JSON_ONLY,
        ),
        "sns.policy-syntax.nested-attributes": KnownDifference(
            observed="accepted",
            reason=SNS_POLICY_JSON_ONLY,
        ),
        "sns.policy-syntax.value-not-in-array": KnownDifference(
            observed="accepted",
            reason=SNS_POLICY_JSON_ONLY,
        ),
        "sns.policy-syntax.empty-array": KnownDifference(
            observed="accepted",
            reason=SNS_POLICY_JSON_ONLY,
        ),
        "kinesis.reshard.split-lineage": KnownDifference(
            observed="2 children of the parent: yes; parent closed: gone from the shard list",
            reason="_split_shard (ministack/services/kinesis.py) creates the two children with the parent's id as ParentShardId, then deletes the parent (del stream['shards'][shard_id]) instead of closing it, so ListShards no longer shows it and its records cannot be read to the end",
        ),
        "kinesis.limits.shard-write-throttle": KnownDifference(
            observed="2500 of 2500 records accepted",
            reason="_put_record and _put_records (ministack/services/kinesis.py) append every record to its shard without any per-shard rate: MiniStack never answers ProvisionedThroughputExceededException",
        ),
        "kinesis.limits.record-size-10mib": KnownDifference(
            observed="UpdateMaxRecordSize rejected with InvalidAction",
            reason="MiniStack's Kinesis has no UpdateMaxRecordSize handler (ministack/services/kinesis.py answers 'Unknown action'), and _put_record refuses any data blob over 1,048,576 bytes whatever the stream's maximum",
        ),
        # Event source mappings (ministack/services/lambda_svc.py, _create_esm): BatchSize and
        # MaximumBatchingWindowInSeconds are stored as given; only the scaling configuration, the
        # function and the source ARN are checked, and the queue's visibility timeout never is.
        "lambda.esm.sqs-batch-over-10-without-window": KnownDifference(
            observed="accepted",
            reason=ESM_BATCHING_UNCHECKED,
        ),
        "lambda.esm.fifo-batch-over-10": KnownDifference(
            observed="accepted",
            reason=ESM_BATCHING_UNCHECKED,
        ),
        "lambda.esm.kinesis-batch-over-10000": KnownDifference(
            observed="accepted",
            reason=ESM_BATCHING_UNCHECKED,
        ),
        "lambda.esm.visibility-below-timeout": KnownDifference(
            observed="accepted",
            reason="_create_esm never reads the queue's VisibilityTimeout, so a queue that hides a message for less time than the function may run is accepted",
        ),
        "sns.redrive.deleted-queue": KnownDifference(
            observed="0 in the subscription's DLQ",
            reason="_deliver_to_sqs (ministack/services/sns.py) logs 'SQS queue not found' and returns; no delivery path reads the subscription's RedrivePolicy, so an undeliverable message is dropped",
        ),
        "sns.http.retries": KnownDifference(
            observed="1 attempts, then 0 in the subscription's DLQ",
            reason="_deliver_to_http (ministack/services/sns.py) POSTs once and only logs a failure: neither the DeliveryPolicy nor the RedrivePolicy is read",
        ),
        "sqs.redrive.message-move-task": KnownDifference(
            observed="StartMessageMoveTask is refused with InvalidAction",
            reason="MiniStack's SQS has no StartMessageMoveTask or ListMessageMoveTasks (eventlab's redrive then moves messages by hand, and says so)",
            outcome="unsupported",
        ),
        "sqs.policy.source-arn": KnownDifference(
            observed="delivered",
            reason="MiniStack checks a queue's Policy only on API calls and only under AUTH=true (_enforce_queue_policy in ministack/services/sqs.py); SNS's fan-out writes to the queue without that check",
        ),
        "sqs.cloudwatch.queue-metrics": KnownDifference(
            observed="no AWS/SQS metric for the queue",
            reason="MiniStack's SQS never calls cloudwatch.record_metric (only its Lambda does), so CloudWatch lists no AWS/SQS metric",
        ),
        "kinesis.cloudwatch.iterator-age": KnownDifference(
            observed="no AWS/Kinesis metric for the stream",
            reason="MiniStack's Kinesis never calls cloudwatch.record_metric (only its Lambda does), so CloudWatch lists no AWS/Kinesis metric",
        ),
        "logs.filter-pattern.json-field": KnownDifference(
            observed="2 of 2 lines returned",
            reason="_compile_filter_pattern (ministack/services/cloudwatch_logs.py) treats a pattern that starts with '{' as match-all",
        ),
        # EventBridge Scheduler and Pipes (ministack/services/scheduler.py, pipes.py).
        "scheduler.expression.invalid-refused": KnownDifference(
            observed="accepted",
            reason="_create_schedule checks only that ScheduleExpression is present; an expression that is not at(), rate() or cron() is stored, and its ticker skips it as unparseable",
        ),
        "pipes.filter.sqs-to-sqs": KnownDifference(
            observed="nothing reached the target",
            reason="register_pipe keeps the Source, Target and role but drops SourceParameters (the FilterCriteria among them), and _poll_pipe runs only DynamoDB Streams sources (the module says its runtime is limited to DynamoDB Streams to SNS or Step Functions), so a pipe from an SQS queue never moves a message",
        ),
    },
    "aws": {},
}


def known_difference(backend: str, case_id: str) -> KnownDifference | None:
    """The backend's recorded difference for a case, if any."""
    return KNOWN_DIFFERENCES.get(backend, {}).get(case_id)


def markdown(cases: list[Case]) -> str:
    """Every backend's known differences as the Markdown table the README shows (a unit test
    keeps the two equal): backend, service, case, what the backend does, what AWS does, source, reason."""
    by_id = {case.id: case for case in cases}
    lines = ["| backend | service | case | what the backend does | what AWS does | AWS source | reason |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for backend, known in KNOWN_DIFFERENCES.items():
        for case_id, difference in sorted(known.items()):
            case = by_id[case_id]
            cells = [backend, case.service, f"`{case_id}`", difference.observed, case.verdict, case.source.where, difference.reason]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def rows(backend: str, cases: list[Case]) -> list[dict[str, Any]]:
    """The backend's known differences beside AWS's verdicts, one row per case, for tables."""
    by_id = {case.id: case for case in cases}
    out = []
    for case_id, known in sorted(KNOWN_DIFFERENCES.get(backend, {}).items()):
        case = by_id.get(case_id)
        out.append({
            "case": case_id,
            "service": case.service if case else "",
            "behaviour": case.behaviour if case else "",
            "aws": case.verdict if case else "",
            "source": case.source.where if case else "",
            backend: known.observed,
            "outcome": known.outcome,
            "reason": known.reason,
        })
    return out
