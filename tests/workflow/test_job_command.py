"""`longjob validate`, `plan` and `run JOB.json`: what a user types and sees."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from longjob.cli.job import COST_BOUND_HEADING
from tests.conftest import ROOT, VENV_BIN

from .test_run_command import longjob, write

HELLO = str(ROOT / "jobs/examples/hello.json")


def test_validate_accepts_the_examples() -> None:
    examples = sorted(str(p) for p in (ROOT / "jobs/examples").glob("*.json"))
    result = longjob("validate", *examples, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert f"{HELLO}: valid (2 stages, 2 task(s))" in result.stdout


def test_validate_lists_every_problem_with_its_pointer(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "bad.json",
        {"job": "x", "stages": [{"name": "a", "run": ["bash", "../x.sh"], "retires": 1}]},
    )
    result = longjob("validate", bad, HELLO, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{bad}: /stages/0/retires: unknown field (allowed: always, approval, capacity, cpu, "
        "env, failFast, forEach, forEachFrom, maxConcurrency, memory, name, onFailure, resume, "
        "retries, retryOn, run, timeoutSeconds, toleratedFailureCount, "
        "toleratedFailurePercentage); did you mean 'retries'?",
        f"{bad}: /stages/0/run/1: must be a relative path inside the scripts folder (no '..', "
        "no leading '/' or '-')",
    ]
    assert f"{HELLO}: valid" in result.stdout


def test_validate_unreadable_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"job": ')
    result = longjob("validate", str(broken), str(tmp_path / "missing.json"), cwd=ROOT)
    assert result.returncode == 2
    assert "broken.json: not JSON (line 1, column 9: Expecting value)" in result.stderr
    assert "missing.json: No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_shows_commands_sizes_and_timeouts() -> None:
    result = longjob("plan", str(ROOT / "jobs/examples/db-maintenance.json"), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "job db-maintenance: 4 stage(s), timeout 21600s" in result.stdout
    assert "backup: bash pg_backup.sh -- --database test" in result.stdout
    assert "cpu 1024 / memory 2048 MiB; timeout 7200s per attempt; 3 attempt(s)" in result.stdout
    assert "4. report  (on failure: stop, always runs)" in result.stdout
    plan = json.loads(longjob("plan", HELLO, "--json", cwd=ROOT).stdout)
    assert [s["name"] for s in plan["stages"]] == ["hello-bash", "hello-python"]


def test_run_hello_reports_as_start_follow_does(project: Path) -> None:
    result = longjob("run", HELLO, cwd=project)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "started arn:aws:states:us-east-1:123456789012:execution:"
        "longjob-local-JobStateMachine:hello-"
    )
    assert lines[1].startswith("logs .longjob/runs/hello-")
    assert "[hello-bash] attempt 1: starting task" in lines
    assert "[hello-bash] 2 parameters passed" in lines
    assert "[hello-bash] attempt 1: exit code 0 after 0s" in lines
    # Each task is billed a minute at least: 1 vCPU, 2 GiB, ARM64, 30 GiB of storage above
    # the free 20 (the template's defaults): 60 x (0.03238 + 2 x 0.00356 + 30 x 0.000111) / 3600.
    assert lines[-9:-4] == [
        "",
        "STAGE         STATUS     EXIT  ATTEMPTS  TASKS  DURATION  COST",
        "hello-bash    SUCCEEDED  0     1         1/1    0s        $0.0007",
        "hello-python  SUCCEEDED  0     1         1/1    0s        $0.0007",
        "",
    ]
    assert lines[-4].startswith(
        "cost (estimate, us-east-1, prices 2026-12-01 (us-east-1 list prices)): $0.0018 = "
        "Fargate $0.0013 + storage $0.0001 + Step Functions $0.0003 (14 transitions) + Lambda "
    )
    assert lines[-3:-1] == ["", "notification: sent"]
    assert lines[-1].startswith("job hello: SUCCEEDED (hello-")  # the verdict comes last


def test_failed_job_exits_1_and_json_is_the_runs_document(project: Path, tmp_path: Path) -> None:
    job = write(
        tmp_path / "fails.json",
        {
            "job": "fails",
            "stages": [{"name": "boom", "run": ["bash", "t/exit.sh"], "env": {"EXIT_CODE": "6"}}],
        },
    )
    result = longjob("run", job, "--json", cwd=project)
    assert result.returncode == 1
    document = json.loads(result.stdout)  # stdout is the document alone
    assert (document["status"], document["jobStatus"], document["exitCode"]) == (
        "FAILED",
        "FAILED",
        1,
    )
    assert document["error"] == "JobFailed"
    assert document["summary"]["stages"][0]["exitCode"] == 6
    assert document["cause"] is None  # the summary says it all
    assert "[boom] attempt 1: FAILED, exit code 6" in result.stderr


def test_invalid_job_exits_2_and_starts_nothing(project: Path, tmp_path: Path) -> None:
    runs = project / ".longjob" / "runs"
    before = set(runs.iterdir()) if runs.exists() else set()
    job = write(tmp_path / "bad.json", {"job": "x", "stages": [{"name": "a", "run": ["zsh", "x"]}]})
    result = longjob("run", job, cwd=project)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{job}: /stages/0/run/0: must be one of")
    assert (set(runs.iterdir()) if runs.exists() else set()) == before


def test_secrets_file_seeds_the_local_secret_stores(project: Path, tmp_path: Path) -> None:
    value = "from-the-secrets-file"
    secrets = write(tmp_path / "secrets.json", {"ssm:/longjob/local/db": value})
    job = write(
        tmp_path / "secret.json",
        {
            "job": "secret",
            "stages": [
                {
                    "name": "check",
                    "run": ["bash", "t/check_secret.sh"],
                    "env": {
                        "DB_PASSWORD": "ssm:/longjob/local/db",
                        "EXPECTED_SHA256": hashlib.sha256(value.encode()).hexdigest(),
                    },
                }
            ],
        },
    )
    result = longjob("run", job, "--secrets", secrets, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[check] secret: match" in result.stdout
    assert value not in result.stdout + result.stderr


def test_bad_secrets_file_and_bad_combinations_exit_2(project: Path, tmp_path: Path) -> None:
    secrets = write(tmp_path / "secrets.json", {"vault:/x": "y"})
    result = longjob("run", HELLO, "--secrets", secrets, cwd=project)
    assert result.returncode == 2
    assert "'vault:/x' is not ssm:/path or secretsmanager:name" in result.stderr
    both = longjob("run", HELLO, "--definition", HELLO, cwd=project)
    assert both.returncode == 2
    assert "pass a job document, or --definition FILE (not both)" in both.stderr


def test_plan_shows_each_quota_estimate_beside_its_limit() -> None:
    for path in sorted((ROOT / "jobs/examples").glob("*.json")):
        result = longjob("plan", str(path), cwd=ROOT)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.split("quotas (worst case: every task fails every attempt):\n")[1]
        lines, bound = lines.split(COST_BOUND_HEADING + "\n")
        rows = [line.split() for line in lines.splitlines() if line]
        assert bound.splitlines()[-1].startswith("   at most (bound, us-east-1, prices "), bound
        assert [" ".join(r[:-4]) for r in rows] == [
            "Prepare job arguments",
            "plan",
            "execution history",
            "largest stage result",
            "summary",
            "notification",
            "notification subject",
        ], path.name
        for row in rows:
            value, limit = (int(n.replace(",", "")) for n in (row[-4], row[-2]))
            assert 0 < value <= limit, (path.name, row)
    plan = json.loads(longjob("plan", HELLO, "--json", cwd=ROOT).stdout)
    # Two tasks, one attempt each of at most the job's 86,400 s, at the template's size.
    assert [s["taskSeconds"] for s in plan["costBound"]["stages"]] == [86_400, 86_400]
    history = next(q for q in plan["quotas"] if q["what"] == "execution history")
    assert history == {
        "what": "execution history",
        "estimate": 96,
        "limit": 24000,
        "unit": "events",
    }


def test_validate_refuses_a_document_over_a_quota_with_the_figure(tmp_path: Path) -> None:
    items = [f"db{i:04d}" for i in range(40)]
    stages = [
        {"name": f"s{n}", "run": ["bash", "x.sh", "{item}"], "forEach": items, "retries": 10}
        for n in range(6)
    ]
    long = write(tmp_path / "long.json", {"job": "long", "stages": stages})
    result = longjob("validate", long, cwd=ROOT)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{long}: /stages/0/forEach: 6 stages, the largest 40 task(s) ")
    assert "\u00d7 11 attempt(s) \u2248 26,976 events, over the 24,000 longjob allows" in line


def test_start_refuses_a_bad_document_offline_before_looking_up_the_stack(
    tmp_path: Path,
) -> None:
    bad = write(tmp_path / "bad.json", {"job": "x", "stages": [{"name": "a", "run": ["ksh"]}]})
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # nothing listens: any AWS call would fail
    result = subprocess.run(
        [
            str(VENV_BIN / "longjob"),
            "start",
            bad,
            "--stack",
            "no-such-stack",
            "--region",
            "eu-west-1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"{bad}: /stages/0/run: must have at least 2 item(s)" in result.stderr
    assert "stack" not in result.stderr
    assert "Traceback" not in result.stderr
