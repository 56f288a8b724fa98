"""An execution's output is any JSON value, returned JSON-encoded, as on AWS.

DescribeExecution's ``output`` is "the JSON output data of the execution": a JSON text, so
an execution that ends with the string ``HelloWorld`` answers ``"\\"HelloWorld\\""``
(docs/aws-facts.md). moto 5.2.5 keeps the final value as it is and its response passes a
Python ``str`` through unencoded, so a string output arrives as ``HelloWorld``, which is
not JSON, and every client that decodes it fails. Storing the encoded text when the
execution ends makes every output (string, number, boolean, null, array, object) answer as
AWS does.
"""

from __future__ import annotations

from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

_original_reflect = BaseExecutionWorkerCommunication._reflect_execution_status


def _reflect_execution_status(self: BaseExecutionWorkerCommunication) -> None:
    _original_reflect(self)
    execution = self.execution
    if execution.exec_status == "SUCCEEDED":
        execution.output = to_json_str(execution.output, separators=(",", ":"))


def install() -> None:
    BaseExecutionWorkerCommunication._reflect_execution_status = _reflect_execution_status


def uninstall() -> None:
    BaseExecutionWorkerCommunication._reflect_execution_status = _original_reflect
