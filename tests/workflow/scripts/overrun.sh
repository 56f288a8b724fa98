#!/usr/bin/env bash
# Overruns its attempt and ignores SIGTERM. Appends "start <attempt> <ns> <pid>" to $SPANS,
# noting "overlap" if the previous attempt's process still lives.
previous=$(tail -n 1 "$SPANS" 2>/dev/null | cut -d' ' -f4)
if [ -n "$previous" ] && kill -0 "$previous" 2>/dev/null; then
    echo "overlap ${LONGJOB_ATTEMPT} $(date +%s%N) $$" >>"$SPANS"
fi
echo "start ${LONGJOB_ATTEMPT} $(date +%s%N) $$" >>"$SPANS"
trap 'echo "term ${LONGJOB_ATTEMPT} $(date +%s%N) $$" >>"$SPANS"' TERM
while :; do sleep 0.1; done
