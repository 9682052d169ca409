"""Helpers behind the notebooks: one module per topic, so the notebooks stay thin.

- :mod:`eventlab.experiments.events`: EventBridge pattern matching, rule targets with input
  paths and transformers, archive and replay, the EventBridge -> SQS latency run.
- :mod:`eventlab.experiments.streams`: Kinesis shards and hash ranges, reading shards (also
  across a reshard), throttled load under an emulated quota, Firehose objects in S3.
"""
