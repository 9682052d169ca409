"""CloudWatch metrics and metric alarms: alarms named for the run and deleted with it, metric
data put and read back, and an alarm's state and history.

Metrics are not resources: CloudWatch keeps a custom metric's data points until they expire
(15 months on AWS) and has no call to delete them, so a run's metrics go to a namespace of its
own (:func:`namespace`) that nothing else reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from eventlab.run import Run, resource_kind
from eventlab.target import Target
from eventlab.waiting import until

# Limits from the CloudWatch API reference (PutMetricAlarm, PutMetricData).
ALARM_NAME_MAX = 255
HIGH_RESOLUTION_PERIODS = (10, 20, 30)  # periods under 60 s need high-resolution data (StorageResolution 1)
METRICS_PAGE = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/publishingMetrics.html"
ALARMS_PAGE = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html"
Comparison = Literal["GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"]


@dataclass(frozen=True)
class Alarm:
    name: str
    arn: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]


def namespace(run: Run, service: str) -> str:
    """The run's own namespace for metrics eventlab publishes about ``service`` (``eventlab/<prefix>/SQS``)."""
    return f"eventlab/{run.prefix}/{service}"


def _dimensions(dimensions: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in dimensions.items()]


def put_metric(
    client: Any, namespace: str, metric: str, value: float, *, unit: str, dimensions: Mapping[str, str],
    timestamp: dt.datetime | None = None,
) -> None:
    """PutMetricData of one high-resolution data point (``StorageResolution`` 1, so alarms may use
    10-second periods)."""
    client.put_metric_data(Namespace=namespace, MetricData=[{
        "MetricName": metric, "Dimensions": _dimensions(dimensions), "Value": float(value), "Unit": unit,
        "StorageResolution": 1, "Timestamp": timestamp or dt.datetime.now(dt.UTC),
    }])


def metric_names(client: Any, namespace: str, dimensions: Mapping[str, str]) -> list[str]:
    """The metrics CloudWatch lists in ``namespace`` with these dimensions (ListMetrics)."""
    names: set[str] = set()
    for page in client.get_paginator("list_metrics").paginate(Namespace=namespace, Dimensions=_dimensions(dimensions)):
        names.update(m["MetricName"] for m in page.get("Metrics", []))
    return sorted(names)


def wait_for_metric(target: Target, namespace: str, dimensions: Mapping[str, str], name: str) -> bool:
    """Whether CloudWatch lists metric ``name`` for ``dimensions`` in ``namespace``: a service that
    publishes by itself does so every minute, so on AWS this waits up to ten minutes, on an
    emulator a few seconds."""
    client = target.client("cloudwatch")
    return bool(until(lambda: name in metric_names(client, namespace, dimensions),
                      timeout=3.0 if target.is_emulated else 600.0, interval=1.0))


def put_metric_alarm(
    run: Run,
    base: str,
    *,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, str],
    threshold: float,
    comparison: Comparison = "GreaterThanOrEqualToThreshold",
    statistic: str = "Maximum",
    period: int = 10,
    evaluation_periods: int = 1,
    alarm_actions: Sequence[str] = (),
    ok_actions: Sequence[str] = (),
    description: str = "",
) -> Alarm:
    """A metric alarm named for the run, notifying ``alarm_actions`` (SNS topic ARNs) when it goes
    to ALARM and ``ok_actions`` when it is back to OK; missing data counts as not breaching."""
    if period < 60 and period not in HIGH_RESOLUTION_PERIODS:
        raise ValueError(f"alarm {base!r}: a period under 60 s is one of {HIGH_RESOLUTION_PERIODS}, not {period}")
    if period >= 60 and period % 60:
        raise ValueError(f"alarm {base!r}: a period of 60 s or more is a multiple of 60, not {period}")
    name = run.name(base, max_length=ALARM_NAME_MAX)
    client = run.target.client("cloudwatch")
    client.put_metric_alarm(
        AlarmName=name, AlarmDescription=description, Namespace=namespace, MetricName=metric,
        Dimensions=_dimensions(dimensions), Statistic=statistic, Period=period, EvaluationPeriods=evaluation_periods,
        Threshold=float(threshold), ComparisonOperator=comparison, TreatMissingData="notBreaching",
        ActionsEnabled=True, AlarmActions=list(alarm_actions), OKActions=list(ok_actions), Tags=run.tag_list(),
    )
    arn = client.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    run.track(ALARM, name, arn, lambda: client.delete_alarms(AlarmNames=[name]))
    return Alarm(name=name, arn=arn, namespace=namespace, metric=metric, dimensions=tuple(dimensions.items()))


def alarm_state(client: Any, alarm: Alarm) -> str:
    """The alarm's state as CloudWatch reports it: ``OK``, ``ALARM`` or ``INSUFFICIENT_DATA``."""
    return str(client.describe_alarms(AlarmNames=[alarm.name])["MetricAlarms"][0]["StateValue"])


def state_changes(client: Any, alarm: Alarm) -> list[dict[str, Any]]:
    """The alarm's state updates, oldest first (DescribeAlarmHistory, HistoryItemType StateUpdate)."""
    items = client.describe_alarm_history(AlarmName=alarm.name, HistoryItemType="StateUpdate").get("AlarmHistoryItems", [])
    return sorted(items, key=lambda item: item["Timestamp"])


# -- what a run leaves behind ------------------------------------------------------------------
def _find_alarms(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("cloudwatch").get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix):
        yield from (a["AlarmName"] for a in page.get("MetricAlarms", []))


ALARM = resource_kind("cloudwatch:alarm", _find_alarms, lambda t, name: t.client("cloudwatch").delete_alarms(AlarmNames=[name]))
