"""longjob's patches to moto 5.2.5's Step Functions engine, in one place.

Each module closes one gap between moto's engine and AWS (its docstring says which) and has
``install()`` and ``uninstall()``; a LocalEngine installs them all while it runs and takes
them out again, so nothing outside a local run sees a patched moto.
"""

from __future__ import annotations

from longjob.engine.patches import (
    aborted_map,
    context_object,
    definite_paths,
    distributed_map,
    ecs_tasks,
    evaluation_errors,
    execution_output,
    history_pages,
    iam_checks,
    iteration_errors,
    jsonata,
    parse_scopes,
    start_execution,
    task_callbacks,
    variables,
    worker_failures,
)

# Installed in this order, taken out in the reverse one: evaluation_errors wraps the error
# output that aborted_map replaced.
PATCHES = (
    worker_failures,
    parse_scopes,
    jsonata,
    definite_paths,
    context_object,
    variables,
    execution_output,
    history_pages,
    aborted_map,
    distributed_map,
    iteration_errors,
    evaluation_errors,
    iam_checks,
    ecs_tasks,
    start_execution,
    task_callbacks,
)


def install() -> None:
    for patch in PATCHES:
        patch.install()


def uninstall() -> None:
    for patch in reversed(PATCHES):
        patch.uninstall()
