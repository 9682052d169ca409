"""``python -m eventlab.runtime.ministack_launcher``: MiniStack as eventlab runs it.

The process manager starts this module (never ``ministack`` itself) with the settings of
:class:`~eventlab.runtime.ministack.MiniStackBackend`. Before MiniStack serves, the launcher does
what an environment cannot:

- it removes settings a user's shell may carry that would change what MiniStack does (an SMTP
  relay, AWS_ENDPOINT_URL handed to every Lambda handler, HTTPS on port 443, persistence);
- it applies eventlab's patches to MiniStack (:mod:`eventlab.runtime.ministack_patches`, each
  documented there) and the Lambda ones (:func:`eventlab.runtime.ministack_lambda.install`);
- it serves MiniStack's own ``main()``, in the foreground, on ``BIND_HOST:GATEWAY_PORT``.
"""

from __future__ import annotations

import os
import sys

# Settings the launcher removes from its environment (MiniStack reads each at import or start).
UNSET = (
    "SMTP_HOST",  # SES would relay every mail over SMTP
    "AWS_ENDPOINT_URL",  # handed on to every Lambda handler's environment
    "AUTH",
    "USE_SSL",  # adds a listener on port 443
    "LOCALSTACK_HOSTNAME",
    "LOCALSTACK_PERSISTENCE",  # turns S3_PERSIST on
    "SERVICES",
    "LAMBDA_STRICT",  # forces Docker for every function
    "MINISTACK_SSL_CERT",
    "MINISTACK_SSL_KEY",
)


def clean_environment(environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    """Remove :data:`UNSET` and every ``AWS_ENDPOINT_URL_*`` from ``environ``."""
    for name in list(environ):
        if name in UNSET or name.startswith("AWS_ENDPOINT_URL_"):
            del environ[name]


def main() -> None:
    """Clean the environment, patch MiniStack, and serve it until SIGTERM."""
    clean_environment()
    from eventlab.runtime import ministack_lambda, ministack_patches

    ministack_patches.install()
    ministack_lambda.install()
    from ministack import app

    sys.argv = [sys.argv[0]]  # MiniStack parses its own flags (--detach, --stop): none here
    app.main()


if __name__ == "__main__":
    main()
