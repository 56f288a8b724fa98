#!/usr/bin/env bash
# Fails (exit 1) for the items whose number, modulo 100, is below $FAIL_PERCENT: that share
# of a 0..N-1 fan-out fails, the first ones first.
item="$1"
if (( item % 100 < ${FAIL_PERCENT:-0} )); then
  echo "item $item fails on purpose" >&2
  exit 1
fi
echo "item $item done"
