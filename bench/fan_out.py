"""A fan-out stage on the local stack against `xargs -P` of the same entrypoint calls.

    .venv/bin/python bench/fan_out.py [--items N] [--concurrency C] [--sleep S] [--repeat R]
        [--fail-percent P --tolerate T] [--no-xargs]

The job is one forEach stage of N items at maxConcurrency C, each task `sleep S` through
container/entrypoint.sh (process runtime), run as `longjob run JOB.json` runs it: the
project's state machine on the local stack, IAM checks on. Over 40 items the stage is a wide
stage (a Distributed Map: each item a child execution). The baseline runs the same N
entrypoint calls with `xargs -P C`. With --fail-percent, that share of the items fails
(the first of each hundred) and --tolerate sets the stage's toleratedFailurePercentage.

Issue 11's targets: 200 x sleep 0.1 at 20, a ratio of 1.5 or less (9.0 before the work
began); 2,000 x sleep 0 at 100, 2 or less; 5,000 x sleep 0 at 100 runs to SUCCEEDED with no
execution over 25,000 events (its wall time reported).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """sleep "$1"
if (( $2 % 100 < ${FAIL_PERCENT:-0} )); then echo "item $2 fails on purpose"; exit 1; fi
"""


def project_copy(into: Path) -> Path:
    for folder in ("container", "statemachine", "functions"):
        shutil.copytree(ROOT / folder, into / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("template.yaml", "samconfig.toml"):
        shutil.copy(ROOT / name, into / name)
    (into / "container" / "scripts" / "bench_sleep.sh").write_text(SCRIPT)
    return into


def document(
    items: int, concurrency: int, sleep: float, fail_percent: int, tolerate: float | None
) -> dict:
    stage = {
        "name": "wide",
        "run": ["bash", "bench_sleep.sh", str(sleep), "{item}"],
        "forEach": list(range(items)),
        "maxConcurrency": concurrency,
        "env": {"FAIL_PERCENT": str(fail_percent)},
    }
    if tolerate is not None:
        stage["toleratedFailurePercentage"] = tolerate
    return {"job": "fan-out", "concurrency": "allow", "stages": [stage]}


def xargs(project: Path, items: int, concurrency: int, sleep: float) -> float:
    entrypoint = project / "container" / "entrypoint.sh"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    subprocess.run(
        [
            "xargs",
            "-P",
            str(concurrency),
            "-I{}",
            str(entrypoint),
            "bash",
            "bench_sleep.sh",
            "--",
            str(sleep),
            "{}",
        ],
        input="\n".join(str(i) for i in range(items)),
        text=True,
        check=True,
        capture_output=True,
        env=env,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--sleep", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fail-percent", type=int, default=0)
    parser.add_argument("--tolerate", type=float, default=None)
    parser.add_argument("--no-xargs", action="store_true")
    args = parser.parse_args()

    from longjob_core.limits import HISTORY_EVENTS
    from longjob_core.summary import summary_from

    from longjob.cli.operate import start_run
    from longjob.engine.launchers import ProcessLauncher
    from longjob.engine.patches.distributed_map import children
    from longjob.stack.application import load_application
    from longjob.stack.local import LocalStack

    with tempfile.TemporaryDirectory() as tmp:
        project = project_copy(Path(tmp))
        job = document(args.items, args.concurrency, args.sleep, args.fail_percent, args.tolerate)
        engine_times, xargs_times = [], []
        for run in range(args.repeat):
            application = load_application(project, {})
            with LocalStack(application, ProcessLauncher(project), 5.0) as local:
                assert local.aws is not None
                assert local.stack is not None
                started = time.perf_counter()
                arn = start_run(local.aws, local.stack, job, f"fan-out-{run}")
                result = local.end(arn)
                engine_times.append(time.perf_counter() - started)
            summary = summary_from(result.output, result.cause) or {}
            stage = (summary.get("stages") or [{}])[0]
            child_events = [c.events for c in children(stage.get("mapRun") or "")]
            biggest = max([len(result.history), *child_events])
            print(
                f"run {run}: {summary.get('status')} in {engine_times[-1]:.2f} s, "
                f"{stage.get('succeeded')}/{stage.get('tasks')} succeeded, "
                f"{stage.get('failed', 0)} failed, {stage.get('notRun', 0)} not run; "
                f"history: run {len(result.history)} events, "
                f"largest child {max(child_events, default=0)} "
                f"({len(child_events)} children)"
            )
            for failure in stage.get("failures") or []:
                print(f"  first failures: item {failure['item']} exit {failure['exitCode']}")
            assert biggest < HISTORY_EVENTS
            if not args.fail_percent:
                assert result.status == "SUCCEEDED", result.cause
                assert len(result.tasks) == args.items
            if not args.no_xargs:
                xargs_times.append(xargs(project, args.items, args.concurrency, args.sleep))
        engine_s = statistics.median(engine_times)
        print(
            f"stage                 {args.items} items x sleep {args.sleep}s at "
            f"{args.concurrency}, median of {args.repeat}"
        )
        print(f"engine (longjob run)  {engine_s:.2f} s")
        if xargs_times:
            xargs_s = statistics.median(xargs_times)
            print(f"xargs -P {args.concurrency:<13d}{xargs_s:.2f} s")
            print(f"ratio                 {engine_s / xargs_s:.2f}")


if __name__ == "__main__":
    main()
