"""IAM in local runs: each AWS call is checked against the role that would make it on AWS.

Who calls is known as on AWS, by the credentials of the call (the access key the tasks'
scripts sign with is the task role's; the key moto's Step Functions engine signs with is the
state machine role's), except for Lambda handlers, which run in this process: the function's
role is set for the thread that runs the handler (``acting_as``). A call from anyone else
(the CLI itself, as the person who runs it) is not checked, as the stack's policies do not
apply to it.

Only identity policies are evaluated (the role's inline, attached and AWS managed policies),
with AWS's logic (``longjob.stack.iam_policy``); resource policies (bucket, key and topic
policies), permission boundaries and SCPs are not (docs/aws-facts.md).
"""

from __future__ import annotations

import contextlib
import fnmatch
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from longjob.stack.iam_policy import Request, UnsupportedPolicy, decide, statement_applies
from longjob.stack.roles import Role


@dataclass(frozen=True)
class Principal:
    role: Role
    session: str  # the role session name AWS would use (task id, function name...)

    @property
    def arn(self) -> str:
        """As AWS writes the caller in an AccessDenied message."""
        account = self.role.arn.split(":")[4]
        return f"arn:aws:sts::{account}:assumed-role/{self.role.name}/{self.session}"


class AccessDenied(Exception):
    """A call AWS would refuse; ``message`` is AWS's sentence."""

    def __init__(self, principal: Principal, request: Request, explicit: bool) -> None:
        self.principal = principal
        self.request = request
        self.explicit = explicit
        on = "" if request.resource == "*" else f" on resource: {request.resource}"
        why = (
            "with an explicit deny in an identity-based policy"
            if explicit
            else f"because no identity-based policy allows the {request.action} action"
        )
        self.message = (
            f"User: {principal.arn} is not authorized to perform: {request.action}{on} {why}"
        )
        super().__init__(self.message)


@dataclass
class Use:
    """What one role did during the run: the requests allowed, and by which statements."""

    allowed: set[tuple[str, str]] = field(default_factory=set)  # (action, resource)
    denied: list[str] = field(default_factory=list)  # AccessDenied messages
    statements: set[int] = field(default_factory=set)  # indexes into role.statements


# Calls AWS makes for a role that no local run makes: why a statement granting only these
# shows as unused in the report.
NOT_EXERCISED = (
    ("xray:*", "X-Ray tracing is not emulated"),
    ("logs:*LogDeliver*", "log delivery is set up at deploy time"),
    ("logs:*ResourcePolic*", "log delivery is set up at deploy time"),
    ("logs:DescribeLogGroups", "log delivery is set up at deploy time"),
    ("logs:CreateLogGroup", "a Lambda function's own logs are not emulated"),
    ("logs:CreateLogStream", "a Lambda function's own logs are not emulated"),
    ("logs:PutLogEvents", "a Lambda function's own logs are not emulated"),
    ("ecs:TagResource", "checked only when a RunTask applies tags"),
    ("states:StartExecution", "the schedule starts runs on AWS; a local run is started by you"),
)


def not_exercised(document: dict[str, object]) -> str | None:
    """Why no local run can use this statement, if that is why it is unused."""
    actions = document.get("Action", [])
    actions = actions if isinstance(actions, list) else [actions]
    reasons = set()
    for action in actions:
        reason = next(
            (why for pattern, why in NOT_EXERCISED if fnmatch.fnmatch(str(action), pattern)),
            None,
        )
        if reason is None:
            return None
        reasons.add(reason)
    return "; ".join(sorted(reasons)) or None


class Authorizer:
    """The principals of the run, and the record of what each did."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._by_key: dict[str, Principal] = {}
        self._acting = threading.local()
        self._lock = threading.Lock()
        self.roles: dict[str, Role] = {}
        self.use: dict[str, Use] = defaultdict(Use)  # by role ARN
        # The roles a RunTask passes to ECS (the task definition's task and execution roles).
        self.passed_to_ecs: list[str] = []

    def register(self, access_key: str, principal: Principal) -> None:
        """Calls signed with ``access_key`` are this principal's."""
        self._by_key[access_key] = principal
        self.roles[principal.role.arn] = principal.role

    def add_role(self, role: Role) -> None:
        self.roles[role.arn] = role

    @contextlib.contextmanager
    def acting_as(self, principal: Principal | None) -> Iterator[None]:
        """Calls made by this thread meanwhile are ``principal``'s (a Lambda handler's)."""
        previous = getattr(self._acting, "principal", None)
        self._acting.principal = principal
        try:
            yield
        finally:
            self._acting.principal = previous

    def principal(self, access_key: str | None) -> Principal | None:
        acting = getattr(self._acting, "principal", None)
        if acting is not None:
            return acting
        return self._by_key.get(access_key) if access_key else None

    def check(self, principal: Principal | None, requests: Iterable[Request]) -> None:
        """Raises AccessDenied for the first request AWS would refuse."""
        if principal is None or not self.enabled:
            return
        role = principal.role
        documents = role.documents
        for request in requests:
            try:
                decision = decide(documents, request)
            except UnsupportedPolicy as error:
                raise UnsupportedPolicy(f"{role.name}: {error}") from None
            with self._lock:
                use = self.use[role.arn]
                if decision != "Allow":
                    denial = AccessDenied(principal, request, decision == "ExplicitDeny")
                    use.denied.append(denial.message)
                    raise denial
                use.allowed.add((request.action, request.resource))
                use.statements.update(
                    index
                    for index, document in enumerate(documents)
                    if document.get("Effect") == "Allow" and statement_applies(document, request)
                )

    def report(self) -> list[dict[str, object]]:
        """Per role: the permissions the run used and the statements it never needed."""
        rows = []
        for arn, role in sorted(self.roles.items(), key=lambda item: item[1].name):
            use = self.use.get(arn, Use())
            rows.append(
                {
                    "role": role.name,
                    "used": [
                        {"action": action, "resource": resource}
                        for action, resource in sorted(use.allowed)
                    ],
                    "usedStatements": [role.statements[i].label for i in sorted(use.statements)],
                    "unusedStatements": [
                        statement.label
                        for i, statement in enumerate(role.statements)
                        if i not in use.statements
                    ],
                    "notes": {
                        statement.label: note
                        for i, statement in enumerate(role.statements)
                        if i not in use.statements
                        and (note := not_exercised(statement.document)) is not None
                    },
                    "denied": list(use.denied),
                }
            )
        return rows
