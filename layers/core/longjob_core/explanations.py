"""Why a task failed, in plain words, with what to do about it.

ECS says "Essential container in task exited" for every task whose script failed; the
useful facts are elsewhere: the stop code, the container's own reason, the exit code, the
Step Functions error. `explain` reads a failure record of the summary (see "Task failed"
in statemachine/job.asl.json: status, exitCode, stopCode, reason) and says what happened
and what to try. The wordings ECS uses are recorded, with their sources, in
docs/aws-facts.md ("Why a task stopped").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from longjob_core.contract import DEADLINE_EXIT_CODE, DEADLINE_REASON, TIMED_OUT

# ECS stop codes (API_Task.html: stopCode).
TASK_FAILED_TO_START = "TaskFailedToStart"
ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
USER_INITIATED = "UserInitiated"
SPOT_INTERRUPTION = "SpotInterruption"
TERMINATION_NOTICE = "TerminationNotice"

# What the workflow retries in place before it gives up on starting a task (capacity,
# throttling, placement failures: "Run task" in the ASL).
RETRIED_ECS_ERRORS = ("ECS.AmazonECSException", "AmazonECS.Unknown")

# The entrypoint's own exit codes (container/entrypoint.sh).
EXIT_SECRET_UNRESOLVED = 125
EXIT_REFUSED = 126
EXIT_NOT_FOUND = 127
EXIT_SIGKILL = 137
EXIT_SIGTERM = 143
# The longest explanation and hint (a test holds every branch to them; the quota guard
# counts them in the notification).
EXPLANATION_CHARS = 120
HINT_CHARS = 200


@dataclass(frozen=True)
class Explanation:
    reason: str  # what happened, in plain words
    hint: str | None = None  # what to try


def _has(text: str, *needles: str) -> bool:
    lowered = text.lower()
    return any(n.lower() in lowered for n in needles)


def _exit(code: Any) -> str:
    return "" if code is None else f" (exit code {code})"


def _cannot_pull(reason: str) -> Explanation:
    if _has(reason, " 403 ", "403 Forbidden", "AccessDenied", "not authorized"):
        hint = (
            "the task execution role may not pull from the repository "
            "(ecr:BatchGetImage, ecr:GetDownloadUrlForLayer)"
        )
    elif _has(reason, "not found", "manifest unknown", "404 Not Found"):
        hint = (
            "the image tag does not exist in the repository: push it, or deploy the tag "
            "that exists (ImageTag)"
        )
    else:
        hint = "check the image URI and that the subnets reach ECR (a NAT gateway or VPC endpoints)"
    return Explanation("the image could not be pulled", hint)


def _cannot_initialise(reason: str) -> Explanation:
    if _has(reason, "logger", "log stream", "cloudwatch"):
        return Explanation(
            "the task could not write its logs",
            "check the execution role (logs:CreateLogStream, logs:PutLogEvents on the task "
            "log group) and that the subnets reach CloudWatch Logs",
        )
    if _has(reason, "secrets or registry auth", "registry auth"):
        return Explanation(
            "the task could not get its registry credentials",
            "check the execution role (ecr:GetAuthorizationToken) and that the subnets reach ECR",
        )
    return Explanation(
        "the task's resources could not be prepared",
        "check the subnets (a route to ECR and CloudWatch Logs) and the execution role",
    )


def explain(failure: dict[str, Any]) -> Explanation:
    """The plain reason and hint for one failure record of a summary."""
    reason = str(failure.get("reason") or failure.get("error") or "")
    code = failure.get("exitCode")
    stop_code = failure.get("stopCode")
    if failure.get("status") == TIMED_OUT and (
        code == DEADLINE_EXIT_CODE or reason == DEADLINE_REASON
    ):
        return Explanation(
            "the script was stopped at its deadline (SIGTERM, then SIGKILL after the grace)",
            "raise the stage's timeoutSeconds, or make the script do less per run",
        )
    if reason.startswith("States.Timeout"):
        return Explanation(
            "the attempt ran past its timeout and Step Functions stopped it",
            "raise the stage's timeoutSeconds, or make the script do less per run",
        )
    if stop_code in (SPOT_INTERRUPTION, TERMINATION_NOTICE) or _has(
        reason, "Spot Task was interrupted"
    ):
        return Explanation(
            "Fargate Spot took its capacity back (a Spot interruption)",
            'give the stage "capacity": "spot-then-on-demand" (an interrupted attempt runs '
            'again on demand at once, without using a retry), or "on-demand"',
        )
    if _has(reason, "CannotPullContainerError"):
        return _cannot_pull(reason)
    if _has(reason, "ResourceInitializationError"):
        return _cannot_initialise(reason)
    if _has(reason, "OutOfMemoryError"):
        return Explanation(
            "the script was killed for memory" + _exit(code),
            "raise the stage's memory (with a cpu that allows it)",
        )
    if stop_code == TASK_FAILED_TO_START or _has(reason, "CannotStartContainerError"):
        return Explanation("the task failed to start", "see ECS's reason below")
    if _has(reason, "AccessDenied", "not authorized to perform"):
        return Explanation(
            "AWS refused a call the workflow made",
            "the message names the role and the action; `longjob run --iam-report` shows "
            "what each role used",
        )
    if reason.startswith(RETRIED_ECS_ERRORS):
        return Explanation(
            "ECS did not start the task (capacity or throttling), even after the retries in place",
            'run the job again later, or give the stage "capacity": "on-demand" (or '
            '"spot-then-on-demand")',
        )
    if reason.startswith(("ECS.", "AmazonECS.")):
        return Explanation(
            "ECS refused to run the task",
            "the reason names the parameter: check the subnets, the security group and the "
            "task definition the stack was deployed with",
        )
    if stop_code == USER_INITIATED:
        return Explanation(
            "the task was stopped before its script ended" + _exit(code),
            "someone (or something) called ecs:StopTask; CloudTrail names the caller",
        )
    if code == EXIT_SECRET_UNRESOLVED:
        return Explanation(
            "a secret reference could not be resolved, so the script never started",
            "the log names the variable and the reference: check that the parameter or "
            "secret exists and that the task role may read it",
        )
    if code == EXIT_REFUSED:
        return Explanation(
            "the entrypoint refused the command, so nothing ran",
            "check the stage's run: an allowed interpreter and a script path inside scripts/",
        )
    if code == EXIT_NOT_FOUND:
        return Explanation(
            "the script or its interpreter is not in the image",
            "check the script name in the stage's run, and that the deployed image has it",
        )
    if code == EXIT_SIGKILL:
        return Explanation(
            "the script was killed (SIGKILL, exit code 137)",
            "it did not stop within the stop timeout after SIGTERM, or it ran out of memory",
        )
    if code == EXIT_SIGTERM:
        return Explanation("the script ended on SIGTERM (exit code 143)")
    if isinstance(code, int):
        return Explanation(f"the script exited with code {code}", "its last log lines say why")
    return Explanation("the task failed", "see the reason below" if reason else None)
