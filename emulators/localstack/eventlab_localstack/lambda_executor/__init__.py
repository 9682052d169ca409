"""Lambda on LocalStack without Docker: a runtime executor (:mod:`.executor`, loaded inside
LocalStack) that runs each Python handler on AWS's runtime client in a sandboxed host process,
through the shared :mod:`eventlab_lambda_runtime` (the Runtime API and the execution
environment, standard library only, used by eventlab's MiniStack backend too).
"""
