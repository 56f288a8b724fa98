"""The stack's IAM roles, each with every statement that grants or denies it something.

A role's identity policies on AWS are its inline ``Policies``, the ``AWS::IAM::Policy``
resources attached to it and its ``ManagedPolicyArns``. AWS's managed policies are read from
moto's copy of them (``moto/iam/aws_managed_policies.py``, imported from AWS); a managed
policy that is not there is an error, not an empty policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from longjob.errors import TemplateError
from longjob.stack.template import DeployedTemplate


@dataclass(frozen=True)
class Statement:
    """One statement, and where it comes from (for messages and the least-privilege report)."""

    policy: str  # the policy's name, or a managed policy's ARN
    index: int  # its position in that policy
    document: dict[str, Any]

    @property
    def label(self) -> str:
        sid = self.document.get("Sid")
        return f"{self.policy}[{self.index}]" + (f" ({sid})" if sid else "")

    @property
    def managed(self) -> bool:
        return self.policy.startswith("arn:aws:iam::aws:policy/")


@dataclass(frozen=True)
class Role:
    logical_id: str
    name: str
    arn: str
    statements: tuple[Statement, ...] = field(default_factory=tuple)

    @property
    def documents(self) -> list[dict[str, Any]]:
        return [statement.document for statement in self.statements]


@dataclass(frozen=True)
class StackPrincipals:
    """Which role makes which calls on AWS."""

    roles: dict[str, Role]  # by ARN
    state_machine: str | None  # role ARNs
    task: str | None
    task_execution: str | None
    functions: dict[str, str]  # function ARN -> role ARN


@cache
def _aws_managed() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)


def managed_policy(arn: str) -> dict[str, Any]:
    name = arn.rsplit("/", 1)[-1]
    policy = _aws_managed().get(name) if arn.startswith("arn:aws:iam::aws:policy/") else None
    if policy is None:
        raise TemplateError(f"managed policy {arn} is not an AWS managed policy longjob knows")
    return policy["Document"]


def _statements(policy: str, document: dict[str, Any]) -> list[Statement]:
    found = document["Statement"]
    found = found if isinstance(found, list) else [found]
    return [Statement(policy, index, statement) for index, statement in enumerate(found)]


def role_of(stack: DeployedTemplate, logical_id: str) -> Role:
    properties = stack.properties(logical_id)
    name = stack.ref(logical_id)
    statements: list[Statement] = []
    for policy in properties.get("Policies", []):
        statements += _statements(policy["PolicyName"], policy["PolicyDocument"])
    for policy_id, policy in stack.of_type("AWS::IAM::Policy").items():
        if name in policy["Properties"].get("Roles", []):
            statements += _statements(
                policy["Properties"].get("PolicyName", policy_id),
                policy["Properties"]["PolicyDocument"],
            )
    for arn in properties.get("ManagedPolicyArns", []):
        statements += _statements(arn, managed_policy(arn))
    return Role(logical_id, name, stack.get_att(logical_id, "Arn"), tuple(statements))


def principals_of(stack: DeployedTemplate) -> StackPrincipals:
    roles = {}
    for logical_id in stack.of_type("AWS::IAM::Role"):
        role = role_of(stack, logical_id)
        roles[role.arn] = role
    machines = list(stack.of_type("AWS::StepFunctions::StateMachine").values())
    tasks = list(stack.of_type("AWS::ECS::TaskDefinition").values())
    functions = {
        stack.get_att(logical_id, "Arn"): str(function["Properties"]["Role"])
        for logical_id, function in stack.of_type("AWS::Lambda::Function").items()
    }
    task = tasks[0]["Properties"] if len(tasks) == 1 else {}
    return StackPrincipals(
        roles=roles,
        state_machine=str(machines[0]["Properties"]["RoleArn"]) if len(machines) == 1 else None,
        task=task.get("TaskRoleArn"),
        task_execution=task.get("ExecutionRoleArn"),
        functions=functions,
    )
