"""Definite JSONPaths select one value, as on AWS.

Step Functions (Jayway JsonPath) returns a single value for a definite path, one made
only of field names and single indexes (``$.Containers[0].ExitCode``), and a list for an
indefinite one (wildcards, slices, filters, deep scan, unions). moto 5.2.5 wraps the value
in a list whenever a step before the last one is an index, so
``"exitCode.$": "$.Containers[0].ExitCode"`` gives ``[0]`` instead of ``0``.

Every moto module imported moto's ``extract_json`` by name, so the fix replaces the code of
that one function object (its globals stay moto's, plus the helper added below).
"""

from __future__ import annotations

from typing import Any

from jsonpath_ng.jsonpath import Child, Fields, Index, Root, This
from moto.stepfunctions.parser.asl.utils import json_path


def is_definite(node: Any) -> bool:
    if isinstance(node, Root | This):
        return True
    if isinstance(node, Child):
        return is_definite(node.left) and is_definite(node.right)
    if isinstance(node, Fields):
        return len(node.fields) == 1 and node.fields[0] != "*"
    if isinstance(node, Index):
        return len(node.indices) == 1
    return False


def _extract_json(path: str, data: Any) -> Any:
    # Runs with json_path's globals: only names from that module are visible here.
    expression = parse(path)  # noqa: F821
    matches = expression.find(data)
    if matches and _longjob_is_definite(expression):  # noqa: F821
        return matches[0].value
    return _longjob_original(path, data)  # noqa: F821


_MOTO_CODE = json_path.extract_json.__code__


def install() -> None:
    if getattr(json_path, "_longjob_original", None) is not None:
        return
    original = json_path.extract_json
    # A copy of the original keeps moto's rules for every indefinite or unmatched path.
    json_path._longjob_original = type(original)(
        original.__code__, original.__globals__, "extract_json_moto"
    )
    json_path._longjob_is_definite = is_definite
    original.__code__ = _extract_json.__code__


def uninstall() -> None:
    json_path.extract_json.__code__ = _MOTO_CODE
    json_path._longjob_original = None
