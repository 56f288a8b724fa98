"""Wide stages: over 40 items, items from S3 or tolerated failures, a stage is a
Distributed Map whose every item runs as a child execution, with its results in S3."""

from __future__ import annotations

import json
from typing import Any

from longjob_core import quotas

from longjob.engine.local_engine import LocalEngine
from longjob.engine.patches import distributed_map
from tests.workflow.conftest import stage

BUCKET = "longjob-local-runbucket"  # the template's RunBucket, as the local stack names it


def wide(items: int, percent: int = 0, **fields: Any) -> dict[str, Any]:
    """A job whose first stage fails ``percent`` % of its ``items`` (the first ones of each
    hundred), then a stage that runs only if the first one succeeded."""
    return {
        "job": "wide",
        "stages": [
            stage(
                "each",
                "fail_some.sh",
                "{item}",
                forEach=list(range(items)),
                maxConcurrency=20,
                env={"FAIL_PERCENT": str(percent)},
                **fields,
            ),
            stage("after", "exit.sh"),
        ],
    }


def results_of(engine: LocalEngine, record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The Map Run's result files, by status, as the ResultWriter left them in S3."""
    s3 = engine.aws_client("s3")
    map_run_id = record["mapRun"].split(":")[-1]
    objects = s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/")["Contents"]
    (manifest_key,) = [
        o["Key"] for o in objects if o["Key"].endswith(f"/{map_run_id}/manifest.json")
    ]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    assert manifest["MapRunArn"] == record["mapRun"]
    return {
        status: [
            entry
            for file in files
            for entry in json.loads(s3.get_object(Bucket=BUCKET, Key=file["Key"])["Body"].read())
        ]
        for status, files in manifest["ResultFiles"].items()
    }


def test_a_wide_stage_runs_each_item_in_its_own_child_execution(
    engine: LocalEngine, run_job
) -> None:
    result, summary = run_job(wide(60))
    plain, _ = run_job({"job": "p", "stages": [stage("after", "exit.sh")]})
    assert result.status == "SUCCEEDED", result.cause
    each, after = summary["stages"]
    assert (each["mode"], each["status"], each["tasks"], each["succeeded"]) == (
        "distributed",
        "SUCCEEDED",
        60,
        60,
    )
    assert (each["failed"], each["notRun"], each["failures"]) == (0, 0, [])
    assert after["status"] == "SUCCEEDED"
    assert sorted(
        int(t.label.split(":")[1]) for t in result.tasks if t.label.startswith("each")
    ) == list(range(60))
    children = distributed_map.children(each["mapRun"])
    assert len(children) == 60
    # Each child has its own history, far under the limit the quota guard holds it to.
    assert max(c.events for c in children) <= quotas.child_events(1)
    assert all("/items:" in c.arn for c in children)
    # The parent's history holds the Map Run, not 60 tasks' events: the wide stage's share
    # is what the quota guard counts without retries (it also keeps 9 for them).
    wide_events = len(result.history) - len(plain.history)
    assert wide_events == quotas.EVENTS_PER_WIDE_STAGE - 9
    assert sum(e["type"] == "TaskScheduled" for e in result.history) == 5  # the Lambdas, 1 task
    files = results_of(engine, each)
    assert len(files["SUCCEEDED"]) == 60
    assert files["FAILED"] == []
    outputs = [json.loads(e["Output"]) for e in files["SUCCEEDED"]]
    assert {o["status"] for o in outputs} == {"SUCCEEDED"}
    inputs = sorted(json.loads(e["Input"])["item"] for e in files["SUCCEEDED"])
    assert inputs == sorted(str(i) for i in range(60))


def test_failures_within_the_tolerated_share_leave_the_stage_succeeded(run_job) -> None:
    result, summary = run_job(wide(100, percent=3, toleratedFailurePercentage=5))
    assert result.status == "SUCCEEDED", result.cause
    each, after = summary["stages"]
    assert (each["status"], each["succeeded"], each["failed"], each["notRun"]) == (
        "SUCCEEDED",
        97,
        3,
        0,
    )
    assert sorted(f["item"] for f in each["failures"]) == ["0", "1", "2"]
    assert {(f["status"], f["exitCode"]) for f in each["failures"]} == {("FAILED", 1)}
    assert all("/items:" in f["execution"] for f in each["failures"])
    assert after["status"] == "SUCCEEDED"


def test_more_failures_than_tolerated_fail_the_stage_and_name_the_first(run_job) -> None:
    result, summary = run_job(wide(100, percent=10, toleratedFailurePercentage=5))
    assert result.status == "FAILED"
    assert summary["status"] == "FAILED"
    each, after = summary["stages"]
    assert each["status"] == "FAILED"
    # Over 5 of 100 failed: the Map Run failed and started no further item.
    assert each["failed"] > 5
    assert each["notRun"] > 0
    assert each["succeeded"] + each["failed"] + each["notRun"] == 100
    assert len(each["failures"]) == 5
    for failure in each["failures"]:
        assert int(failure["item"]) % 100 < 10
        assert (failure["status"], failure["exitCode"], failure["attempts"]) == ("FAILED", 1, 1)
        assert failure["taskId"]
        assert "/items:" in failure["execution"]
    assert after["status"] == "SKIPPED"


def test_when_the_map_run_fails_the_items_still_running_are_stopped(run_job) -> None:
    """AWS stops the children still running "because the Map Run failed"; their tasks stop
    with them instead of running to their end."""
    document = wide(45, percent=1)
    document["stages"][0]["env"]["SLEEP_OTHERS"] = "120"
    result, summary = run_job(document)
    assert result.status == "FAILED"
    each = summary["stages"][0]
    assert (each["failed"], each["succeeded"]) == (1, 0)
    assert each["notRun"] == 44  # stopped or never started
    stopped = [t for t in result.tasks if t.stop_code == "UserInitiated"]
    assert stopped, [(t.label, t.exit_code, t.stop_code) for t in result.tasks]
    assert all(t.stopped_at - t.started_at < 60 for t in stopped)


def test_without_a_tolerance_one_failed_item_fails_the_stage(run_job) -> None:
    result, summary = run_job(wide(50, percent=1))
    assert result.status == "FAILED"
    (failure,) = summary["stages"][0]["failures"]
    assert (failure["item"], failure["exitCode"]) == ("0", 1)


def test_items_from_a_json_list_in_the_run_bucket(engine: LocalEngine, run_job) -> None:
    engine.aws_client("s3").put_object(
        Bucket=BUCKET, Key="lists/databases.json", Body=json.dumps(list(range(45)))
    )
    document = wide(1)
    del document["stages"][0]["forEach"]
    document["stages"][0]["forEachFrom"] = f"s3://{BUCKET}/lists/databases.json"
    result, summary = run_job(document)
    assert result.status == "SUCCEEDED", result.cause
    each = summary["stages"][0]
    assert (each["tasks"], each["succeeded"]) == (45, 45)


def test_rows_of_a_csv_file_with_a_header(engine: LocalEngine, run_job, tmp_path) -> None:
    """Each row is an item: the object of its header's columns, as JSON text in
    LONGJOB_ITEM (and {item})."""
    rows = "tenant,database\n" + "".join(f"t{n},db{n}\n" for n in range(3))
    engine.aws_client("s3").put_object(Bucket=BUCKET, Key="lists/tenants.csv", Body=rows)
    ledger = tmp_path / "ledger"
    document = {
        "job": "csv",
        "stages": [
            stage(
                "each",
                "record_item.sh",
                forEachFrom=f"s3://{BUCKET}/lists/tenants.csv",
                env={"OUT": str(ledger)},
            )
        ],
    }
    result, summary = run_job(document)
    assert result.status == "SUCCEEDED", result.cause
    each = summary["stages"][0]
    assert (each["mode"], each["tasks"], each["succeeded"]) == ("distributed", 3, 3)
    written = sorted(
        (json.loads(line) for line in ledger.read_text().splitlines()), key=lambda r: r["tenant"]
    )
    assert written == [{"database": f"db{n}", "tenant": f"t{n}"} for n in range(3)]


def test_items_from_a_bucket_the_stack_may_not_read_are_refused(run_job) -> None:
    document = wide(1)
    del document["stages"][0]["forEach"]
    document["stages"][0]["forEachFrom"] = "s3://someone-else/list.json"
    result, _summary = run_job(document)
    assert (result.status, result.error) == ("FAILED", "InvalidJobDocument")
    assert "/stages/0/forEachFrom: the state machine may read item lists only" in result.cause
    assert result.tasks == []


def test_transitions_of_a_wide_stage(run_job) -> None:
    """The README's cost figures: 5 transitions in the run per wide stage, 1 per item that
    succeeds first time, 3 more for one that fails."""
    from tests.workflow.test_job_workflow import billed_transitions

    plain, _ = run_job({"job": "p", "stages": [stage("after", "exit.sh")]})
    result, summary = run_job(wide(60, percent=1, toleratedFailureCount=1))
    assert result.status == "SUCCEEDED", result.cause
    assert billed_transitions(result) - billed_transitions(plain) == 5
    children = distributed_map.children(summary["stages"][0]["mapRun"])
    entered = sorted(c.states_entered for c in children)
    assert entered == [1] * 59 + [4]


def test_capacity_errors_inside_a_wide_stage_are_retried_in_place(
    engine: LocalEngine, run_job
) -> None:
    """ECS refusing tasks for capacity is retried inside each item's child, as in an inline
    stage: no attempt is used, no item fails."""
    engine.inject_ecs_faults("capacity", 3)
    result, summary = run_job(wide(45))
    assert result.status == "SUCCEEDED", result.cause
    each = summary["stages"][0]
    assert (each["succeeded"], each["failed"]) == (45, 0)
    children = distributed_map.children(each["mapRun"])
    assert sum(c.events for c in children) - min(c.events for c in children) * 45 == 3 * 3
