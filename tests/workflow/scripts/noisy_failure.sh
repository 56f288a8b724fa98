#!/usr/bin/env bash
# Prints $NOISY_LINES numbered lines, then an error, then exits with $EXIT_CODE (default 3).
for ((i = 1; i <= ${NOISY_LINES:-20}; i++)); do
    echo "working on step $i"
done
echo "error: the table 'accounts' is locked" >&2
exit "${EXIT_CODE:-3}"
