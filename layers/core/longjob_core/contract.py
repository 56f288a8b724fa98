"""The job's contract: what the workflow, the entrypoint, the Lambdas and the CLI agree on.

One home for each name: the variables every task gets, the log stream prefix, how a task
is labelled, the statuses of a run and of a stage, the exit codes of the commands that run
or follow a job, and the attempt's deadline. The ASL and container/entrypoint.sh cannot
import this module: tests check that they use the same names and numbers
(tests/unit/test_contract.py).
"""

from __future__ import annotations

# --- what every task gets -----------------------------------------------------------------
JOB_ENV = "LONGJOB_JOB"
STAGE_ENV = "LONGJOB_STAGE"
EXECUTION_ENV = "LONGJOB_EXECUTION"
ITEM_ENV = "LONGJOB_ITEM"
ATTEMPT_ENV = "LONGJOB_ATTEMPT"
# The attempt's deadline, in epoch seconds, and the grace between SIGTERM and SIGKILL.
DEADLINE_ENV = "LONGJOB_DEADLINE"
GRACE_ENV = "LONGJOB_STOP_GRACE"
ITEM_PLACEHOLDER = "{item}"
# Where the task may keep its progress: an S3 URI stable for the same run, stage and item
# across attempts and redrives (runs/<run>/checkpoints/<stage>/<task or item-N>).
CHECKPOINT_ENV = "LONGJOB_CHECKPOINT"
# The folders start with "_", which no stage name can: a wide stage's objects are under
# runs/<execution>/<stage>/, and the task role may write checkpoints.
CHECKPOINTS_FOLDER = "_checkpoints"
# Where the helper notes that an attempt resumed: runs/<execution>/resumed/<stage>/…
RESUMED_FOLDER = "_resumed"

# --- approval gates ---------------------------------------------------------------------------
# A stage with `approval` runs no task: the workflow waits (.waitForTaskToken) until
# `longjob approve` sends the task token back. The token is kept in the stack's lock table
# under APPROVAL_KEY_PREFIX + execution name (no job name contains "/": no lock collides);
# a rejection is SendTaskFailure with REJECTED_ERROR, its cause the answer (ANSWER_*).
APPROVAL_MODE = "approval"
APPROVAL_KEY_PREFIX = "approval/"
REJECTED_ERROR = "longjob.Rejected"
ANSWER_BY_CHARS = 256  # the answering principal's ARN, as the summary keeps it
ANSWER_COMMENT_CHARS = 500


def approval_key(execution_name: str) -> str:
    return APPROVAL_KEY_PREFIX + execution_name


# --- where a task's lines are -----------------------------------------------------------------
CONTAINER_NAME = "toolbox"
# awslogs names a task's stream <awslogs-stream-prefix>/<container name>/<task id>.
STREAM_PREFIX = f"toolbox/{CONTAINER_NAME}/"


def stream_of(task_id: str) -> str:
    return STREAM_PREFIX + task_id


def label(stage: str, item: str | None) -> str:
    """How a task is named in live lines and reports: the stage, and its forEach item."""
    return stage if item is None else f"{stage}:{item}"


# --- where a task runs ------------------------------------------------------------------------
# A job's or stage's `capacity` (the schema's enum), and the capacity providers the ASL
# picks from: spot-then-on-demand runs attempts on Spot until Spot takes one back (one of
# SPOT_LOST_CODES) or has no capacity, then on demand, and that lost run uses no retry.
ON_DEMAND, SPOT, SPOT_THEN_ON_DEMAND = "on-demand", "spot", "spot-then-on-demand"
CAPACITIES = (ON_DEMAND, SPOT, SPOT_THEN_ON_DEMAND)
FARGATE, FARGATE_SPOT = "FARGATE", "FARGATE_SPOT"
SPOT_LOST_CODES = ("SpotInterruption", "TerminationNotice")

# --- how a run ends ---------------------------------------------------------------------------
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
TIMED_OUT = "TIMED_OUT"
SKIPPED = "SKIPPED"
INVALID = "INVALID"
# An approval stage's answer: APPROVED goes on; REJECTED ends the run REJECTED (exit 1, as a
# failure: later stages are skipped, except `always` ones). No answer in time is TIMED_OUT.
APPROVED = "APPROVED"
REJECTED = "REJECTED"
WAITING = "WAITING"  # the status an approval request's summary so far carries
JOB_STATUSES = (SUCCEEDED, FAILED, TIMED_OUT, SKIPPED, INVALID, REJECTED)
FAILED_STAGE = (FAILED, TIMED_OUT, REJECTED)  # a stage status that fails the job

# Exit codes of every command that runs or follows a job (run, start --follow, watch,
# redrive --follow): 0 succeeded, 1 failed / timed out / aborted, 2 invalid input (the
# document, a definition, an option), 3 skipped by the overlap guard. 128+N: stopped by
# signal N (Ctrl-C 130, SIGTERM 143, SIGHUP 129).
EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_SKIPPED = 3


def exit_code(execution_status: str, job_status: str | None) -> int:
    """The exit code for a run that ended with these statuses (the execution's, and the
    summary's when there is one)."""
    if job_status == SKIPPED:
        return EXIT_SKIPPED
    if job_status == INVALID:
        return EXIT_INVALID
    return EXIT_SUCCEEDED if execution_status == SUCCEEDED else EXIT_FAILED


# The entrypoint's exit code when it stopped the script at its deadline (as timeout(1)).
DEADLINE_EXIT_CODE = 124
DEADLINE_REASON = "stopped at its deadline"

# The task's deadline comes before the Task state's TimeoutSeconds by a margin: a quarter of
# the attempt's time, at most 60 s. Half of the margin is the grace before SIGKILL; the
# other half covers the container's exit and ECS reporting the stop, so on AWS the task
# ends by itself and the state sees exit 124, not States.Timeout. The deadline is a whole
# second, rounded down; with no margin (attempts under 4 s) rounded up, so that it is never
# before the state's own timeout.
DEADLINE_MARGIN_MAX_SECONDS = 60
DEADLINE_MARGIN_FRACTION = 4


def deadline_margin(limit_seconds: int) -> int:
    return min(DEADLINE_MARGIN_MAX_SECONDS, limit_seconds // DEADLINE_MARGIN_FRACTION)


def stop_grace(limit_seconds: int) -> int:
    return deadline_margin(limit_seconds) // 2
