#!/usr/bin/env bash
# Writes its pid to $PIDFILE (default /dev/null) and sleeps $SLEEP seconds (default 60),
# saying so; with IGNORE_TERM=1 it ignores SIGTERM.
[ "${IGNORE_TERM:-0}" = 1 ] && trap 'echo "ignoring TERM"' TERM
echo $$ >"${PIDFILE:-/dev/null}"
echo "sleeping ${SLEEP:-60}s"
end=$((SECONDS + ${SLEEP:-60}))
while [ "$SECONDS" -lt "$end" ]; do sleep 0.05; done
