#!/usr/bin/env bash
# Appends its stage and item to $LEDGER, proving the task ran.
echo "${LONGJOB_STAGE}:${LONGJOB_ITEM:-}" >>"$LEDGER"
exit "${EXIT_CODE:-0}"
