"""Each definition is parsed with its own query-language scopes.

moto 5.2.5's ``Preprocessor`` keeps its stack of QueryLanguage scopes in a class attribute,
shared by every parse in the process. Two executions that start at once (their workers parse
the definition on their own threads), one of a JSONPath machine and one of a JSONata machine,
read each other's scope: "Unsupported declaration in QueryLanguage=JSONPath block" for a
valid definition. On AWS executions are independent; here each Preprocessor gets a list of
its own.
"""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

_original_init = Preprocessor.__init__


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    self._query_language_per_scope = []


def install() -> None:
    Preprocessor.__init__ = _init  # type: ignore[method-assign]


def uninstall() -> None:
    Preprocessor.__init__ = _original_init  # type: ignore[method-assign]
