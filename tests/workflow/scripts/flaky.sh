#!/usr/bin/env bash
# Fails until it has been run $PASS_ON times (a counter in the file $COUNTER).
count=$(($(cat "$COUNTER" 2>/dev/null || echo 0) + 1))
echo "$count" >"$COUNTER"
echo "attempt $count (LONGJOB_ATTEMPT=${LONGJOB_ATTEMPT:-})"
[ "$count" -ge "$PASS_ON" ] || exit 3
