"""NotificationService: turn OrderPaid into an email and an SMS, each through its own queue.

Input: SNS records whose messages are OrderPaid details. The email and SMS queues (each with a
DLQ) decouple the slow, failure-prone senders from this function.
"""

from __future__ import annotations

import json
import os
from typing import Any

from common import client, once


def notify(paid: dict[str, Any]) -> None:
    sqs = client("sqs")
    order_id = paid["orderId"]
    email = {"to": paid["email"], "subject": f"Order {order_id} confirmed", "body": f"We received {paid['total']} for order {order_id}."}
    sqs.send_message(QueueUrl=os.environ["QUEUE_EMAIL_URL"], MessageBody=json.dumps(email))
    if paid.get("phone"):
        sms = {"to": paid["phone"], "text": f"Order {order_id} is paid and on its way to packing."}
        sqs.send_message(QueueUrl=os.environ["QUEUE_SMS_URL"], MessageBody=json.dumps(sms))


def handler(event: dict[str, Any], context: Any) -> None:
    for record in event["Records"]:
        paid = json.loads(record["Sns"]["Message"])
        once(f"notify/{paid['orderId']}", lambda paid=paid: notify(paid))
