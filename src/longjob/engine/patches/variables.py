"""A state's ``Assign`` takes effect when the state ends, as on AWS.

AWS evaluates a state's ``Assign`` and its ``Output`` (or ``ResultSelector``, ``ResultPath``,
``OutputPath``) on the same inputs: a variable a state assigns is visible to the states
after it, not to the state's own fields, so a state that assigns ``$x`` and outputs ``$x``
outputs the value from before its assignment (docs/aws-facts.md). moto 5.2.5 writes each
assignment into the variable store at once, so later fields of the same state see it.

Here an assignment is staged and committed when the state has ended: a state that fails
commits nothing, a retried state stages again, and a ``Catch`` clause stages its own
``Assign`` in place of the failed state's. The state's exited event still lists what it
assigned.
"""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.asl.component.common.catch.catcher_decl import CatcherDecl
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField as State
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.variable_store import (
    IllegalOuterScopeWrite,
    VariableStore,
)
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

_original_set = VariableStore.set
_original_assigned = VariableStore.get_assigned_variables
_original_state_body = State._eval_body
_original_catcher_body = CatcherDecl._eval_body


def _staged(store: VariableStore) -> dict[str, Any]:
    staged = store.__dict__.get("_longjob_staged")
    if staged is None:
        staged = store.__dict__["_longjob_staged"] = {}
    return staged


def _set(store: VariableStore, variable_identifier: str, variable_value: Any) -> None:
    if variable_identifier in store._outer_scope:
        raise IllegalOuterScopeWrite(
            variable_identifier=variable_identifier, variable_value=variable_value
        )
    store._declaration_tracing.add(variable_identifier)
    _staged(store)[variable_identifier] = variable_value


def _get_assigned_variables(store: VariableStore) -> dict[str, str]:
    # Called for the state's exited event, before the commit: it lists what the state
    # assigned, each value as JSON text.
    staged = _staged(store)
    return {
        identifier: to_json_str(
            staged[identifier] if identifier in staged else store.get(identifier),
            separators=(",", ":"),
        )
        for identifier in store._declaration_tracing
    }


def commit(store: VariableStore) -> None:
    staged = _staged(store)
    for identifier, value in staged.items():
        _original_set(store, identifier, value)
    staged.clear()


def discard(store: VariableStore) -> None:
    _staged(store).clear()


def _state_body(self: State, env: Environment) -> None:
    discard(env.variable_store)
    try:
        _original_state_body(self, env)
    except BaseException:
        discard(env.variable_store)
        raise
    commit(env.variable_store)


def _catcher_body(self: CatcherDecl, env: Environment) -> None:
    # The state failed: what it staged before failing is not assigned; the matching
    # clause's own Assign (evaluated on the error output) is.
    discard(env.variable_store)
    _original_catcher_body(self, env)


def install() -> None:
    VariableStore.set = _set
    VariableStore.get_assigned_variables = _get_assigned_variables
    State._eval_body = _state_body
    CatcherDecl._eval_body = _catcher_body


def uninstall() -> None:
    VariableStore.set = _original_set
    VariableStore.get_assigned_variables = _original_assigned
    State._eval_body = _original_state_body
    CatcherDecl._eval_body = _original_catcher_body
