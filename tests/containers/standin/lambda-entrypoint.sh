#!/bin/sh
# Stand-in for the Lambda base image's /lambda-entrypoint.sh: awslambdaric runs the handler named in CMD.
# The real one starts the Runtime Interface Emulator when AWS_LAMBDA_RUNTIME_API is unset; this stand-in has
# none: the tests serve the Runtime API themselves.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" >&2
  exit 142
fi
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  echo "AWS_LAMBDA_RUNTIME_API is not set (this stand-in has no Runtime Interface Emulator)" >&2
  exit 142
fi
export _HANDLER="$1"
PYTHONPATH="${LAMBDA_RUNTIME_DIR}" exec python -m awslambdaric "$1"
