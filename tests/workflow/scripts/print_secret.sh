#!/usr/bin/env bash
# Prints its secret on purpose (the entrypoint must mask it), then fails.
echo "connecting with password $DB_PASSWORD"
echo "DB_PASSWORD=$DB_PASSWORD" >&2
exit 3
