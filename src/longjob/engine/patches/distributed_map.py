"""A Distributed Map (a wide stage) runs as on AWS: children, tolerated failures, results.

moto 5.2.5 runs a Distributed Map's items, but not as AWS does (docs/aws-facts.md,
"Distributed Map"):
- its grammar refuses `ResultWriter.Arguments`, the JSONata form AWS documents; the
  definition is read with them as `Parameters` and evaluated as JSONata here;
- its ResultWriter writes an empty manifest; here it writes what AWS writes: the manifest
  and `SUCCEEDED_0.json` / `FAILED_0.json` / `PENDING_0.json` with one entry per child
  execution (its ARN, name, input, output or error and cause, status, dates), also when the
  Map Run failed;
- it reads a JSONata ToleratedFailureCount as a second percentage (and refuses the
  definition that has both), and ignores both at run time; here the Map Run fails with
  `States.ExceedToleratedFailureThreshold` once more items failed (or timed out) than
  either allows, and starts no further item;
- its children share the parent's variables, context and history; here each child sees no
  outer variable (AWS: "Distributed Map states cannot currently reference variables in outer
  scopes"), has its own `Execution` in the context object and its own history, whose
  length is kept (`children(map_run_arn)`) so tests can hold the quota guard to it;
- the state machine's role needs `states:StartExecution` on its own state machine to start
  the children; here that is checked as IAM would, before the first child.

Items that would still run when the Map Run fails are not started (PENDING). Children
already running finish: AWS stops them, which locally would only cut a test short.
"""

from __future__ import annotations

