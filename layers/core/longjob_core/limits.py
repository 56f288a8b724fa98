"""AWS's limits that a job must fit, each as AWS documents it (sources: docs/aws-facts.md).

One home for the numbers: validation, planning, the quota guard and the notification text
all read them from here."""

from __future__ import annotations

# Step Functions, Standard workflows.
HISTORY_EVENTS = 25_000  # events in one execution's history; the execution fails at the limit
PAYLOAD_BYTES = 262_144  # UTF-8 bytes of a state's input or output, a task's arguments or result
CAUSE_CHARS = 32_768  # characters of an execution's error cause (ExecutionFailedEventDetails)
ERROR_CHARS = 256  # characters of an execution's error name
EXECUTION_NAME_CHARS = 80
STATE_MACHINE_NAME_CHARS = 80

# ECS: the container overrides of one RunTask, as JSON, formatting included.
OVERRIDES_CHARS = 8192

# SNS Publish.
SNS_SUBJECT_CHARS = 99  # "less than 100 characters", one line, no control characters
SNS_MESSAGE_BYTES = 262_144

# CloudFormation: one parameter value (ScheduleJobDocument).
CFN_PARAMETER_BYTES = 4096
