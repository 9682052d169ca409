"""Lambda's Python runtime as AWS runs it, for both embedded emulators: the shared host side.

A handler runs in its own process on AWS's Runtime Interface Client (``awslambdaric``), which
talks to a Runtime API served here (:mod:`.api`), in an isolated interpreter whose ``sys.path``
is the task root, the layers and one runtime folder (awslambdaric, boto3, botocore), as on AWS.
:class:`.environment.ExecutionEnvironment` is one such process with its API and its logs; the
LocalStack executor (``eventlab_localstack.lambda_executor``) and eventlab's MiniStack patches
(``eventlab.runtime.ministack_lambda``) both run handlers through it.

Standard library only, Python 3.10 or newer, and free of eventlab and emulator imports: it is
loaded by LocalStack's environment (which has no eventlab) and by the workbook's.
"""

from __future__ import annotations

#: The setting (an environment variable of the emulator's process) that names, per declared
#: runtime, the interpreter and runtime folder to use, as JSON computed by eventlab:
#: ``{"python3.12": {"python": PATH, "runtime_dir": PATH, "note": TEXT | null}, ...}``.
RUNTIMES_SETTING = "EVENTLAB_LAMBDA_RUNTIMES"

#: AWS's limit on a synchronous response ("6 MB"; the Runtime API refuses one byte more).
RESPONSE_LIMIT_BYTES = 6_291_556
