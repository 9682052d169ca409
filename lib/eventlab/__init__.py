"""eventlab: build, teach and measure event-driven architecture on AWS, on an embedded LocalStack.

The pieces most notebooks need are importable from here; everything else lives in its own
module (``eventlab.services.sqs``, ``eventlab.runtime``, ``eventlab.workbook``, ...).
"""

from eventlab import services  # declares every resource kind, for Run.leaks()
from eventlab.run import Run
from eventlab.runtime import EmbeddedLocalStack, localstack_version
from eventlab.target import Target
from eventlab.workbook import Checks, record

__all__ = ["Checks", "EmbeddedLocalStack", "Run", "Target", "localstack_version", "record", "services"]
__version__ = "0.1.0"
