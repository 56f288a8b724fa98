#!/usr/bin/env bash
# Prints its arguments, then exits with the code in $EXIT_CODE (default 0).
echo "args: $*"
exit "${EXIT_CODE:-0}"
