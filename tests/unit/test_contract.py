"""The task-attempt contract of longjob_core.contract, as the ASL and the entrypoint (which
cannot import it) spell it."""

from __future__ import annotations

import json
import re

from longjob_core import contract

from tests.conftest import ROOT

ASL = (ROOT / "statemachine" / "job.asl.json").read_text()
ENTRYPOINT = (ROOT / "container" / "entrypoint.sh").read_text()
RUN_TASK = json.loads(ASL)["States"]["Run stage"]["ItemProcessor"]["States"]["Run task"]


def test_the_workflow_sets_the_variables_the_entrypoint_reads() -> None:
    overrides = RUN_TASK["Arguments"]["Overrides"]
    for name in (contract.ATTEMPT_ENV, contract.DEADLINE_ENV, contract.GRACE_ENV):
        assert f"'Name': '{name}'" in overrides, name
        assert f"${{{name}:-" in ENTRYPOINT, name


def test_the_margin_and_grace_are_the_contracts() -> None:
    overrides = RUN_TASK["Arguments"]["Overrides"]
    margin = (
        f"$margin := $min([{contract.DEADLINE_MARGIN_MAX_SECONDS}, "
        f"$floor($limit / {contract.DEADLINE_MARGIN_FRACTION})])"
    )
    assert margin in overrides
    assert "$floor($margin / 2)" in overrides
    assert [contract.deadline_margin(s) for s in (3, 8, 100, 240, 86400)] == [0, 2, 25, 60, 60]
    assert [contract.stop_grace(s) for s in (3, 8, 100, 86400)] == [0, 1, 12, 30]


def test_exit_124_means_stopped_at_its_deadline_everywhere() -> None:
    code = contract.DEADLINE_EXIT_CODE
    assert re.search(rf"\brc={code}\b", ENTRYPOINT)
    assert re.search(rf"exit {code}\b", ENTRYPOINT)
    failed = json.loads(ASL)["States"]["Run stage"]["ItemProcessor"]["States"]["Task failed"]
    assert f"ExitCode = {code}" in failed["Output"]
    assert f"'{contract.DEADLINE_REASON}'" in failed["Output"]


def test_watch_reports_exit_124_as_a_timed_out_attempt() -> None:
    from longjob.report.history import HistoryReader
    from longjob.report.watcher import describe_change

    task = {
        "TaskArn": "arn:aws:ecs:eu-west-1:1:task/c/0f3c",
        "Containers": [{"ExitCode": contract.DEADLINE_EXIT_CODE}],
        "StartedAt": 1_000,
        "StoppedAt": 7_000,
    }
    environment = [
        {"Name": "LONGJOB_STAGE", "Value": "backup"},
        {"Name": "LONGJOB_ATTEMPT", "Value": "2"},
    ]
    parameters = {"Overrides": {"ContainerOverrides": [{"Environment": environment}]}}
    details = {"resourceType": "ecs", "resource": "runTask.sync"}
    reader = HistoryReader()
    changes = reader.feed(
        [
            {
                "id": 1,
                "type": "TaskScheduled",
                "taskScheduledEventDetails": {**details, "parameters": json.dumps(parameters)},
            },
            {
                "id": 2,
                "previousEventId": 1,
                "type": "TaskFailed",
                "taskFailedEventDetails": {
                    **details,
                    "error": "States.TaskFailed",
                    "cause": json.dumps(task),
                },
            },
        ]
    )
    assert describe_change(changes[-1]) == (
        "attempt 2: TIMED_OUT, exit code 124 after 6s: stopped at its deadline"
    )
