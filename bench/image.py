"""The toolbox image's size, its layers, what fills it, and the cold start of the seed's call.

    .venv/bin/python bench/image.py [IMAGE]      default: localhost/longjob-toolbox:dev

Builds nothing: run `make image` (tools/build-image.sh) first. Prints the size Podman
reports, each layer with the instruction that made it, the biggest folders inside, and the
median of 5 `podman run … python test.py 'param1 param2'` wall times (a container started
from the stored image each time: no layer cache on Fargate either, but here the image is
already local, so this is the start-up of the container and of Python, not the pull).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from longjob.containers import engine_command, run_flags  # noqa: E402

MIB = 1024 * 1024
RUNS = 5


def podman(*args: str, capture: bool = True) -> str:
    result = subprocess.run(
        [*engine_command("podman"), *args], capture_output=capture, text=True, check=True
    )
    return result.stdout


def layers(image: str) -> list[tuple[int, str]]:
    history = json.loads(podman("history", "--format", "json", image))
    rows = []
    for layer in reversed(history):
        created = " ".join(str(layer.get("CreatedBy") or layer.get("createdBy") or "").split())
        rows.append((int(layer.get("size") or layer.get("Size") or 0), created[:90]))
    return rows


def biggest_folders(image: str) -> str:
    script = (
        "du -x -s -m /usr/lib/* /usr/share/* /usr/bin /opt/venv/lib/python3*/site-packages/* "
        "/var/lib/* 2>/dev/null | sort -rn | head -n 15"
    )
    return podman("run", "--rm", *run_flags("podman"), "--entrypoint", "sh", image, "-c", script)


def cold_start(image: str) -> list[float]:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(
            [
                *engine_command("podman"), "run", "--rm", *run_flags("podman"), image,
                "python", "test.py", "param1 param2",
            ],
            capture_output=True,
            check=True,
        )  # fmt: skip
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    image = sys.argv[1] if len(sys.argv) > 1 else "localhost/longjob-toolbox:dev"
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image).strip())
    print(f"image {image}: {size / MIB:.0f} MiB ({size:,} bytes)")
    print("\nlayers (oldest first):")
    for layer_size, created in layers(image):
        print(f"  {layer_size / MIB:7.1f} MiB  {created}")
    print("\nbiggest folders (MiB):")
    print(biggest_folders(image).rstrip())
    times = cold_start(image)
    print(
        f"\ncold start of `python test.py 'param1 param2'` (podman run, {RUNS} runs): "
        f"median {statistics.median(times):.3f} s, min {min(times):.3f} s, max {max(times):.3f} s"
    )


if __name__ == "__main__":
    main()
