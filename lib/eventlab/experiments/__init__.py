"""Experiments behind the notebooks: the scenarios, one module per notebook topic, each returning tables.

Notebooks stay thin: they call a function here, show the DataFrame or figure it returns, and
assert on its counts. Every function takes a :class:`~eventlab.run.Run` (whose ledger deletes
what the experiment creates) and uses only clients from ``run.target``.

- :mod:`eventlab.experiments.events`: EventBridge pattern matching, rule targets with input
  paths and transformers, archive and replay, the EventBridge -> SQS latency run (notebook 03).
- :mod:`eventlab.experiments.streams`: Kinesis shards and hash ranges, reading shards (also
  across a reshard), throttled load under an emulated quota, Firehose objects (notebook 04).
- :mod:`eventlab.experiments.compare`: every path side by side, beside the published AWS
  figures (notebook 07).
- :mod:`eventlab.experiments.practices`: idempotency, DLQs, backoff, polling cost (notebook 09).
- :mod:`eventlab.experiments.faults`: the ways duplicates arise, and that nothing is lost (notebook 01).
- :mod:`eventlab.experiments.batching`: Lambda reading SQS over time: batching windows, batch
  sizes, concurrency under a burst (notebook 05; its article's-handler lesson is in
  :mod:`eventlab.patterns.notification_system`).
- :mod:`eventlab.experiments.sqs`, :mod:`.sns`, :mod:`.troubleshooting`: notebooks 01, 02 and 08.
- :mod:`eventlab.experiments.scheduling`: a one-time schedule measured, refused expressions, a filtered
  pipe (notebook 11).

The primitives they are built from (drain a queue, read a shard, redrive a DLQ) live in
:mod:`eventlab.services`; the measuring toolkit (load, consumers, analysis) in :mod:`eventlab.measure`.
"""
