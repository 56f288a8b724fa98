#!/usr/bin/env bash
# Fails (exit 1) for the items whose number, modulo 100, is below $FAIL_PERCENT: that share
# of a 0..N-1 fan-out fails, the first ones first. The others take $SLEEP_OTHERS seconds.
item="$1"
if (( item % 100 < ${FAIL_PERCENT:-0} )); then
  echo "item $item fails on purpose" >&2
  exit 1
fi
end=$((SECONDS + ${SLEEP_OTHERS:-0}))
while [ "$SECONDS" -lt "$end" ]; do sleep 0.05; done
echo "item $item done"
