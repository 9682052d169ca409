"""Lambda handler for the measured paths: report every record it was invoked with to the
measurement's receipt sink (an HTTP receiver on 127.0.0.1, named by ``EVENTLAB_SINK_URL``).

The wire format is :mod:`eventlab.measure.sink`, bundled into this package as ``sink.py`` (see
``bundle.txt``); the receipt time is taken first thing.
"""

import time

from sink import report_receipts


def handler(event, context):
    received_ns = time.time_ns()
    report_receipts(None, event, consumer=context.function_name, received_ns=received_ns)
    return {"batchItemFailures": []}
