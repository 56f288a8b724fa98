#!/usr/bin/env bash
# Appends the task's item (LONGJOB_ITEM) to the file $OUT, one line per task.
printf '%s\n' "$LONGJOB_ITEM" >> "$OUT"
