#!/usr/bin/env bash
# Records when it ran: "$START $END" (nanoseconds) in $SPANDIR/$LONGJOB_ITEM.
start=$(date +%s%N)
sleep "${SLEEP:-0.5}"
echo "$start $(date +%s%N)" >"$SPANDIR/$LONGJOB_ITEM"
