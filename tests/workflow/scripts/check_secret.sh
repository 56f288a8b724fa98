#!/usr/bin/env bash
# Says whether DB_PASSWORD hashes to $EXPECTED_SHA256, without ever printing it.
actual=$(printf '%s' "${DB_PASSWORD:-}" | sha256sum | cut -d' ' -f1)
if [ "$actual" = "$EXPECTED_SHA256" ]; then echo "secret: match"; else echo "secret: MISMATCH"; exit 1; fi
