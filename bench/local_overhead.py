"""What the local engine adds per task: N sequential one-task states vs a plain bash loop.

    .venv/bin/python bench/local_overhead.py [--tasks N] [--sleep S] [--repeat R]

Both sides run the same script through the same entrypoint (process runtime), so the
difference is the engine's own cost per task: ASL interpretation, RunTask, the .sync
wait and the bookkeeping, with the per-run costs (creating the state machine, reading
the history) spread over the tasks. Target: <= 25 ms per task, with IAM checks on (each
RunTask, DescribeTasks, PassRole and the image pull and log stream of each task checked
against a role, as `longjob run` does) and off.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = 'sleep "$1"\n'


def definition(tasks: int, sleep: float) -> str:
    states = {}
    for i in range(tasks):
        states[f"Task {i}"] = {
            "Type": "Task",
            "Resource": "arn:aws:states:::ecs:runTask.sync",
            "Parameters": {
                "Cluster": "bench",
                "TaskDefinition": "bench",
                "Overrides": {
                    "ContainerOverrides": [
                        {"Name": "toolbox", "Command": ["bash", "bench_sleep.sh", "--", str(sleep)]}
                    ]
                },
            },
            "ResultPath": None,
            **({"Next": f"Task {i + 1}"} if i + 1 < tasks else {"End": True}),
        }
    return json.dumps({"StartAt": "Task 0", "States": states})


def bash_loop(project: Path, tasks: int, sleep: float) -> float:
    entrypoint = project / "container" / "entrypoint.sh"
    loop = f'for i in $(seq {tasks}); do "{entrypoint}" bash bench_sleep.sh -- {sleep}; done'
    # The same interpreter first on PATH as the engine gives its tasks (not a pyenv shim).
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    subprocess.run(["bash", "-c", loop], check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--sleep", type=float, default=0.2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copytree(ROOT / "container", project / "container")
        (project / "container" / "scripts" / "bench_sleep.sh").write_text(SCRIPT)

        started = time.perf_counter()
        from longjob.engine.launchers import ProcessLauncher
        from longjob.engine.local_engine import LocalEngine

        imported = time.perf_counter() - started
        print(f"tasks per run         {args.tasks} x sleep {args.sleep}s, median of {args.repeat}")
        print(f"imports               {imported:.2f} s")
        for iam in (False, True):
            started = time.perf_counter()
            engine_times, loop_times, gaps = [], [], []
            engine = LocalEngine(project, ProcessLauncher(project), log_group="/bench")
            if iam:
                enforce(engine)
            with engine:
                ready = time.perf_counter() - started
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    result = engine.run(definition(args.tasks, args.sleep), {})
                    engine_times.append(time.perf_counter() - t0)
                    assert result.status == "SUCCEEDED", result.cause
                    tasks = result.tasks
                    gaps += [
                        (b.started_at - a.stopped_at) * 1000 for a, b in itertools.pairwise(tasks)
                    ]
                    loop_times.append(bash_loop(project, args.tasks, args.sleep))
                ready_and_runs = time.perf_counter() - started
            engine_s = statistics.median(engine_times)
            loop_s = statistics.median(loop_times)
            overhead_ms = (engine_s - loop_s) / args.tasks * 1000
            mode = "IAM checks on " if iam else "IAM checks off"
            print(f"--- {mode}")
            print(f"engine start-up       {ready:.2f} s (all: {ready_and_runs:.1f} s)")
            print(f"engine run            {engine_s:.3f} s")
            print(f"bash loop             {loop_s:.3f} s")
            print(f"overhead per task     {overhead_ms:.1f} ms (target <= 25 ms)")
            print(f"ratio engine / bash   {engine_s / loop_s:.3f}")
            gap = statistics.median(gaps)
            print(f"task-to-task gap      {gap:.1f} ms median (a task stops -> the next starts)")


def enforce(engine: object) -> None:
    """Checks as `longjob run` makes them, against roles that allow what the tasks need."""
    from longjob.engine.authorization import Authorizer, Principal
    from longjob.engine.patches.iam_checks import STEP_FUNCTIONS_KEY
    from longjob.engine.task_definition import TaskDefinition
    from longjob.stack.roles import Role, Statement

    def role(name: str, actions: list[str]) -> Role:
        statement = {"Effect": "Allow", "Action": actions, "Resource": "*"}
        arn = f"arn:aws:iam::123456789012:role/{name}"
        return Role(name, name, arn, (Statement("bench", 0, statement),))

    authorizer = Authorizer()
    authorizer.register(
        STEP_FUNCTIONS_KEY, Principal(role("machine", ["ecs:*", "iam:PassRole"]), "sfn")
    )
    writer = role("execution", ["logs:CreateLogStream", "logs:PutLogEvents", "ecr:*"])
    authorizer.add_role(writer)
    authorizer.passed_to_ecs = [writer.arn]
    engine.enforce(authorizer)  # type: ignore[attr-defined]
    engine.log_writer = Principal(writer, "task")  # type: ignore[attr-defined]
    engine.runtime.task_definition = TaskDefinition(  # type: ignore[attr-defined]
        family="bench", image="123456789012.dkr.ecr.us-east-1.amazonaws.com/bench:1"
    )


if __name__ == "__main__":
    main()
