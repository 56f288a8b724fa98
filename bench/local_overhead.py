"""What the local engine adds per task: N sequential one-task states vs a plain bash loop.

    .venv/bin/python bench/local_overhead.py [--tasks N] [--sleep S] [--repeat R]

Both sides run the same script through the same entrypoint (process runtime), so the
difference is the engine's own cost per task: ASL interpretation, RunTask, the .sync
wait and the bookkeeping, with the per-run costs (creating the state machine, reading
the history) spread over the tasks. Target: <= 25 ms per task.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import subprocess
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
    started = time.perf_counter()
    subprocess.run(["bash", "-c", loop], check=True, capture_output=True)
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
        engine_times, loop_times, gaps = [], [], []
        with LocalEngine(project, ProcessLauncher(project)) as engine:
            ready = time.perf_counter() - started
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                result = engine.run(definition(args.tasks, args.sleep), {})
                engine_times.append(time.perf_counter() - t0)
                assert result.status == "SUCCEEDED", result.cause
                tasks = result.tasks
                gaps += [(b.started_at - a.stopped_at) * 1000 for a, b in itertools.pairwise(tasks)]
                loop_times.append(bash_loop(project, args.tasks, args.sleep))

    engine_s = statistics.median(engine_times)
    loop_s = statistics.median(loop_times)
    overhead_ms = (engine_s - loop_s) / args.tasks * 1000
    print(f"tasks per run         {args.tasks} x sleep {args.sleep}s, median of {args.repeat}")
    print(f"engine start-up       {ready:.2f} s (imports {imported:.2f} s)")
    print(f"engine run            {engine_s:.3f} s")
    print(f"bash loop             {loop_s:.3f} s")
    print(f"overhead per task     {overhead_ms:.1f} ms (target <= 25 ms)")
    print(f"ratio engine / bash   {engine_s / loop_s:.3f}")
    gap = statistics.median(gaps)
    print(f"task-to-task gap      {gap:.1f} ms median (a task stops -> the next starts)")


if __name__ == "__main__":
    main()
