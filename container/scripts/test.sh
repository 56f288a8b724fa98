#!/usr/bin/env bash
# The original toolbox example: greets and counts its parameters.
echo "Hello World From a Container"
echo "$# parameters passed"
