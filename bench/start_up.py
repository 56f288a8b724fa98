"""How soon a local run gets going: the two start-up figures of issue 11.

    .venv/bin/python bench/start_up.py [--runs 7]

1. `longjob run --definition` of a one-Pass-state machine, wall time (target <= 1.0 s);
2. `longjob run jobs/examples/hello.json`, from the command's start to the first line of its
   first task (target <= 1.5 s).

Each is run --runs times; the median, the range and the ratio to the target are printed.
Run it on an idle machine: a concurrent test run doubles both figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LONGJOB = str(Path(sys.executable).parent / "longjob")
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def definition_run(path: str) -> float:
    began = time.monotonic()
    subprocess.run(
        [LONGJOB, "run", "--definition", path], cwd=ROOT, capture_output=True, check=True
    )
    return time.monotonic() - began


def first_task_line() -> float:
    began = time.monotonic()
    process = subprocess.Popen(
        [LONGJOB, "run", "jobs/examples/hello.json"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    took = float("nan")
    for line in process.stdout:
        if line.startswith("[hello-bash] {"):  # the entrypoint's first line
            took = time.monotonic() - began
            break
    process.wait()
    return took


def report(name: str, times: list[float], target: float) -> None:
    median = statistics.median(times)
    print(
        f"{name}: median {median:.2f} s (range {min(times):.2f}-{max(times):.2f}), "
        f"target {target:.1f} s, ratio {median / target:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".asl.json", delete=False) as out:
        json.dump(PASS, out)
    definition_run(out.name)  # warms the template cache and the file system
    report("run --definition (Pass)", [definition_run(out.name) for _ in range(args.runs)], 1.0)
    report("hello: first task line", [first_task_line() for _ in range(args.runs)], 1.5)
    Path(out.name).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
