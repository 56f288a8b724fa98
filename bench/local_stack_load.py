"""Load on `longjob local up`: many executions of a 3-stage job started at once by boto3.

    .venv/bin/python bench/local_stack_load.py [--executions 50] [--stages 3]

Starts the project's local stack in the background (`longjob local up --detach`, IAM
checked, tasks as processes), starts N executions of a job whose stages each run
`container/scripts/test.sh` once, waits for all of them, and prints the throughput
(executions per minute, from the first start to the last end), the server's peak memory
(RSS, sampled every 0.2 s), and whether any task process was left after `longjob local down`.
Each execution is a different job (the overlap guard would skip runs of one job).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from longjob.engine.launchers import TASK_MARKER  # noqa: E402
from longjob.stack.server import ServerInfo  # noqa: E402

LONGJOB = str(Path(sys.executable).parent / "longjob")


def task_processes() -> int:
    count = 0
    for process in psutil.process_iter(["environ"]):
        try:
            count += TASK_MARKER in (process.info["environ"] or {})
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=50)
    parser.add_argument("--stages", type=int, default=3)
    args = parser.parse_args()

    began = time.monotonic()
    up = subprocess.run(
        [LONGJOB, "local", "up", "--port", "0", "--detach"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if up.returncode != 0:
        print(up.stdout + up.stderr, file=sys.stderr)
        return 1
    ready = time.monotonic() - began
    info = ServerInfo.load(ROOT)
    server = psutil.Process(info.pid)
    peak = [server.memory_info().rss]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.2):
            try:
                peak.append(server.memory_info().rss)
            except psutil.NoSuchProcess:
                return

    threading.Thread(target=sample, daemon=True).start()
    sfn = info.client("stepfunctions")
    try:
        first = time.monotonic()
        arns = []
        for n in range(args.executions):
            document = {
                "job": f"load-{n}",
                "stages": [
                    {"name": f"stage-{s}", "run": ["bash", "test.sh", f"load {n}"]}
                    for s in range(args.stages)
                ],
            }
            arns.append(
                sfn.start_execution(
                    stateMachineArn=info.state_machine_arn, input=json.dumps(document)
                )["executionArn"]
            )
        started = time.monotonic() - first
        statuses: dict[str, str] = {}
        while len(statuses) < len(arns):
            for arn in arns:
                if arn not in statuses:
                    status = sfn.describe_execution(executionArn=arn)["status"]
                    if status != "RUNNING":
                        statuses[arn] = status
            time.sleep(0.5)
        took = time.monotonic() - first
    finally:
        sampling.set()
        subprocess.run([LONGJOB, "local", "down"], cwd=ROOT, capture_output=True, check=False)
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    left = task_processes()
    print(f"server ready in {ready:.1f} s (pid {info.pid}, {os.cpu_count()} cores)")
    print(f"{args.executions} executions x {args.stages} stages started in {started:.1f} s")
    print(f"all ended in {took:.1f} s: {counts}")
    print(f"throughput {args.executions / took * 60:.1f} executions/min")
    print(f"server peak RSS {max(peak) / 2**20:.0f} MiB")
    print(f"task processes left after down: {left}")
    return 0 if counts == {"SUCCEEDED": args.executions} and left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
