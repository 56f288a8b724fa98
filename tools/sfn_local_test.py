#!/usr/bin/env python3
"""Run a mock configuration file's test cases on AWS Step Functions Local, where Docker exists.

    make sfn-local-test MOCK=tests/workflow/fixtures/mocking/LambdaSQSIntegration.mock.json

Starts ``amazon/aws-stepfunctions-local`` with the file mounted read-only and
``SFN_MOCK_CONFIG`` pointing at it (AWS's documented way, docs/aws-facts.md "Mock
configuration files"), creates each state machine the file names under that name, starts
every case as ``<machine ARN>#<case>`` and compares the outcome with the same
``<name>.expect.json`` that ``longjob test`` reads. Exit 0 when every case meets its
expectations, 1 when one does not, 2 when Docker or the image is missing.

Step Functions Local is unsupported by AWS and has no JSONata and no variables: the project's
own job.asl.json (JSONata throughout) does not run there. ``longjob test`` runs the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

IMAGE = "amazon/aws-stepfunctions-local"
MOUNTED = "/home/StepFunctionsLocal/MockConfigFile.json"
ROLE = "arn:aws:iam::123456789012:role/DummyRole"


def docker_problem(docker: str) -> str | None:
    """Why Step Functions Local cannot run here, or None."""
    if shutil.which(docker) is None:
        return f"{docker} is not installed"
    info = subprocess.run([docker, "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        return f"{docker} has no engine to talk to ({docker} info failed)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"Step Functions Local did not listen on {port} within {seconds:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mock", type=Path, help="the mock configuration file")
    parser.add_argument("--project", type=Path, default=Path("."))
    parser.add_argument("--docker", default=os.environ.get("DOCKER", "docker"))
    parser.add_argument("--image", default=IMAGE)
    args = parser.parse_args()

    import boto3

    from longjob.mocking.suite import load_suite, mismatches

    problem = docker_problem(args.docker)
    if problem is not None:
        print(f"sfn-local-test: {problem}", file=sys.stderr)
        return 2
    suite = load_suite(args.mock, args.project)
    port = free_port()
    name = f"longjob-sfn-local-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [
            args.docker,
            "run",
            "--detach",
            "--rm",
            "--name",
            name,
            "-p",
            f"127.0.0.1:{port}:8083",
            "--mount",
            f"type=bind,readonly,source={args.mock.resolve()},destination={MOUNTED}",
            "-e",
            f"SFN_MOCK_CONFIG={MOUNTED}",
            args.image,
        ],
        check=True,
    )
    try:
        wait_for(port)
        sfn = boto3.client(
            "stepfunctions",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - Step Functions Local takes any key
        )
        return run_cases(sfn, suite, mismatches)
    finally:
        subprocess.run([args.docker, "rm", "--force", name], capture_output=True, check=False)


def run_cases(sfn: Any, suite: Any, mismatches: Any) -> int:
    from longjob.engine.local_engine import substitute
    from longjob.mocking.runner import states_entered

    arns: dict[str, str] = {}
    failed = 0
    for case in suite.cases:
        machine = case.machine
        if machine.name not in arns:
            definition = substitute(machine.definition, machine.substitutions)
            arns[machine.name] = sfn.create_state_machine(
                name=machine.name, definition=definition, roleArn=ROLE
            )["stateMachineArn"]
        started = sfn.start_execution(
            stateMachineArn=f"{arns[machine.name]}#{case.name}", input=json.dumps(case.input)
        )
        while (described := sfn.describe_execution(executionArn=started["executionArn"]))[
            "status"
        ] == "RUNNING":
            time.sleep(0.2)
        events = sfn.get_execution_history(executionArn=started["executionArn"])["events"]
        history = [{"type": e["type"], **_entered_name(e)} for e in events]
        result = SimpleNamespace(
            status=described["status"],
            error=described.get("error"),
            cause=described.get("cause"),
            output=json.loads(described["output"]) if described.get("output") else None,
            states=states_entered(history),
        )
        problems = mismatches(case.expected, result)
        verdict = "FAIL" if problems else ("PASS" if case.expected else "RAN")
        failed += bool(problems)
        print(f"  {verdict}  {machine.name}/{case.name}  {result.status}")
        for line in problems:
            print(f"        {line}")
    print(f"\n{len(suite.cases)} cases on Step Functions Local: {failed} failed")
    return 1 if failed else 0


def _entered_name(event: dict[str, Any]) -> dict[str, str]:
    details = event.get("stateEnteredEventDetails") or {}
    return {"name": details["name"]} if "name" in details else {}


if __name__ == "__main__":
    sys.exit(main())
