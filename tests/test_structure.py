"""The code's shape: no import cycles in src/ or layers/ (imports inside functions count)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = {"longjob": ROOT / "src" / "longjob", "longjob_core": ROOT / "layers/core/longjob_core"}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join([package, *parts]).removesuffix(".__init__")
            found[name] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found |= {name for name in names if name in known}
    return found


def test_no_import_cycles() -> None:
    known = modules()
    graph = {name: imports(path, set(known)) - {name} for name, path in known.items()}
    cycles = []

    def visit(node: str, trail: list[str], done: set[str]) -> None:
        for target in sorted(graph[node]):
            if target in trail:
                cycles.append(" -> ".join([*trail[trail.index(target) :], target]))
            elif target not in done:
                visit(target, [*trail, target], done)
        done.add(node)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name], done)
    assert cycles == []


def test_the_engine_loads_moto_batch_and_ec2_only_for_a_batch_task() -> None:
    """moto's Batch integration (and EC2 behind it) is most of the engine's import time; a
    job never uses it, so it loads when a Batch task state is built, not before."""
    import subprocess

    from tests.conftest import VENV_BIN

    probe = (
        "import sys\n"
        "import longjob.engine.local_engine\n"
        "print('moto.batch.models' in sys.modules, 'moto.ec2.models' in sys.modules)\n"
        "from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import "
        "state_task_service_factory as factory\n"
        "service = factory.state_task_service_for('batch')\n"
        "print(type(service).__module__.endswith('state_task_service_batch'),"
        " 'moto.batch.models' in sys.modules)\n"
    )
    result = subprocess.run(
        [str(VENV_BIN / "python"), "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["False False", "True True"]
