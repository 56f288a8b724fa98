"""What the workflow, the entrypoint and the CLI agree on about one task attempt.

The ASL and container/entrypoint.sh cannot import this module: tests check that they use
the same names and numbers (tests/unit/test_contract.py).
"""

from __future__ import annotations

# The attempt's deadline, in epoch seconds, and the grace between SIGTERM and SIGKILL.
DEADLINE_ENV = "LONGJOB_DEADLINE"
GRACE_ENV = "LONGJOB_STOP_GRACE"
ATTEMPT_ENV = "LONGJOB_ATTEMPT"

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
