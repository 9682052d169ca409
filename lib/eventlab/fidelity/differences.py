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

KNOWN_DIFFERENCES: dict[str, dict[str, KnownDifference]] = {
    "localstack": {
        "kinesis.efo.resubscribe-within-5s": KnownDifference(
            observed="the second subscription is accepted",
            reason=(
                "LocalStack implements SubscribeToShard as a fresh read of the shard for every call and "
                "keeps no record of the consumer's open subscriptions, so nothing refuses a second one"
            ),
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
        "sqs.redrive.message-move-task": KnownDifference(
            observed="StartMessageMoveTask is refused with InvalidAction",
            reason="MiniStack's SQS has no StartMessageMoveTask or ListMessageMoveTasks (eventlab's redrive then moves messages by hand, and says so)",
            outcome="unsupported",
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
