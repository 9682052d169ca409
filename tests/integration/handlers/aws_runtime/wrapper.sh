#!/bin/sh
# AWS_LAMBDA_EXEC_WRAPPER: runs in front of the runtime with its command line as arguments.
export WRAPPED_BY=wrapper.sh
exec "$@"
