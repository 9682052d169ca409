"""A test handler that reports what AWS's Python runtime would show it: its Python, imports,
environment and logging; and that returns a response of the size it is asked for."""

import importlib
import logging
import os
import sys

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
print("aws-runtime: module imported")


def handler(event, context):
    event = event or {}
    logger.info("aws-runtime: info %s", event.get("marker", "-"))
    logger.debug("aws-runtime: debug %s", event.get("marker", "-"))
    if event.get("fail"):
        raise ValueError(f"aws-runtime asked to fail: {event['fail']}")
    if event.get("size"):
        return "A" * int(event["size"])
    imports = {}
    for module in event.get("imports", []):
        try:
            importlib.import_module(module)
            imports[module] = True
        except ImportError:
            imports[module] = False
    return {
        "version": list(sys.version_info[:2]),
        "executable": sys.executable,
        "imports": imports,
        "env": dict(os.environ),
        "pid": os.getpid(),
    }
