"""eventlab: build, teach and measure event-driven architecture on AWS, on an embedded LocalStack.

The pieces most notebooks need are importable from here; everything else lives in its own
module (``eventlab.services.sqs``, ``eventlab.runtime``, ``eventlab.workbook``, ...).
"""

from eventlab import services  # declares every resource kind, for Run.leaks()
from eventlab.run import Run
from eventlab.runtime import EmbeddedLocalStack, localstack_version
from eventlab.target import Target

__all__ = ["Checks", "EmbeddedLocalStack", "Run", "Target", "localstack_version", "record", "services"]
__version__ = "0.1.0"

# Imported when first asked for: eventlab.workbook brings pandas and matplotlib (~75 MB), which
# the processes that import eventlab but draw nothing (the eventbridgev2 server beside every
# emulator) would otherwise carry for their whole life.
_LAZY = {"Checks": "eventlab.workbook", "record": "eventlab.workbook"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eventlab' has no attribute {name!r}")
