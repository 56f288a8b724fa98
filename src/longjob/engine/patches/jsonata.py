"""Fills moto's empty JSONata hook with the pure-Python ``jsonata-python`` package.

moto 5.2.5 evaluates every JSONata expression, and every workflow variable reference
(``Assign``, ``$name``) even in JSONPath machines, through one module-level function that
LocalStack backs with a JVM and moto leaves as ``None``.
"""

from __future__ import annotations

import json
from typing import Any

import jsonata as jsonata_python
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata


def evaluate(expression: str) -> Any:
    result = jsonata_python.Jsonata(expression).evaluate(None)
    # Round-trip through JSON, as the JVM bridge does, so results are plain JSON values.
    return None if result is None else json.loads(json.dumps(result))


_MOTO_EVALUATOR = moto_jsonata._eval_jsonata


def install() -> None:
    moto_jsonata._eval_jsonata = evaluate


def uninstall() -> None:
    moto_jsonata._eval_jsonata = _MOTO_EVALUATOR
