"""A wide stage on the local stack against `xargs -P` of the same entrypoint calls.

    .venv/bin/python bench/fan_out.py [--items N] [--concurrency C] [--sleep S] [--repeat R]

The job is one forEach stage of N items at maxConcurrency C, each task `sleep S` through
container/entrypoint.sh (process runtime), run as `longjob run JOB.json` runs it: the
project's state machine on the local stack, IAM checks on. The baseline runs the same N
entrypoint calls with `xargs -P C`. Issue 11's target for 200 x 0.1 s at 20: a ratio of
1.5 or less (measured 9.0 before the work began).
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
SCRIPT = 'sleep "$1"\n'


def project_copy(into: Path) -> Path:
    for folder in ("container", "statemachine", "functions"):
        shutil.copytree(ROOT / folder, into / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("template.yaml", "samconfig.toml"):
        shutil.copy(ROOT / name, into / name)
    (into / "container" / "scripts" / "bench_sleep.sh").write_text(SCRIPT)
    return into


def document(items: int, concurrency: int, sleep: float) -> dict:
    return {
        "job": "fan-out",
        "concurrency": "allow",
        "stages": [
            {
                "name": "wide",
                "run": ["bash", "bench_sleep.sh", str(sleep)],
                "forEach": [f"item-{i}" for i in range(items)],
                "maxConcurrency": concurrency,
            }
        ],
    }


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
        ],
        input="\n".join(f"item-{i}" for i in range(items)),
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
    args = parser.parse_args()

    from longjob.cli.operate import start_run
    from longjob.engine.launchers import ProcessLauncher
    from longjob.stack.application import load_application
    from longjob.stack.local import LocalStack

    with tempfile.TemporaryDirectory() as tmp:
        project = project_copy(Path(tmp))
        job = document(args.items, args.concurrency, args.sleep)
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
                assert result.status == "SUCCEEDED", result.cause
                assert len(result.tasks) == args.items
            xargs_times.append(xargs(project, args.items, args.concurrency, args.sleep))
        engine_s = statistics.median(engine_times)
        xargs_s = statistics.median(xargs_times)
        print(
            f"stage                 {args.items} items x sleep {args.sleep}s at "
            f"{args.concurrency}, median of {args.repeat}"
        )
        print(f"engine (longjob run)  {engine_s:.2f} s")
        print(f"xargs -P {args.concurrency:<13d}{xargs_s:.2f} s")
        print(f"ratio                 {engine_s / xargs_s:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