import datetime
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.parargs import Parargs
from moto.stepfunctions.parser.asl.component.common.query_language import QueryLanguageMode
from moto.stepfunctions.parser.asl.component.common.string.string_expression import (
    StringJSONata,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    distributed_iteration_component as iteration_module,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker as worker_module,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.inline_item_processor_worker import (  # noqa: E501
    InlineItemProcessorWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3 import (  # noqa: E501
    ResourceEvalS3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.result_writer_decl import (  # noqa: E501
    ResultWriter,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (
    ToleratedFailureCountStringJSONata,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    Resource,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped
from moto.stepfunctions.parser.asl.eval.variable_store import VariableStore
from moto.stepfunctions.parser.asl.parse import asl_parser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

from longjob.engine.authorization import AccessDenied
from longjob.engine.patches.iam_checks import STEP_FUNCTIONS_KEY, current
from longjob.stack.iam_policy import Request

THRESHOLD_ERROR = "States.ExceedToleratedFailureThreshold"
# Map Runs whose children this process remembers (children()), the latest ones.
KEPT_MAP_RUNS = 50
# A child's own events that moto does not record: ExecutionStarted and its end.
CHILD_EXECUTION_EVENTS = 2

_original_parse = asl_parser.AmazonStateLanguageParser.parse
_original_visit_writer = Preprocessor.visitResult_writer_decl
_original_visit_count = Preprocessor.visitTolerated_failure_count_string_jsonata
_original_map_run = iteration_module.DistributedIterationComponent._map_run
_original_eval_job = worker_module.DistributedItemProcessorWorker._eval_job
_original_eval_pool = worker_module.DistributedItemProcessorWorker._eval_pool
_original_put_object = ResourceEvalS3._handle_put_object
_original_eval_execution = StateMap._eval_execution
_inline_eval_input = InlineItemProcessorWorker._eval_input


@dataclass
class Child:
    """One item's child execution, as a result file lists it."""

    index: int
    arn: str
    name: str
    state_machine: str
    start: datetime.datetime
    input: Any = None
    output: Any = None
    status: str = "RUNNING"
    error: str | None = None
    cause: str | None = None
    stop: datetime.datetime | None = None
    events: int = 0
    states_entered: int = 0  # its billed state transitions (retries in place aside)
    states: frozenset[str] = frozenset()  # the names of the states it entered


@dataclass
class MapRun:
    """What longjob keeps of one Map Run beside moto's record."""

    arn: str
    total: int
    tolerated_count: int
    tolerated_percentage: float
    children: list[Child] = field(default_factory=list)
    failed: int = 0
    exceeded: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: dict[str, Any] = field(default_factory=dict)  # child name -> its environment

    count_declared: bool = True
    percentage_declared: bool = True

    def exceeds(self) -> bool:
        """AWS: failed or timed-out items over the count, or over the percentage of all; a
        Map that declares neither tolerates none."""
        if not (self.count_declared or self.percentage_declared):
            return self.failed > 0
        over_count = self.count_declared and self.failed > self.tolerated_count
        over_share = (
            self.percentage_declared
            and self.total > 0
            and self.failed * 100 / self.total > self.tolerated_percentage
        )
        return over_count or over_share


# Which tolerated-failure fields the Map being evaluated declares (per thread: a Map's
# evaluation and its Map Run's set-up run on one thread). moto fills a missing one with 0.
_declared = threading.local()
_runs: dict[str, MapRun] = {}
_runs_lock = threading.Lock()
# A child execution's name -> the name of the run it belongs to (its parent's).
_run_names: dict[str, str] = {}


def run_name(execution_name: str) -> str:
    """The run an execution belongs to: its own name, or a child's parent's (a wide stage's
    tasks are the run's tasks: their logs, their report)."""
    return _run_names.get(execution_name, execution_name)


def children(map_run_arn: str) -> list[Child]:
    """The child executions of a Map Run this process ran (for tests and reports)."""
    run = _runs.get(map_run_arn)
    return [] if run is None else list(run.children)


# --- ResultWriter.Arguments -------------------------------------------------------------------


def _parse(definition: str) -> Any:
    """Reads ResultWriter.Arguments as Parameters, which moto's grammar accepts."""
    try:
        document = json.loads(definition)
    except ValueError:
        return _original_parse(definition)
    if _rename_writer_arguments(document):
        definition = json.dumps(document)
    return _original_parse(definition)


def _rename_writer_arguments(node: Any) -> bool:
    changed = False
    if isinstance(node, dict):
        writer = node.get("ResultWriter")
        if isinstance(writer, dict) and "Arguments" in writer and "Parameters" not in writer:
            writer["Parameters"] = writer.pop("Arguments")
            changed = True
        for value in node.values():
            changed = _rename_writer_arguments(value) or changed
    elif isinstance(node, list):
        for value in node:
            changed = _rename_writer_arguments(value) or changed
    return changed


class _JSONataArguments(Parargs):
    """Arguments whose "{% %}" strings are JSONata, evaluated in the state's scope."""

    def __init__(self, template: Any) -> None:
        super().__init__(template_eval_component=None)  # type: ignore[arg-type]
        self.template = template

    def _eval_body(self, env: Any) -> None:
        env.stack.append(self._evaluate(self.template, env))

    def _evaluate(self, value: Any, env: Any) -> Any:
        if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):
            StringJSONata(expression=value[2:-2].strip()).eval(env)
            return env.stack.pop()
        if isinstance(value, dict):
            return {k: self._evaluate(v, env) for k, v in value.items()}
        if isinstance(value, list):
            return [self._evaluate(v, env) for v in value]
        return value


def _visit_writer(self: Preprocessor, ctx: Any) -> ResultWriter:
    if not self._is_query_language(query_language_mode=QueryLanguageMode.JSONata):
        return _original_visit_writer(self, ctx)
    resource = None
    template: Any = None
    for child in ctx.children[3:-1]:
        parameters = child.parameters_decl() if hasattr(child, "parameters_decl") else None
        if parameters is not None:
            template = json.loads(parameters.payload_tmpl_decl().getText())
            continue
        component = self.visit(child)
        if isinstance(component, Resource):
            resource = component
    if resource is None or template is None:
        raise ValueError(f"Expected a Resource and Arguments at '{ctx.getText()}'.")
    return ResultWriter(resource=resource, parargs=_JSONataArguments(template))


def _visit_count(self: Preprocessor, ctx: Any) -> ToleratedFailureCountStringJSONata:
    return ToleratedFailureCountStringJSONata(
        string_jsonata=self.visitString_jsonata(ctx=ctx.string_jsonata())
    )


# --- the Map Run ------------------------------------------------------------------------------


def _iso(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds")


def _map_run(self: Any, env: Any, eval_input: Any) -> None:
    record = eval_input.map_run_record
    items = env.stack[-1]
    _authorize_children(env, record)
    run = MapRun(
        arn=record.map_run_arn,
        total=len(items),
        tolerated_count=int(eval_input.tolerated_failure_count or 0),
        tolerated_percentage=float(eval_input.tolerated_failure_percentage or 0),
        count_declared=getattr(_declared, "count", True),
        percentage_declared=getattr(_declared, "percentage", True),
    )
    with _runs_lock:
        _runs[record.map_run_arn] = run
        for old in list(_runs)[:-KEPT_MAP_RUNS]:  # a long-lived engine keeps the latest
            del _runs[old]
    # AWS counts every item read from the start; the unstarted ones as pending.
    record.item_counter.pending.offset(len(items))
    record.item_counter.total.offset(len(items))
    _original_map_run(self, env, eval_input)
    if run.exceeded:
        raise FailureEventException(
            failure_event=FailureEvent(
                env=env,
                error_name=StatesErrorName(
                    typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold
                ),
                event_type=HistoryEventType.MapRunFailed,
                event_details=EventDetails(
                    mapRunFailedEventDetails=MapRunFailedEventDetails(
                        error=THRESHOLD_ERROR,
                        cause=(
                            f"The number of failed items ({run.failed}) exceeds the tolerated "
                            f"failure count ({run.tolerated_count}) or percentage "
                            f"({run.tolerated_percentage:g}%) of {run.total} items"
                        ),
                    )
                ),
            )
        )


def _authorize_children(env: Any, record: Any) -> None:
    """The Map starts each child with StartExecution on the state machine, as its role."""
    checked = current()
    if checked is None:
        return
    authorizer, _identity = checked
    principal = authorizer.principal(STEP_FUNCTIONS_KEY)
    if principal is None:
        return
    machine = env.states.context_object.context_object_data["StateMachine"]["Id"]
    try:
        authorizer.check(principal, [Request("states:StartExecution", machine)])
    except AccessDenied as denial:
        # AWS does not document the Map Run's error for this; the Map fails either way.
        raise FailureEventException(
            failure_event=FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
                event_type=HistoryEventType.MapRunFailed,
                event_details=EventDetails(
                    mapRunFailedEventDetails=MapRunFailedEventDetails(
                        error="States.Runtime",
                        cause=f"states:StartExecution refused, no child started: {denial.message}",
                    )
                ),
            )
        ) from None


def _eval_job(self: Any, env: Any, job: Any) -> None:
    record = self._map_run_record
    run = _runs[record.map_run_arn]
    counter = record.item_counter
    counter.pending.offset(-1)
    counter.total.offset(-1)  # moto counts each item as it starts; _map_run counted them all
    name = str(uuid.uuid4())
    child = Child(
        index=job.job_index,
        arn=record.map_run_arn.replace(":mapRun:", ":execution:").rsplit(":", 1)[0] + ":" + name,
        name=name,
        state_machine=record.map_state_machine_arn,
        start=datetime.datetime.now(datetime.UTC),
    )
    # A child is an execution of its own: no outer variables, its own context and history.
    env.variable_store = VariableStore()
    env.event_manager = EventManager()
    context = env.states.context_object.context_object_data
    _run_names[name] = run_name(context["Execution"]["Name"])
    context["Execution"] = {
        **context["Execution"],
        "Id": child.arn,
        "Name": name,
        "StartTime": _iso(child.start),
        "Input": None,  # the item's input, once ItemSelector made it (_eval_input)
        "RedriveCount": 0,
    }
    with run.lock:
        run.running[name] = env
    try:
        _original_eval_job(self, env, job)
    finally:
        with run.lock:
            run.running.pop(name, None)
        _run_names.pop(name, None)  # its tasks have ended with it
    child.stop = datetime.datetime.now(datetime.UTC)
    history = env.event_manager._history_event_list
    child.events = len(history) + CHILD_EXECUTION_EVENTS
    entered = [e for e in history if str(e.get("type", "")).endswith("StateEntered")]
    child.states_entered = len(entered)
    child.states = frozenset(
        e["stateEnteredEventDetails"]["name"] for e in entered if "stateEnteredEventDetails" in e
    )
    state = env.program_state()
    if isinstance(state, ProgramError) or (
        job.job_output is None and not isinstance(state, ProgramStopped)
    ):
        details = getattr(state, "error", None) or {}
        child.status = "FAILED"
        child.error, child.cause = details.get("error"), details.get("cause")
    elif isinstance(state, ProgramStopped):
        child.status = "ABORTED"
    else:
        child.status = "SUCCEEDED"
        child.output = job.job_output
    child.input = env.states.context_object.context_object_data["Execution"]["Input"]
    stopping: list[Any] = []
    with run.lock:
        run.children.append(child)
        if child.status == "FAILED":
            run.failed += 1
            if not run.exceeded and run.exceeds():
                run.exceeded = True
                stopping = list(run.running.values())
    # AWS stops the children still running "because the Map Run failed" (they count as
    # aborted, MapRunExecutionCounts); a stopped child's ECS task is stopped with it.
    for other in stopping:
        other.set_stop(
            stop_date=datetime.datetime.now(datetime.UTC),
            cause="The Map Run failed: its tolerated failure threshold was exceeded",
            error="States.Aborted",
        )


def _eval_input(self: Any, env_frame: Any) -> None:
    _inline_eval_input(self, env_frame)
    context = env_frame.states.context_object.context_object_data
    context["Execution"] = {**context["Execution"], "Input": env_frame.states.get_input()}


def _eval_pool(self: Any, job: Any, worker_frame: Any) -> None:
    run = _runs.get(self._map_run_record.map_run_arn)
    if job is not None and run is not None and run.exceeded:
        # The Map Run has failed: no further item starts (it stays PENDING).
        self._env.delete_frame(worker_frame)
        job.job_output = None
        self._job_pool.close_job(job)
        _drain(self._job_pool)
        return
    _original_eval_pool(self, job, worker_frame)


def _drain(pool: Any) -> None:
    while (job := pool.next_job()) is not None:
        job.job_output = None
        pool.close_job(job)


# --- ResultWriter -----------------------------------------------------------------------------


def _entry(child: Child) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "ExecutionArn": child.arn,
        "Input": json.dumps(child.input, separators=(",", ":")),
        "InputDetails": {"Included": True},
        "Name": child.name,
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE",
        "RedriveStatusReason": "Execution is SUCCEEDED and cannot be redriven"
        if child.status == "SUCCEEDED"
        else "Execution is a child of a Map Run",
        "StartDate": _iso(child.start),
        "StateMachineArn": child.state_machine,
        "Status": child.status,
        "StopDate": _iso(child.stop),
    }
    if child.status == "SUCCEEDED":
        entry["Output"] = json.dumps(child.output, separators=(",", ":"))
        entry["OutputDetails"] = {"Included": True}
    else:
        entry["Error"] = child.error
        entry["Cause"] = child.cause
    return entry


def _put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    parameters = env.stack.pop()
    env.stack.pop()  # the Map's outputs: the result files hold them
    s3 = boto_client_for(
        service="s3", region=resource_runtime_part.region, state_credentials=state_credentials
    )
    record = env.map_run_record_pool_manager.get_all()[-1]
    run = _runs.get(record.map_run_arn)
    bucket, prefix = parameters["Bucket"], parameters.get("Prefix", "")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    folder = prefix + record.map_run_arn.split(":")[-1] + "/"
    done = sorted(run.children if run else [], key=lambda c: c.index)
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status in ("SUCCEEDED", "FAILED"):
        entries = [_entry(c) for c in done if (c.status == "SUCCEEDED") == (status == "SUCCEEDED")]
        if entries:
            key = f"{folder}{status}_0.json"
            body = json.dumps(entries).encode()
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            files[status].append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": bucket, "MapRunArn": record.map_run_arn, "ResultFiles": files}
    key = folder + "manifest.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode())
    for child in done:  # written: a 10,000-item run need not keep every item's input
        child.input = child.output = None
    env.stack.append(
        {"MapRunArn": record.map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": key}}
    )


def _eval_execution(self: StateMap, env: Any) -> None:
    """AWS writes a failed Map Run's results too (FAILED and PENDING files)."""
    _declared.count = not _is_default(self.tolerated_failure_count_decl, "tolerated_failure_count")
    _declared.percentage = not _is_default(
        self.tolerated_failure_percentage_decl, "tolerated_failure_percentage"
    )
    try:
        _original_eval_execution(self, env)
    except FailureEventException:
        record = env.map_run_record_pool_manager.get_all()
        if self.result_writer is not None and record and record[-1].map_run_arn in _runs:
            env.stack.append(None)  # where the Map's outputs would be
            self.result_writer.eval(env)
            env.stack.pop()
        raise


def _is_default(decl: Any, attribute: str) -> bool:
    """moto's stand-in for a field the definition leaves out: a literal 0 (a literal 0 in
    the definition reads the same, and means the same unless the other field is given)."""
    return type(decl).__name__ in (
        "ToleratedFailureCountInt",
        "ToleratedFailurePercentage",
    ) and not getattr(decl, attribute, 0)


def _replacements() -> list[tuple[type, str, Any]]:
    worker = worker_module.DistributedItemProcessorWorker
    return [
        (asl_parser.AmazonStateLanguageParser, "parse", staticmethod(_parse)),
        (Preprocessor, "visitResult_writer_decl", _visit_writer),
        (Preprocessor, "visitTolerated_failure_count_string_jsonata", _visit_count),
        (iteration_module.DistributedIterationComponent, "_map_run", _map_run),
        (worker, "_eval_job", _eval_job),
        (worker, "_eval_input", _eval_input),  # inherited until now: removed again after
        (worker, "_eval_pool", _eval_pool),
        (ResourceEvalS3, "_handle_put_object", staticmethod(_put_object)),
        (StateMap, "_eval_execution", _eval_execution),
    ]


# What install() replaced, as the classes held it (None: the class did not define it).
_saved: list[tuple[type, str, Any]] = []


def install() -> None:
    for owner, name, replacement in _replacements():
        _saved.append((owner, name, owner.__dict__.get(name)))
        setattr(owner, name, replacement)


def uninstall() -> None:
    while _saved:
        owner, name, original = _saved.pop()
        if original is None:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
