"""JSONata for moto's engine: the pure-Python ``jsonata-python`` package, with AWS's rules.

moto 5.2.5 evaluates every JSONata expression, and every workflow variable reference
(``Assign``, ``$name``) even in JSONPath machines, through one module-level function that
LocalStack backs with a JVM and moto leaves as ``None``. This module fills it, and makes
the evaluation answer as Step Functions does (docs/aws-facts.md):

- an expression that returns nothing (undefined), returns a value JSON cannot hold (a
  function), or throws (``T1006``, ``T0412``...) raises ``QueryFailure``, which
  ``query_errors`` turns into ``States.QueryEvaluationError`` naming the field;
- ``$eval`` is not available (AWS: "use $parse instead"), so calling it is JSONata's own
  ``T1006``, as is calling a function that does not exist;
- the functions Step Functions adds (``$partition``, ``$range``, ``$hash``, ``$random``
  with a seed, ``$uuid``, ``$parse``) are real functions, in place of moto's JSONata
  declarations that answer "not supported" and add a ``$randomSeeded`` AWS does not have.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
import uuid
from collections.abc import Callable
from typing import Any

import jsonata as jsonata_python
from jsonata.jexception import JException
from jsonata.utils import Utils
from moto.stepfunctions.parser.asl.component.intrinsic import jsonata as moto_functions
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata


class QueryFailure(Exception):
    """An expression whose evaluation fails the state; ``reason`` follows the expression
    and its field in AWS's cause, as in "returned nothing (undefined)."."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _whole(number: Any) -> int | None:
    # AWS rounds a non-integer argument towards zero.
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        return None
    return int(number)


def partition(array: Any, size: Any) -> Any:
    chunk = _whole(size)
    if not isinstance(array, list) or not array or not chunk or chunk < 0:
        return None  # undefined
    return [list(array[i : i + chunk]) for i in range(0, len(array), chunk)]


def range_(start: Any, end: Any, step: Any = None) -> Any:
    first, last, by = _whole(start), _whole(end), _whole(step)
    if first is None or last is None or not by or (last - first) * by < 0:
        return None  # undefined
    values = list(range(first, last + (1 if by > 0 else -1), by))
    # A one-element result is the bare number, as JSONata sequences are.
    return values[0] if len(values) == 1 else values


def hash_(text: Any, algorithm: Any = None) -> Any:
    name = HASH_ALGORITHMS.get(algorithm) if isinstance(algorithm, str) else None
    if not isinstance(text, str) or name is None:
        return None  # undefined
    return hashlib.new(name, text.encode()).hexdigest()


def random_(seed: Any = None) -> float:
    whole = _whole(seed)
    # A JSONata value, not a secret: the standard generator, seeded as asked.
    return random.random() if whole is None else random.Random(whole).random()  # noqa: S311


def uuid_() -> str:
    return str(uuid.uuid4())


def parse(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise QueryFailure(f"threw an error during evaluation: {error}") from None


AWS_FUNCTIONS = {
    "partition": partition,
    "range": range_,
    "hash": hash_,
    "random": random_,
    "uuid": uuid_,
    "parse": parse,
}


def _plain(value: Any) -> Any:
    """The value as plain JSON (JSONata's null marker as None), or QueryFailure when it holds
    something JSON cannot (a function)."""
    if isinstance(value, Utils.NullValue) or value is None:
        return None
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    raise QueryFailure("returned an unsupported result type.")


def _compile(expression: str) -> Any:
    compiled = jsonata_python.Jsonata(expression)
    compiled.set_output_convert_nulls(False)  # null and undefined stay apart
    for name, function in AWS_FUNCTIONS.items():
        compiled.register_lambda(name, function)
    compiled.register_function("eval", None)
    return compiled


# Compiled expressions by text, each with a lock: a jsonata-python expression keeps the
# evaluation's clock ($now, $millis) on itself, so one evaluates at a time (the GIL runs
# them one at a time anyway). A definition has a bounded number of expressions.
_compiled: dict[str, tuple[Any, threading.Lock]] = {}
_compiled_lock = threading.Lock()


def _compiled_once(expression: str) -> tuple[Any, threading.Lock]:
    entry = _compiled.get(expression)
    if entry is None:
        with _compiled_lock:
            entry = _compiled.setdefault(expression, (_compile(expression), threading.Lock()))
    return entry


def _answer(evaluation: Callable[[], Any]) -> Any:
    """An evaluation's result as AWS gives it: JSONata's errors and an undefined result
    as QueryFailure, the value as plain JSON."""
    try:
        result = evaluation()
    except JException as error:
        raise QueryFailure(
            f"threw an error during evaluation. {error.get_error()}: {error}"
        ) from None
    if result is None:
        raise QueryFailure("returned nothing (undefined).")
    return _plain(result)


def evaluate_with(expression: str, bindings: dict[str, Any]) -> Any:
    """Evaluates a state's expression with its variables and ``$states`` bound as values
    (moto writes them into the expression's text, which is then parsed again each time:
    the cost of every JSONata field grew with the size of the state's input)."""
    # A variable that holds JSON null is null, not undefined (inside a value, None is read
    # as null already).
    values = {k: Utils.NULL_VALUE if v is None else v for k, v in bindings.items()}

    def evaluation() -> Any:
        compiled, lock = _compiled_once(expression)
        with lock:
            # jsonata-python's $millis() and $now() read the clock of the expression last
            # *compiled* in this thread, not of the one evaluating: point it at this one.
            jsonata_python.Jsonata.CURRENT.jsonata = compiled
            return compiled.evaluate(None, values)

    return _answer(evaluation)


def evaluate(expression: str) -> Any:
    """moto's hook: an expression with its variables written into its text."""
    return _answer(lambda: _compile(expression).evaluate(None))


_MOTO_EVALUATOR = moto_jsonata._eval_jsonata
_MOTO_DECLARATIONS = dict(moto_functions._DECLARATION_BY_VARIABLE_REFERENCE)


def install() -> None:
    moto_jsonata._eval_jsonata = evaluate
    moto_functions._DECLARATION_BY_VARIABLE_REFERENCE.clear()


def uninstall() -> None:
    moto_jsonata._eval_jsonata = _MOTO_EVALUATOR
    moto_functions._DECLARATION_BY_VARIABLE_REFERENCE.update(_MOTO_DECLARATIONS)
