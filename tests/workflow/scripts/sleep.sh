#!/usr/bin/env bash
# Writes its pid to $PIDFILE and sleeps; with IGNORE_TERM=1 it ignores SIGTERM.
[ "${IGNORE_TERM:-0}" = 1 ] && trap 'echo "ignoring TERM"' TERM
echo $$ >"$PIDFILE"
end=$((SECONDS + ${SLEEP:-60}))
while [ "$SECONDS" -lt "$end" ]; do sleep 0.05; done
