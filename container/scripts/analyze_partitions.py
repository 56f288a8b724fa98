"""ANALYZE each table of a partitioned set, resuming where an earlier attempt stopped.

    analyze_partitions.py --database NAME [--pattern 'events_%'] [--pause SECONDS]

A long loop made safe to interrupt: after each table the last one done goes to the task's
checkpoint (LONGJOB_CHECKPOINT, lib/checkpoint.py), and a retry (a Spot interruption, the
attempt's deadline, a redrive) starts after it. On SIGTERM the table in progress is given
up and the script exits 143 with the checkpoint already written. The connection uses the
standard variables (PGHOST, PGUSER, PGPASSWORD...). Exit 2 on bad arguments, 1 on a
database or checkpoint error.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import checkpoint  # the toolbox's own helper (lib/, beside the scripts)

LIST = (
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
    "AND tablename LIKE :'pattern' ORDER BY tablename"
)
ANALYZE = "SELECT format('ANALYZE public.%I', :'table') \\gexec"
STOPPED = 143  # 128 + SIGTERM, as a shell reports it
stopping = False


def psql(database: str, sql: str, **variables: str) -> str:
    args = ["psql", "--no-psqlrc", "--no-password", "-X", "-At", "-v", "ON_ERROR_STOP=1"]
    for name, value in variables.items():
        args += ["-v", f"{name}={value}"]
    result = subprocess.run(
        [*args, "--dbname", database, "-f", "-"],
        input=sql,
        text=True,
        capture_output=True,
        check=False,
    )
    if result.returncode < 0 or stopping:  # SIGTERM reached psql too (its process group)
        raise Stopped
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip() or f"psql exited {result.returncode}")
    return result.stdout


class Stopped(Exception):
    """SIGTERM: the table in progress is given up; the checkpoint has the last one done."""


def stop(_signum: int, _frame: Any) -> None:
    global stopping  # the loop checks it between tables
    stopping = True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--pattern", default="%", help="LIKE pattern of the tables (default %%)")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between tables")
    options = parser.parse_args()
    if "=" in options.database or "://" in options.database:
        parser.error("--database is a name, not a connection string")
    signal.signal(signal.SIGTERM, stop)
    try:
        saved = checkpoint.get()
        done = json.loads(saved)["done"] if saved else None
        tables = psql(options.database, LIST, pattern=options.pattern).split()
    except Stopped:
        return STOPPED
    except (checkpoint.CheckpointError, RuntimeError, ValueError, KeyError, TypeError) as error:
        print(f"analyze_partitions: {error}", file=sys.stderr)
        return 1
    todo = [t for t in tables if done is None or t > done]
    if done is not None:
        print(f"analyze_partitions: resuming after {done}: {len(todo)} of {len(tables)} left")
    for table in todo:
        try:
            if stopping:
                raise Stopped
            psql(options.database, ANALYZE, table=table)
            checkpoint.put(json.dumps({"done": table}).encode())
        except Stopped:
            print("analyze_partitions: stopped; the next attempt resumes from the checkpoint")
            return STOPPED
        except (checkpoint.CheckpointError, RuntimeError) as error:
            print(f"analyze_partitions: {table}: {error}", file=sys.stderr)
            return 1
        print(f"analyzed {table}", flush=True)
        pause_until = time.monotonic() + options.pause
        while not stopping and time.monotonic() < pause_until:
            time.sleep(0.05)
    try:
        checkpoint.clear()  # all done: nothing to resume
    except checkpoint.CheckpointError as error:
        print(f"analyze_partitions: {error} (the work is done)", file=sys.stderr)
    print(f"analyze_partitions: {len(tables)} table(s) analyzed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
