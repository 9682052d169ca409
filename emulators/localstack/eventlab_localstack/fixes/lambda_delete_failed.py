"""DeleteFunction of a function in the Failed state.

The bug: LocalStack 2026.3.0 answers ``DeleteFunction`` with a 500 (InternalError) when the
function's version is in the ``Failed`` state (its code could not be prepared), and the
function stays: it can be neither used nor removed.

The cause: ``localstack/services/lambda_/invocation/lambda_service.py``,
``LambdaService.stop_version`` raises ``ValueError("Unable to find version manager ...")`` when
the version has no running or starting manager, which is exactly the case of a version whose
start failed (``update_version_state`` dropped its manager). ``DeleteFunction`` calls it for
every version before removing the function.

What AWS does (Lambda developer guide, "Lambda function states"): a function whose creation
failed is in the ``Failed`` state, and you delete it and create it again; ``DeleteFunction``
removes a function whatever its state.

The fix: ``stop_version`` of a version without a manager stops what there is (its event
manager) and runs LocalStack's delete hook, instead of raising.
"""

from __future__ import annotations

import logging
from typing import Any

LOG = logging.getLogger(__name__)


def apply() -> None:
    from localstack.services.lambda_ import hooks as lambda_hooks
    from localstack.services.lambda_.invocation.lambda_service import LambdaService
    from localstack.utils.patch import patch

    @patch(LambdaService.stop_version)
    def stop_version(fn: Any, self: LambdaService, qualified_arn: str) -> None:
        if qualified_arn in self.lambda_running_versions or qualified_arn in self.lambda_starting_versions:
            return fn(self, qualified_arn)
        LOG.debug("version %s has no version manager (its start failed): nothing to stop", qualified_arn)
        event_manager = self.event_managers.pop(qualified_arn, None)
        if event_manager is not None:
            self.task_executor.submit(event_manager.stop)
        lambda_hooks.delete_function_version.run(qualified_arn)
        return None
