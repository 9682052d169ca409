"""Best practices, each measured: idempotency, dead-letter queues, backoff with jitter, long polling.

Every experiment runs a small load through SQS on the run's target and returns a tidy
:class:`pandas.DataFrame` (one row per variant) whose counts the notebook asserts:

- :func:`idempotency_experiment` — a producer whose replies are lost retries and so puts
  duplicates in the queue; a consumer's side effect runs once per *delivery* without an
  idempotency store, and once per *message* with one (:mod:`eventlab.idempotency`).
- :func:`dlq_experiment` — poison messages with and without a redrive policy: captured in the
  DLQ, or received again and again and still unaccounted for when the window ends.
- :func:`backoff_experiment` — a producer against an emulated SQS FIFO quota with no
  retries, a fixed backoff, or exponential backoff with full jitter: throttles, retries,
  failed sends and accepted throughput.
- :func:`polling_experiment` — the same trickle of messages read by a short-polling and a
  long-polling consumer: API calls and empty receives per delivered message;
  :func:`idle_polling_experiment` counts what each asks of an empty queue, and
  :func:`polling_cost` turns both into a request bill at a stated price.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from eventlab import policies
from eventlab.idempotency import IdempotencyStore, idempotent
from eventlab.measure import analysis
from eventlab.measure.consumers import SqsMessage, SqsReceiver, per_item, probe_ids
from eventlab.measure.faults import LoseResponses
from eventlab.measure.load import LoadSpec, RetryPolicy, run_load
from eventlab.measure.probes import ReceiptLog, decode
from eventlab.measure.quotas import SqsFifoQuota, emulate_quotas
from eventlab.measure.senders import SqsSender
from eventlab.run import Run
from eventlab.services import kinesis, logs, sns, sqs
from eventlab.waiting import until

log = logging.getLogger(__name__)

SQS_PRICE_PER_MILLION = 0.40
"""Assumed SQS price per million requests (standard queues, us-east-1, after the monthly free
tier; FIFO queues cost more). An assumption to state beside any cost figure, not a quote."""

SECONDS_PER_MONTH = 30 * 24 * 3600


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> bool:
    if until(condition, timeout=timeout, interval=0.05):
        return True
    log.warning("%s did not happen within %.0f s", what, timeout)
    return False


# -- idempotency -------------------------------------------------------------------------------
def idempotency_experiment(
    run: Run,
    *,
    messages: int = 20,
    lose_every: int = 4,
    consumers: int = 2,
    timeout: float = 30.0,
) -> pd.DataFrame:
    """Duplicates delivered, and side effects with and without an idempotency store.

    For each variant, a producer sends ``messages`` messages while every ``lose_every``-th
    SendMessage reply is lost (the queue accepted it; the producer retries): each lost reply
    puts a second copy, with a new SQS MessageId, in the queue. ``consumers`` receiver threads
    run a side effect per message. Without a store it runs per delivery; with the S3
    conditional-write store (keyed by the message's own id, not by the SQS MessageId) it
    runs once per message.

    Columns: ``messages``, ``copies_sent`` (messages plus producer retries that landed),
    ``deliveries``, ``duplicate_deliveries``, ``sqs_message_ids`` (distinct transport ids
    delivered), ``side_effects``, ``messages_with_repeated_effect``, ``extra_side_effects``.
    """
    rows = [
        _idempotency_variant(run, use_store=use_store, messages=messages, lose_every=lose_every, consumers=consumers, timeout=timeout)
        for use_store in (False, True)
    ]
    return pd.DataFrame(rows).set_index("variant")


def _idempotency_variant(run: Run, *, use_store: bool, messages: int, lose_every: int, consumers: int, timeout: float) -> dict[str, Any]:
    variant = "with idempotency store" if use_store else "without idempotency store"
    queue = sqs.create_queue(run, f"idem-{'store' if use_store else 'plain'}", attributes={"VisibilityTimeout": 10})
    client = run.target.client("sqs")
    with LoseResponses(client, "SendMessage", every=lose_every) as losses:
        load = run_load(
            SqsSender(client, queue.url), run.run_id, LoadSpec(mode="closed", count=messages),
            retry=RetryPolicy(base_s=0.01, seed=7),
        )
    effects: Counter[str] = Counter()
    lock = threading.Lock()

    def side_effect(msg_id: str) -> str:
        with lock:
            effects[msg_id] += 1
        return msg_id

    guarded = side_effect
    if use_store:
        store = IdempotencyStore.create(run, "idem-store")
        guarded = idempotent(store, key_fn=lambda msg_id: msg_id, wait=5.0)(side_effect)

    def process(message: SqsMessage) -> None:
        if message.probe is not None:
            guarded(message.probe.msg_id)

    receipts = ReceiptLog(run.run_id)
    copies = messages + losses.lost
    with SqsReceiver(client, queue.url, receipts, threads=consumers, handler=per_item(process)):
        _wait(lambda: sum(r.ok for r in receipts) >= copies, timeout, f"{variant}: {copies} deliveries")
        receipts.wait_quiet(0.5, timeout=3)
    frame = receipts.to_frame()
    ok = frame[frame["ok"]]
    row = {
        "variant": variant,
        "messages": int(load.frame()["ok"].sum()),
        "copies_sent": copies,
        "deliveries": len(ok),
        "duplicate_deliveries": len(ok) - ok["msg_id"].nunique(),
        "sqs_message_ids": ok["source"].nunique(),
        "side_effects": sum(effects.values()),
        "messages_with_repeated_effect": sum(1 for n in effects.values() if n > 1),
        "extra_side_effects": sum(effects.values()) - len(effects),
    }
    log.info("idempotency %s: %s", variant, row)
    return row


# -- dead-letter queues ------------------------------------------------------------------------
def dlq_experiment(
    run: Run,
    *,
    messages: int = 20,
    poison_every: int = 5,
    max_receive_count: int = 2,
    visibility_s: int = 1,
    timeout: float = 30.0,
) -> pd.DataFrame:
    """Poison messages with and without a dead-letter queue, for the same length of time.

    Every ``poison_every``-th message always fails. With a redrive policy SQS moves it to the
    DLQ after ``max_receive_count`` receives; the run ends when every good message is done and
    every poison message is in the DLQ. The queue without a DLQ is then consumed for the same
    time: its poison messages keep coming back every ``visibility_s`` and are still in the
    queue at the end, neither delivered nor captured (SQS deletes them silently when the
    retention period, 4 days by default, runs out).

    Columns: ``sent``, ``poison``, ``delivered``, ``in_dlq``, ``still_in_queue``,
    ``poison_receives`` (failed receives), ``unaccounted`` (sent - delivered - in DLQ, the
    workbook's ``lost``), ``seconds``.
    """
    with_dlq = _dlq_variant(run, with_dlq=True, messages=messages, poison_every=poison_every,
                            max_receive_count=max_receive_count, visibility_s=visibility_s, timeout=timeout, window_s=None)
    without = _dlq_variant(run, with_dlq=False, messages=messages, poison_every=poison_every,
                           max_receive_count=max_receive_count, visibility_s=visibility_s, timeout=timeout,
                           window_s=with_dlq["seconds"])
    rows = [with_dlq, without]
    return pd.DataFrame(rows).set_index("variant")


def _dlq_variant(
    run: Run, *, with_dlq: bool, messages: int, poison_every: int, max_receive_count: int,
    visibility_s: int, timeout: float, window_s: float | None,
) -> dict[str, Any]:
    variant = "with DLQ" if with_dlq else "without DLQ"
    client = run.target.client("sqs")
    dlq = sqs.create_queue(run, "poison-dlq") if with_dlq else None
    queue = sqs.create_queue(
        run, f"poison-{'dlq' if with_dlq else 'none'}-src", attributes={"VisibilityTimeout": visibility_s},
        dead_letter_queue=dlq, max_receive_count=max_receive_count,
    )
    load = run_load(SqsSender(client, queue.url, batch=True), run.run_id, LoadSpec(mode="closed", count=messages, batch=10))
    poison = {r.msg_id for r in load.sends.records if r.seq % poison_every == 0}

    def process(message: SqsMessage) -> None:
        if message.probe is not None and message.probe.msg_id in poison:
            raise ValueError("poison message")

    receipts = ReceiptLog(run.run_id)
    dlq_ids: set[str] = set()
    started = time.monotonic()
    good = messages - len(poison)
    with SqsReceiver(client, queue.url, receipts, handler=per_item(process)):
        _wait(lambda: len({r.msg_id for r in receipts if r.ok}) >= good, timeout, f"{variant}: good messages")
        if dlq is not None:

            def all_captured() -> bool:
                dlq_ids.update(probe_ids(sqs.receive_all(run, dlq, wait_s=0)))
                return dlq_ids >= poison

            _wait(all_captured, timeout, "every poison message in the DLQ")
        else:
            remaining = (window_s or 3.0) - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)
    seconds = time.monotonic() - started
    attrs = sqs.get_queue_attributes(run, queue)
    still = int(attrs.get("ApproximateNumberOfMessages", 0)) + int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))
    frame = receipts.to_frame()
    delivered = set(frame.loc[frame["ok"], "msg_id"])
    lost = analysis.loss(load.frame().query("ok")["msg_id"], delivered, dlq_ids)
    row = {
        "variant": variant,
        "sent": lost["sent"],
        "poison": len(poison),
        "delivered": lost["delivered"],
        "in_dlq": lost["in_dlq"],
        "still_in_queue": still,
        "poison_receives": int((~frame["ok"]).sum()),
        "unaccounted": lost["lost"],
        "seconds": round(seconds, 1),
    }
    log.info("dlq %s: %s", variant, row)
    return row


# -- backoff with jitter -----------------------------------------------------------------------
@dataclass
class FixedBackoff(RetryPolicy):
    """Retry after the same pause every time (``delay_s``): the policy jitter improves on."""

    delay_s: float = 0.1

    def backoff(self, retry: int) -> float:
        return self.delay_s


def retry_policies(
    *, max_attempts: int = 100, delay_s: float = 0.1, base_s: float = 0.05, cap_s: float = 2.0, seed: int = 11
) -> dict[str, RetryPolicy]:
    """The three policies :func:`backoff_experiment` compares, by name.

    ``max_attempts`` is high on purpose: both backoff policies should get every message
    through, so that what differs between them is how many refused calls it took.
    """
    return {
        "no retries": RetryPolicy(max_attempts=1),
        "fixed backoff": FixedBackoff(max_attempts=max_attempts, delay_s=delay_s),
        "exponential, full jitter": RetryPolicy(max_attempts=max_attempts, base_s=base_s, cap_s=cap_s, seed=seed),
    }


def backoff_experiment(
    run: Run,
    *,
    messages: int = 60,
    producers: int = 10,
    quota_calls_per_s: float = 20.0,
    policies: dict[str, RetryPolicy] | None = None,
    timeout: float = 30.0,
) -> pd.DataFrame:
    """``producers`` threads send ``messages`` messages as fast as they can (closed loop) to a
    FIFO queue whose SendMessage quota is ``quota_calls_per_s``, once per retry policy.

    On LocalStack the quota is emulated (:mod:`eventlab.measure.quotas`), scaled down from
    AWS's 300 calls/s so that a few producers exceed it; on AWS nothing is emulated and the
    real quota applies (then raise ``producers`` to see throttling).

    Columns: ``offered``, ``accepted``, ``failed`` (given up: lost at the producer),
    ``throttled_attempts``, ``retries``, ``calls``, ``throttled_per_accepted``,
    ``accepted_per_s`` (accepted messages over the span from the first send to the last
    accepted one), ``backoff_s`` (time spent sleeping, all producers), ``delivered``, ``lost``
    (accepted but never received), ``emulated_refusals`` (what the quota refused, 0 on AWS).
    """
    policies = policies or retry_policies()
    quota = SqsFifoQuota(calls_per_s=quota_calls_per_s)
    rows = []
    for index, (name, policy) in enumerate(policies.items()):
        queue = sqs.create_queue(run, f"backoff-{index}", fifo=True)
        client = run.target.client("sqs")
        spec = LoadSpec(mode="closed", count=messages, threads=producers, keys=producers)
        with emulate_quotas(run.target, client, sqs_fifo=quota) as emulator:
            load = run_load(SqsSender(client, queue.url), run.run_id, spec, retry=policy)
            refused = emulator.throttled("sqs", "SendMessage")
        sends = load.frame()
        accepted = sends[sends["ok"]]
        receipts = ReceiptLog(run.run_id)
        with SqsReceiver(client, queue.url, receipts):
            receipts.wait_for(len(accepted), timeout=timeout)
        figures = analysis.throttling(sends, load.calls)
        span_s = (accepted["end_ns"].max() - sends["start_ns"].min()) / 1e9 if len(accepted) else float("nan")
        lost = analysis.loss(accepted["msg_id"], receipts.ids())
        rows.append(
            {
                "policy": name,
                "offered": len(sends),
                "accepted": len(accepted),
                "failed": figures["failed_sends"],
                "throttled_attempts": figures["throttled_attempts"],
                "retries": figures["retries"],
                "calls": figures["calls"],
                "throttled_per_accepted": figures["throttled_attempts"] / max(1, len(accepted)),
                "accepted_per_s": len(accepted) / span_s if span_s else float("nan"),
                "backoff_s": round(figures["backoff_s"], 2),
                "delivered": lost["delivered"],
                "lost": lost["lost"],
                "emulated_refusals": refused,
            }
        )
        log.info("backoff %s: %s", name, rows[-1])
    return pd.DataFrame(rows).set_index("policy")


# -- long polling ------------------------------------------------------------------------------
@dataclass
class PollStats:
    """What one polling consumer did."""

    receive_calls: int = 0
    empty_receives: int = 0
    delete_calls: int = 0
    delivered: int = 0
    empty_call_s: float = 0.0


def _poll(client: Any, url: str, receipts: ReceiptLog, expected: int, *, wait_s: int, pause_s: float, path: str, deadline: float) -> PollStats:
    """Receive until ``expected`` messages arrived: long polling (``wait_s`` > 0) or short
    polling with ``pause_s`` between empty answers. Each batch is deleted in one call."""
    stats = PollStats()
    while stats.delivered < expected and time.monotonic() < deadline:
        began = time.monotonic()
        reply = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s)
        stats.receive_calls += 1
        found = reply.get("Messages", [])
        if not found:
            stats.empty_receives += 1
            stats.empty_call_s += time.monotonic() - began
            if pause_s:
                time.sleep(pause_s)
            continue
        received_ns = time.time_ns()
        for m in found:
            probe = decode(m["Body"])
            if probe is not None:
                receipts.record(probe, path=path, consumer=path, received_ns=received_ns, source=m["MessageId"])
        client.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(found)])
        stats.delete_calls += 1
        stats.delivered += len(found)
    return stats


def _poll_into(box: dict[str, PollStats], *args: Any, **kwargs: Any) -> None:
    box["stats"] = _poll(*args, **kwargs)


def polling_experiment(
    run: Run,
    *,
    messages: int = 20,
    rate: float = 10.0,
    long_wait_s: int = 20,
    short_pause_s: float = 0.05,
    timeout: float = 30.0,
) -> pd.DataFrame:
    """The same trickle (``messages`` at ``rate``/s, open loop) read by a short-polling
    consumer (``WaitTimeSeconds=0``, ``short_pause_s`` between empty answers) and by a
    long-polling one (``WaitTimeSeconds=long_wait_s``), each on its own queue and its own client.

    Columns: ``wait_s``, ``delivered``, ``receive_calls``, ``empty_receives``,
    ``delete_calls``, ``send_calls``, ``requests`` (all three), ``receives_per_message``,
    ``empty_per_message``, ``requests_per_message``, ``idle_receives_per_s`` (an idle
    consumer's request rate *estimated* from this busy run: for short polling one call per
    ``pause`` plus an empty call's duration, for long polling one call per ``wait_s``; measure
    it instead with :func:`idle_polling_experiment`), ``p50_ms``/``p99_ms`` latency.
    """
    rows = []
    target = run.target
    for mode, wait_s, pause_s in (("short polling", 0, short_pause_s), ("long polling", long_wait_s, 0.0)):
        queue = sqs.create_queue(run, f"poll-{wait_s}")
        consumer_client = target.new_client("sqs")
        receipts = ReceiptLog(run.run_id)
        box: dict[str, PollStats] = {}
        deadline = time.monotonic() + timeout + messages / rate
        thread = threading.Thread(
            target=_poll_into,
            args=(box, consumer_client, queue.url, receipts, messages),
            kwargs={"wait_s": wait_s, "pause_s": pause_s, "path": mode, "deadline": deadline},
            name=f"poll-{wait_s}", daemon=True,
        )
        thread.start()
        load = run_load(SqsSender(target.client("sqs"), queue.url, path=mode), run.run_id, LoadSpec(rate=rate, count=messages))
        thread.join(timeout + messages / rate + long_wait_s + 5)
        stats = box.get("stats", PollStats())
        summary = analysis.summarize(load.frame(), receipts.to_frame())
        latency = summary.iloc[0] if len(summary) else None
        sends = int(load.calls.get("calls", 0))
        requests = stats.receive_calls + stats.delete_calls + sends
        per = max(1, stats.delivered)
        if wait_s:
            idle = 1 / wait_s
        else:
            mean_empty = stats.empty_call_s / stats.empty_receives if stats.empty_receives else 0.0
            idle = 1 / (pause_s + mean_empty) if (pause_s + mean_empty) > 0 else float("inf")
        rows.append(
            {
                "mode": mode,
                "wait_s": wait_s,
                "delivered": stats.delivered,
                "receive_calls": stats.receive_calls,
                "empty_receives": stats.empty_receives,
                "delete_calls": stats.delete_calls,
                "send_calls": sends,
                "requests": requests,
                "receives_per_message": stats.receive_calls / per,
                "empty_per_message": stats.empty_receives / per,
                "requests_per_message": requests / per,
                "idle_receives_per_s": idle,
                "p50_ms": float(latency["latency_p50_ms"]) if latency is not None else float("nan"),
                "p99_ms": float(latency["latency_p99_ms"]) if latency is not None else float("nan"),
            }
        )
        log.info("polling %s: %s", mode, rows[-1])
    return pd.DataFrame(rows).set_index("mode")


def _idle_into(box: dict[str, Any], client: Any, url: str, receipts: ReceiptLog, *, wait_s: int, pause_s: float, seconds: float) -> None:
    began = time.monotonic()
    box["stats"] = _poll(client, url, receipts, 1 << 30, wait_s=wait_s, pause_s=pause_s, path="idle", deadline=began + seconds)
    box["elapsed_s"] = time.monotonic() - began


def idle_polling_experiment(run: Run, *, seconds: float = 10.0, long_wait_s: int = 5, short_pause_s: float = 0.05) -> pd.DataFrame:
    """A short-polling and a long-polling consumer, each on its own empty queue, both for
    ``seconds`` at once: the ReceiveMessage calls SQS answered, how many came back empty, and
    how long an empty answer took (SQS holds a long poll for ``WaitTimeSeconds`` when no
    message comes, and answers a short poll at once).

    Columns: ``wait_s``, ``elapsed_s`` (until the last answer), ``receive_calls``,
    ``empty_receives``, ``mean_empty_call_s`` and ``receives_per_s`` (calls per second of
    elapsed time: what :func:`polling_cost` bills for an idle month).
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be above 0, not {seconds}: the consumers need an interval to be idle in")
    target = run.target
    variants = (("short polling", 0, short_pause_s), ("long polling", long_wait_s, 0.0))
    boxes: dict[str, dict[str, Any]] = {}
    threads = []
    for mode, wait_s, pause_s in variants:
        queue = sqs.create_queue(run, f"idle-{wait_s}")
        boxes[mode] = {}
        threads.append(threading.Thread(
            target=_idle_into, args=(boxes[mode], target.new_client("sqs"), queue.url, ReceiptLog(run.run_id)),
            kwargs={"wait_s": wait_s, "pause_s": pause_s, "seconds": seconds}, name=f"idle-{wait_s}", daemon=True,
        ))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + long_wait_s + 10)
    rows = []
    for mode, wait_s, _ in variants:
        stats: PollStats = boxes[mode].get("stats", PollStats())
        elapsed = float(boxes[mode].get("elapsed_s", float("nan")))
        rows.append({
            "mode": mode,
            "wait_s": wait_s,
            "elapsed_s": elapsed,
            "receive_calls": stats.receive_calls,
            "empty_receives": stats.empty_receives,
            "mean_empty_call_s": stats.empty_call_s / stats.empty_receives if stats.empty_receives else float("nan"),
            "receives_per_s": stats.receive_calls / elapsed if elapsed > 0 else float("nan"),
        })
        log.info("idle %s: %s", mode, rows[-1])
    return pd.DataFrame(rows).set_index("mode")


def polling_cost(
    polling: pd.DataFrame,
    idle: pd.DataFrame | None = None,
    *,
    price_per_million: float = SQS_PRICE_PER_MILLION,
    messages_per_month: float = 10_000_000,
    consumers: int = 1,
) -> pd.DataFrame:
    """Turn measured request counts into a monthly request bill.

    ``busy_cost`` = requests per message (:func:`polling_experiment`) * ``messages_per_month`` *
    price; ``idle_cost`` = the idle request rate measured by :func:`idle_polling_experiment`
    (``idle``; without it, the estimate in ``polling``'s ``idle_receives_per_s``, and
    ``idle_measured`` says which), for a whole month, * ``consumers`` * price. Prices are per million requests (an assumption, see
    :data:`SQS_PRICE_PER_MILLION`); each request of up to 64 KiB counts once, and the free tier
    is ignored.
    """
    missing = sorted(set(polling.index) - set(idle.index)) if idle is not None else []
    if missing:
        raise ValueError(f"no idle measurement for {', '.join(missing)}: run idle_polling_experiment with the same modes")
    per_request = price_per_million / 1_000_000
    out = pd.DataFrame(index=polling.index)
    out["requests_per_message"] = polling["requests_per_message"]
    out["busy_requests_per_month"] = polling["requests_per_message"] * messages_per_month
    out["busy_cost_usd"] = out["busy_requests_per_month"] * per_request
    out["idle_measured"] = idle is not None
    out["idle_receives_per_s"] = polling["idle_receives_per_s"] if idle is None else idle.loc[polling.index, "receives_per_s"]
    out["idle_requests_per_month"] = out["idle_receives_per_s"] * SECONDS_PER_MONTH * consumers
    out["idle_cost_usd"] = out["idle_requests_per_month"] * per_request
    out["price_per_million_usd"] = price_per_million
    return out


# -- least privilege and encryption ------------------------------------------------------------
ENCRYPTION_PAGES = {
    "sqs": "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-server-side-encryption.html",
    "sns": "https://docs.aws.amazon.com/sns/latest/dg/sns-server-side-encryption.html",
    "kinesis": "https://docs.aws.amazon.com/streams/latest/dev/what-is-sse.html",
}
LEAST_PRIVILEGE_PAGE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _covers(wired: str, resource: str) -> bool:
    """Whether ``resource`` is ``wired`` itself or what it holds (a bucket's objects, a log group's streams)."""
    return resource in (wired, f"{wired}/*", f"{wired}:*")


def policy_findings(policy: Mapping[str, Any], wired: Sequence[str], *, sources: Sequence[str] = (),
                    sms: bool = False) -> list[str]:
    """Every way ``policy`` grants more than least privilege, for a principal wired to ``wired``
    (ARNs): an action or resource with a wildcard, an action of another service than its
    resource's, a resource it is not wired to, a service grant without an ``aws:SourceArn``
    condition or with a source not in ``sources``, a ``NotAction``, and a ``NotResource`` other
    than the SMS grant (:func:`eventlab.policies.allow_sms_publish`, when ``sms``). Empty: least
    privilege."""
    findings: list[str] = []
    for number, statement in enumerate(policy.get("Statement", []), 1):
        where = f"statement {number}"
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            findings.append(f"{where}: NotAction grants every other action")
        actions = [str(a) for a in _listed(statement.get("Action"))]
        findings += [f"{where}: wildcard action {a!r}" for a in actions if "*" in a]
        if "NotResource" in statement:
            if not (sms and statement == policies.allow_sms_publish()):
                findings.append(f"{where}: NotResource {statement['NotResource']!r} grants every other resource")
            continue
        resources = [str(r) for r in _listed(statement.get("Resource"))]
        if not resources:
            findings.append(f"{where}: no resource")
        for resource in resources:
            if resource == "*" or resource.endswith(":*:*") or ":*:" in resource:
                findings.append(f"{where}: wildcard resource {resource!r}")
            elif not any(_covers(w, resource) for w in wired):
                findings.append(f"{where}: {resource} is not among what the principal is wired to")
            else:
                service = policies.service_of(resource)
                findings += [f"{where}: {a} is not an action of {service}, the service of {resource}"
                             for a in actions if a.split(":", 1)[0] != service]
        principal = statement.get("Principal")
        if principal is not None:
            if principal == "*" or not isinstance(principal, Mapping) or "Service" not in principal:
                findings.append(f"{where}: principal {principal!r} is not one AWS service")
            condition = statement.get("Condition", {})
            arns = [a for op in condition.values() for a in _listed(op.get("aws:SourceArn"))]
            if not arns:
                findings.append(f"{where}: a service grant without an aws:SourceArn condition")
            findings += [f"{where}: source {a} is not wired to this resource" for a in arns if a not in sources]
    return findings


def least_privilege(topology: Any) -> pd.DataFrame:
    """Every policy eventlab generates for ``topology`` (planned offline, as ``apply`` would
    build it): each function's role, each rule's role, each queue's and topic's resource policy,
    one row per policy with its actions, resources and :func:`policy_findings` against what the
    topology wires that principal to (its ``allow`` list, event sources and log group; a rule's
    targets; a resource's subscribed topics and rules)."""
    from eventlab.topology import plan as planning
    from eventlab.topology.model import Ref

    p = planning.plan(topology)
    rows: list[dict[str, Any]] = []

    def add(principal: str, kind: str, policy: Mapping[str, Any], wired: Sequence[str], **options: Any) -> None:
        statements = policy.get("Statement", [])
        rows.append({
            "principal": principal, "policy": kind, "statements": len(statements),
            "actions": sorted({str(a) for s in statements for a in _listed(s.get("Action"))}),
            "resources": sorted({str(r) for s in statements for r in _listed(s.get("Resource"))}),
            "findings": policy_findings(policy, wired, **options),
        })

    for spec in topology.functions:
        documents, _ = planning.function_role_policies(p, spec)
        refs = [Ref.parse(text) for text in spec.allow]
        wired = [p.arn(ref) for ref in refs if ref.kind != "sms"]
        wired += [p.arn(Ref.parse(source.source)) for source in spec.event_sources]
        wired.append(logs.log_group_arn(p.place, p.functions[spec.name].log_group))
        merged = {"Statement": [s for d in documents for s in d["Statement"]]}
        add(f"function {spec.name}", "role", merged, wired, sms=any(ref.kind == "sms" for ref in refs))
    for rule in topology.rules:
        policy = planning.rule_role_policy(p, rule)
        if policy is not None:
            add(f"rule {rule.name}", "role", policy, [p.arn(Ref.parse(t.arn)) for t in rule.targets])
    queue_grants, topic_grants = planning.resource_grants(topology, lambda t: p.topics[t].arn, lambda r: p.rules[r].arn)
    for table, grants_by_name, action in ((p.queues, queue_grants, sqs.SEND_ACTION), (p.topics, topic_grants, sns.PUBLISH_ACTION)):
        for name, grants in grants_by_name.items():
            arn = table[name].arn
            sources = sorted({a for arns in grants.values() for a in arns})
            add(f"{policies.service_of(arn)} {name}", "resource policy", policies.merge(None, action, arn, grants), [arn], sources=sources)
    return pd.DataFrame(rows).set_index("principal")


def encryption_at_rest(run: Run) -> pd.DataFrame:
    """A queue, a topic and a stream created with eventlab's defaults, and each one's encryption
    as the service reports it (GetQueueAttributes, GetTopicAttributes, DescribeStreamSummary);
    plus the queue's resource policy once a topic may send to it, as SQS stores it, with its
    :func:`policy_findings`."""
    target = run.target
    queue = sqs.create_queue(run, "sse")
    topic = sns.create_topic(run, "sse")
    stream = kinesis.create_stream(run, "sse", shard_count=1)
    sns.subscribe_queue(run, topic, queue, raw_message_delivery=True)
    q = target.client("sqs").get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
    t = target.client("sns").get_topic_attributes(TopicArn=topic.arn)["Attributes"]
    k = target.client("kinesis").describe_stream_summary(StreamName=stream.name)["StreamDescriptionSummary"]
    rows = [
        {"resource": f"queue {queue.name}", "read with": "GetQueueAttributes",
         "encryption": "SQS-managed (SSE-SQS)" if q.get("SqsManagedSseEnabled") == "true" else q.get("KmsMasterKeyId") or "none",
         "encrypted": q.get("SqsManagedSseEnabled") == "true" or bool(q.get("KmsMasterKeyId")), "source": ENCRYPTION_PAGES["sqs"]},
        {"resource": f"topic {topic.name}", "read with": "GetTopicAttributes", "encryption": t.get("KmsMasterKeyId") or "none",
         "encrypted": bool(t.get("KmsMasterKeyId")), "source": ENCRYPTION_PAGES["sns"]},
        {"resource": f"stream {stream.name}", "read with": "DescribeStreamSummary",
         "encryption": f"{k.get('EncryptionType', 'NONE')} {k.get('KeyId', '')}".strip(),
         "encrypted": k.get("EncryptionType") == "KMS", "source": ENCRYPTION_PAGES["kinesis"]},
    ]
    frame = pd.DataFrame(rows).set_index("resource")
    stored = policies.parse(q.get("Policy"))
    frame.attrs["queue_policy"] = stored
    frame.attrs["queue_policy_findings"] = policy_findings(stored, [queue.arn], sources=[topic.arn]) if stored else ["no policy stored"]
    return frame


def ratio(frame: pd.DataFrame, column: str, numerator: str, denominator: str) -> float:
    """``frame.loc[numerator, column] / frame.loc[denominator, column]`` (NaN on a zero)."""
    bottom = float(frame.loc[denominator, column])
    return float(frame.loc[numerator, column]) / bottom if bottom else float("nan")


__all__: Sequence[str] = (
    "SQS_PRICE_PER_MILLION",
    "FixedBackoff",
    "backoff_experiment",
    "dlq_experiment",
    "encryption_at_rest",
    "idempotency_experiment",
    "idle_polling_experiment",
    "least_privilege",
    "policy_findings",
    "polling_cost",
    "polling_experiment",
    "retry_policies",
)
