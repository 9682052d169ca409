"""eventlab's own local server for the EventBridge Custom Event Bus API (``eventbridgev2``).

No emulator implements this API, so eventlab serves it itself, beside whichever backend
(LocalStack or MiniStack) holds the targets. It speaks botocore's model of the service
(API version 2025-05-15, protocol ``smithy-rpc-v2-cbor``), so
``boto3.client("eventbridgev2", endpoint_url=server.endpoint_url)`` works unchanged::

    from eventlab.eventbridgev2 import EmbeddedEventBridgeV2
    with EmbeddedEventBridgeV2(backend_endpoint="http://127.0.0.1:4566") as eventbridgev2:
        client = boto3.client("eventbridgev2", endpoint_url=eventbridgev2.endpoint_url,
                              region_name="us-east-1")

or ``python -m eventlab.eventbridgev2 --port N --state-dir DIR --backend-endpoint URL --region R``.
Sources of AWS's behaviour: the model's shapes and documentation strings, the Custom Event Bus
chapter of the EventBridge user guide (publishing, subscribers, filtering, ordering and
deduplication, retries and dead-letter queues, replay, transforming, the Lambda and SQS target
pages), AWS's target contract for the service, and Event Ruler for pattern matching.

Implemented (with AWS's errors for bad input):

- the protocol: routes, CBOR bodies, the ``smithy-protocol`` header, errors with ``__type`` and the
  model's HTTP status; every request is checked against the model (required members, enums,
  lengths, ranges, patterns, unions) and refused with ``InvalidInputException`` in AWS's wording;
- buses: Create (retention 1-365 days, KMS key stored, tags, ``ClientToken`` idempotency and
  ``IdempotentParameterMismatchException``, the 5-bus quota as ``LimitExceededException``),
  Describe (``RetentionWindowStartTime`` = max(now - retention, creation)), List (prefix, account,
  pagination), Update, Delete (``ResourceInUseException`` while subscribers remain); CREATING,
  UPDATING and DELETING last ``provisioning_delay`` (0.5 s), so the model's ``EventBusActive`` and
  ``EventBusDeleted`` waiters work, and publishing to a CREATING bus fails as on AWS;
- subscribers: Create, Describe, List, Update, Delete, with target resolution and AWS's routing
  checks (block matches target, account, region, partition, not the own bus), filters (one per
  scope, ANDed; ``DATA``, ``METADATA`` exact values only, ``SYSTEM_METADATA``; no wildcards),
  transformers (``RAW``, ``WITH_METADATA``, ``JSONATA``), ``Type`` ``UNORDERED``/``FIFO``,
  ``RetryPolicy`` (defaults 5 retries, 300 s), ``OnFailureConfiguration``, ``BatchConfiguration``
  (resolved defaults returned on read), ``LogConfiguration`` (attempt records go to the server's
  log), ``StartingPosition`` ``LATEST`` or ``POINT_IN_TIME`` (``HORIZON``, or a ``TIMESTAMP`` inside
  the retention window, optional ``EndPoint``), ``State`` ``RUNNING``/``STOPPED`` and
  ``ResumePosition`` ``LAST_PROCESSED``/``LATEST``; one create or delete at a time per bus
  (``ConcurrentModificationException``); ``RevokeResource`` for subscribers;
- targets delivered: SQS standard and FIFO (``SendMessageBatch``), SNS (``PublishBatch``), Lambda
  (``Invoke``: an array per batch, a single object when ``MaxBatchSize`` is 1; ``batchItemFailures``
  honoured), Kinesis (``PutRecords``), another Custom Event Bus; target parameters as literals or
  ``{% %}`` expressions;
- ``PutEvents`` (the classic envelope, ``application/eventbridge+json``) and ``PutRawEvents``
  (``application/json``, ``application/octet-stream``); other content types refused per entry with
  AWS's message; Avro and Protobuf need ``SchemaRegistryConfiguration`` (per-entry error without
  it, ``SchemaRegistryUnavailableException`` with it: there is no registry here);
- publish deduplication within 5 minutes, by content (``CONTENT_BASED``) or by ``DeduplicationId``,
  answering ``DEDUPLICATED`` with the first event's id;
- delivery: FIFO per event group per subscriber (a failing event holds up its own group only),
  unordered subscribers in parallel, retries with exponential backoff and jitter, then one failure
  record per failed batch on the on-failure queue (AWS's record format) or a drop; retained events
  delivered first to a subscriber that starts in the past (``aws:DeliveryType`` ``REPLAY``), then
  live ones; pause and resume without loss; everything in one SQLite file, so a restart loses
  nothing (an attempt cut off by the restart is made again);
- tags (Tag, Untag, List) and resource policies (Put, Get, Delete, List, with ``default``/``AWS_RAM``,
  ``ExpectedRevisionId``/``NO_POLICY``, ``ConflictException``, ``PublicPolicyException``,
  ``PolicyLengthExceededException``).

Not implemented, or different from AWS:

- event sources: ``CreateEventSource`` answers HTTP 501 ``NotImplementedException`` (they need the
  classic EventBridge side); Describe/Update/Delete answer ``ResourceNotFoundException`` and List an
  empty list, as for an account that has none;
- targets other than the five above (Step Functions, Firehose, API Gateway, API destinations, a
  classic bus, universal ``aws-sdk`` targets): ``CreateSubscriber`` answers 501;
- no authentication, IAM, KMS or cross-account sharing (RAM): roles and keys are stored, not used;
  everything is one account (``000000000000`` by default) and one region (``--region``, the
  emulator's: a request whose SigV4 credential scope names another region is refused with HTTP 403
  ``InvalidSignatureException``, as an AWS endpoint refuses it; signatures are not verified);
- Avro and Protobuf decoding (no schema registry);
- metrics and vended logs: delivery attempts go to the server's log, counters to
  ``GET /_eventlab/eventbridgev2/stats``;
- JSONata needs the ``jsonata`` package (jsonata-python, installed with MiniStack); without it only
  ``$events`` paths are evaluated and other expressions are refused at create time;
- AWS's quotas beyond the bus count (throughput, entry size, groups) are not enforced;
- the subscriber activation delay AWS describes is not emulated: a new subscriber sees events
  published after its ``CreateSubscriber`` returned.

Where AWS leaves a choice open, eventlab chose (and says so here): retention defaults to 7 days
when ``StorageConfiguration`` is omitted; events without ``EventGroupId`` form one group of their
own on a FIFO subscriber; a Lambda target is invoked ``REQUEST_RESPONSE`` unless
``InvocationType`` says ``EVENT``; ``MaxEventAgeInSeconds`` counts from an event's first delivery
attempt; content-based deduplication hashes what the publisher supplied (source, detail-type,
detail, resources and time for ``PutEvents``; content type, data and metadata for
``PutRawEvents``), not the group or deduplication id; per-entry error codes borrow the classic
bus's (``InvalidArgument``, ``MalformedDetail``); dead-letter ``errorCode`` values are
``ACCESS_DENIED``, ``CUSTOMER_VALIDATION``, ``THROTTLING``, ``TARGET_ERROR`` and
``TARGET_UNREACHABLE``; a failed call's events are retried together, so one record covers them.
A FIFO subscriber sends SQS, SNS, Kinesis and bus targets one event per call (their batch APIs can
refuse one entry and accept the next, which would reorder a group); Lambda keeps its batches, and
on a FIFO subscriber the events after the first ``batchItemFailures`` entry fail with it. As on
AWS, nothing sets a FIFO queue's or topic's ``MessageGroupId`` by itself: a subscriber names it in
``SqsParameters``/``SnsParameters``, usually ``{% $events.SystemMetadata.EventGroupId %}``.
AWS's guide states the FIFO hold two ways: "Ordering" (and the China-region copy of "Retry
policies") says a failing event holds up its own group while other groups continue; the English
"Retry policies" page says a failed call holds up the later events of every event group.
eventlab follows "Ordering": it holds only the event's own group and sends each FIFO batch from
one group (the conformance case ``eventbridgev2.fifo.failure-holds-its-group``).
"""

from eventlab.eventbridgev2.embedded import EmbeddedEventBridgeV2
from eventlab.eventbridgev2.server import EventBridgeV2Server, ServerError

__all__ = ["EmbeddedEventBridgeV2", "EventBridgeV2Server", "ServerError"]
