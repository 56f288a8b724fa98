#!/bin/bash
# Writes a file at $1 and says where and with what mode its folder is.
set -e
echo probe > "$1"
echo "wrote $1 in $(dirname "$1") mode $(stat -c %a "$(dirname "$1")")"
