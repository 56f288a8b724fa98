"""The task-attempt contract of longjob_core.contract, as the ASL and the entrypoint (which
cannot import it) spell it."""

from __future__ import annotations

import json
import re

from longjob_core import contract, cost

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


def test_the_asl_uses_the_contracts_statuses_and_names() -> None:
    """Every upper-case word the ASL writes in quotes is a status or a variable name the
    contract knows."""
    words = set(re.findall(r"'([A-Z][A-Z_]{5,})'", ASL))
    names = {
        contract.ATTEMPT_ENV,
        contract.DEADLINE_ENV,
        contract.GRACE_ENV,
        contract.CHECKPOINT_ENV,
    }
    providers = {contract.FARGATE, contract.FARGATE_SPOT}
    approvals = {contract.APPROVED, contract.WAITING}
    assert words == set(contract.JOB_STATUSES) | names | providers | approvals


def test_the_asl_uses_the_contracts_capacities_and_fargate_billing() -> None:
    """The capacities the ASL tests are the schema's; a Spot run is lost on the contract's
    stop codes; each run is billed one minute at least, as cost.py assumes."""
    schema = json.loads((ROOT / "jobs" / "job.schema.json").read_text())
    assert tuple(schema["$defs"]["capacity"]["enum"]) == contract.CAPACITIES
    quoted = set(re.findall(r"'([a-z]+(?:-[a-z]+)+|spot)'", ASL))
    assert {"spot", "on-demand", "spot-then-on-demand"} <= quoted
    assert quoted & {"spot", "on-demand", "spot-then-on-demand"} <= set(contract.CAPACITIES)
    for code in contract.SPOT_LOST_CODES:
        assert f"'{code}'" in ASL
    assert f"$max([{cost.MINIMUM_BILLED_SECONDS}, $ceil(($t.StoppedAt - $t.PullStartedAt)" in ASL
    for name in (contract.STAGE_ENV, contract.ATTEMPT_ENV):
        assert f"${{{name}:-" in ENTRYPOINT


def test_the_template_writes_task_logs_where_the_contract_reads_them() -> None:
    from longjob.stack.template import deployed_template, load_template

    stack = deployed_template(load_template(ROOT / "template.yaml"))
    (container,) = stack.properties("TaskDefinition")["ContainerDefinitions"]
    prefix = container["LogConfiguration"]["Options"]["awslogs-stream-prefix"]
    assert f"{prefix}/{container['Name']}/" == contract.STREAM_PREFIX
    assert stack.properties("JobStateMachine")["DefinitionSubstitutions"]["ContainerName"] == (
        contract.CONTAINER_NAME
    )


def test_every_command_that_follows_a_job_exits_by_one_table() -> None:
    table = {
        ("SUCCEEDED", "SUCCEEDED"): 0,
        ("SUCCEEDED", "SKIPPED"): 3,
        ("FAILED", "FAILED"): 1,
        ("FAILED", "TIMED_OUT"): 1,
        ("FAILED", "INVALID"): 2,
        ("ABORTED", None): 1,
        ("TIMED_OUT", None): 1,
    }
    for (execution, job), code in table.items():
        assert contract.exit_code(execution, job) == code, (execution, job)


def test_the_asl_fills_item_as_the_planner_does() -> None:
    """{item} is replaced in the ASL for AWS and in Python for validation and `plan`: both
    give each task the same command and environment."""
    from jsonata import Jsonata
    from longjob_core.planning import expand_stage, make_plan

    document = {
        "job": "j",
        "stages": [
            {
                "name": "each",
                "run": ["bash", "x.sh", "--db", "{item}", "x{item}y{item}"],
                "env": {"TARGET": "db-{item}", "PLAIN": "as is"},
                "forEach": ["alpha", 7],
            }
        ],
    }
    stage = make_plan(document, "run-1")["stages"][0]
    expression = RUN_TASK["Arguments"]["Overrides"].removeprefix("{% ").removesuffix(" %}")
    expression = expression.replace("${ContainerName}", contract.CONTAINER_NAME)
    for task, item in zip(expand_stage(stage), stage["items"], strict=True):
        compiled = Jsonata(expression)
        settings = {k: v for k, v in stage.items() if k != "items"}
        compiled.assign(
            "states",
            {"input": {"item": item, "attempt": 1, "deadline": 10**13, "stage": settings}},
        )
        overrides = compiled.evaluate(None)["ContainerOverrides"][0]
        assert overrides["Command"] == task["command"]
        planned = {variable["Name"] for variable in task["environment"]}
        environment = [e for e in overrides["Environment"] if e["Name"] in planned]
        assert environment == task["environment"]


def test_a_wide_stage_runs_the_same_task_states_as_an_inline_one() -> None:
    """Each item of a wide stage is a child execution running a copy of the inline stage's
    task states (ASL has no way to share them): the copies differ only in their names (state
    names are unique in a state machine) and in the end, where a failed item fails its child
    so that the Distributed Map counts it."""
    states = json.loads(ASL)["States"]
    inline = states["Run stage"]["ItemProcessor"]
    wide = states["Run wide stage"]["ItemProcessor"]
    names = {
        "Run task": "Run item task",
        "Attempt failed": "Item attempt failed",
        "Back off": "Item back off",
        "Task failed": "Item task failed",
    }

    def renamed(node: object) -> object:
        if isinstance(node, dict):
            return {
                k: names[v] if k in ("Next", "Default") and v in names else renamed(v)
                for k, v in node.items()
            }
        return [renamed(v) for v in node] if isinstance(node, list) else node

    expected = {names[name]: renamed(state) for name, state in inline["States"].items()}
    failed = wide["States"]["Item task failed"]
    assert failed.pop("Next") == "Item failed"
    assert expected["Item task failed"].pop("End")
    for state in (failed, expected["Item task failed"]):
        state.pop("Comment")
    assert wide["States"]["Item failed"]["Type"] == "Fail"
    assert {k: v for k, v in wide["States"].items() if k != "Item failed"} == expected
    assert wide["StartAt"] == names[inline["StartAt"]]
    assert wide["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    # Children cannot read the parent's variables (docs/aws-facts.md): none is used.
    assert "$stage" not in json.dumps(wide)
    assert "$deadline" not in json.dumps(wide)
    assert "$stage." not in json.dumps(states["Run wide stage"]["ItemSelector"])


def test_the_csv_wide_stage_is_the_json_one_reading_csv() -> None:
    """A CSV forEachFrom needs a Map whose ItemReader reads CSV (InputType is not documented
    as an expression): the same Map, its states renamed, with a header row."""
    states = json.loads(ASL)["States"]
    json_map = states["Run wide stage"]
    csv_map = states["Run wide CSV stage"]
    names = {
        "Run item task": "Run row task",
        "Item attempt failed": "Row attempt failed",
        "Item back off": "Row back off",
        "Item task failed": "Row task failed",
        "Item failed": "Row failed",
    }
    text = json.dumps(json_map["ItemProcessor"])
    for old, new in names.items():
        text = text.replace(json.dumps(old), json.dumps(new))
    assert csv_map["ItemProcessor"] == json.loads(text)
    assert csv_map["ItemReader"]["ReaderConfig"] == {
        "InputType": "CSV",
        "CSVHeaderLocation": "FIRST_ROW",
    }
    differing = {"ItemReader", "ItemProcessor", "Label", "Comment"}
    assert {k: v for k, v in csv_map.items() if k not in differing} == {
        k: v for k, v in json_map.items() if k not in differing
    }
    assert (json_map["Label"], csv_map["Label"]) == ("items", "rows")
    (choice,) = states["CSV items?"]["Choices"]
    assert choice["Next"] == "Run wide CSV stage"
    assert states["CSV items?"]["Default"] == "Run wide stage"


def test_the_checkpoint_helper_uses_the_contracts_names() -> None:
    """container/lib/checkpoint.py runs in the image, without longjob_core."""
    helper = (ROOT / "container" / "lib" / "checkpoint.py").read_text()
    assert f'CHECKPOINT_ENV = "{contract.CHECKPOINT_ENV}"' in helper
    assert f'RESUMED_FOLDER = "{contract.RESUMED_FOLDER}"' in helper
    assert f"'Name': '{contract.CHECKPOINT_ENV}'" in ASL


def test_an_approval_stage_speaks_the_contract_everywhere() -> None:
    """The ASL's approval states use the contract's mode, item key, error and answer sizes;
    the watcher reads the state by its ASL name; Notify is what Ask approval invokes."""
    from longjob.report.approvals import ASK_STATE

    states = json.loads(ASL)["States"]
    ask, check = states[ASK_STATE], states["Check answer"]
    assert ask["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert ask["Arguments"]["FunctionName"] == "${NotifyFunctionArn}"
    assert ask["Arguments"]["Payload"]["approval"]["token"] == "{% $states.context.Task.Token %}"
    assert [c["ErrorEquals"] for c in ask["Catch"]] == [
        [contract.REJECTED_ERROR],
        ["States.Timeout"],
        ["States.ALL"],
    ]
    assert ask["Next"] == "Check answer"
    key = check["Arguments"]["Key"]["job"]["S"]
    assert f"'{contract.APPROVAL_KEY_PREFIX}' & $states.input.execution" in key
    assert f"mode = '{contract.APPROVAL_MODE}'" in json.dumps(states["Next stage?"])
    for limit in (contract.ANSWER_BY_CHARS, contract.ANSWER_COMMENT_CHARS):
        assert f", 0, {limit}), /[^ -~]/, '?')" in check["Assign"]["results"]
        assert f", 0, {limit}), /[^ -~]/, '?')" in ask["Catch"][0]["Assign"]["results"]
    assert check["Arguments"]["ConditionExpression"] == "answerKey = :key"
