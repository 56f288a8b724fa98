"""Lambda and SNS calls of the engine, answered in-process.

moto's engine makes its service calls with ``boto3.client(...)`` on boto3's default session,
so botocore event handlers registered there see them: ``before-parameter-build`` keeps the
call's parameters, ``before-call`` answers it and the request never leaves the process.
Lambda tasks run the project's handler code (moto would need Docker); SNS messages are
captured for the caller to show.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from longjob.engine import ACCOUNT, thread_environ
from longjob.engine.authorization import AccessDenied, Authorizer, Principal
from longjob.engine.iam_requests import Call, Identity, kms_key_arn, requests_for
from longjob.stack.iam_policy import Request

_PARAMS_KEY = "longjob_api_params"
# SNS Publish's constraints (docs/aws-facts.md): moto accepts a subject of 100 characters
# and line breaks; AWS refuses both, and the notification is lost.
_SNS_SUBJECT_CHARS = 99
_SNS_MESSAGE_BYTES = 262_144


def sns_publish_problem(params: dict[str, Any]) -> str | None:
    """Why AWS would refuse this Publish (InvalidParameter), or None."""
    subject = params.get("Subject")
    if subject is not None:
        if not subject or len(subject) > _SNS_SUBJECT_CHARS:
            return "Invalid parameter: Subject (must be 1 to 99 characters)"
        if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in subject):
            return "Invalid parameter: Subject (no line breaks or control characters)"
    if len(params.get("Message", "").encode()) > _SNS_MESSAGE_BYTES:
        return "Invalid parameter: Message too long"
    return None


def function_name(name_or_arn: str) -> str:
    """``my-fn``, ``arn:aws:lambda:r:a:function:my-fn[:alias]``, ``a:function:my-fn``: ``my-fn``."""
    parts = name_or_arn.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return name_or_arn


@dataclass
class LambdaContext:
    """The parts of the Lambda context object handlers commonly use."""

    function_name: str
    aws_request_id: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 128
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    deadline: float = field(default_factory=lambda: time.time() + 900)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))


def load_handler(
    spec: str, project: Path, loaded: dict[Path, Any] | None = None
) -> Callable[[Any, Any], Any]:
    """``package.module:function`` or ``path/to/app.py:function`` (relative to project).

    A file is loaded once per ``loaded`` cache: one cache per engine is one cold start, as a
    new Lambda container would be, so clients a handler caches at module level (boto3
    clients bound to one engine's mock) never leak into the next engine's runs."""
    target, _, attribute = spec.partition(":")
    if not attribute:
        raise ValueError(f"handler {spec!r} must be 'module:function' or 'file.py:function'")
    if target.endswith(".py"):
        path = (project / target).resolve()
        loaded = {} if loaded is None else loaded
        module = loaded.get(path)
        if module is None:
            # Every SAM function is an `app.py`: a module name of its own keeps them apart.
            module_name = "longjob_local_fn_" + uuid.uuid4().hex
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            if module_spec is None or module_spec.loader is None:
                raise ValueError(f"cannot load handler file {path}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module
            module_spec.loader.exec_module(module)
            loaded[path] = module
    else:
        module = importlib.import_module(target)
    return getattr(module, attribute)


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function served locally: its handler and its environment variables."""

    handler: str
    environment: dict[str, str] = field(default_factory=dict)
    role_arn: str | None = None  # the function's execution role (its handler's calls are its)
    memory_mb: int = 128  # its MemorySize (Lambda's default)


@dataclass
class Notification:
    topic_arn: str
    subject: str | None
    message: str
    attributes: dict[str, Any]
    received_at: float = field(default_factory=time.time)

    @property
    def execution(self) -> str | None:
        """The execution name, when the publisher tagged the message with it."""
        return self.attributes.get("execution", {}).get("StringValue")


class ServiceHooks:
    """Registers the Lambda and SNS handlers on boto3's default session."""

    def __init__(
        self,
        functions: dict[str, str | FunctionSpec],
        project: Path,
        region: str,
        authorizer: Authorizer | None = None,
        topic_keys: dict[str, str] | None = None,
    ) -> None:
        self.functions = {
            function_name(k): v if isinstance(v, FunctionSpec) else FunctionSpec(v)
            for k, v in functions.items()
        }
        # One invocation at a time: handler modules are loaded once and share their globals.
        self._invoke_lock = threading.Lock()
        self._environ = contextlib.ExitStack()
        self.project = project
        self.region = region
        self.authorizer = authorizer
        # Topics encrypted with a KMS key: publishing needs the key too (SNS SSE).
        self.topic_keys = topic_keys or {}
        self.notifications: list[Notification] = []
        self._loaded: dict[Path, Any] = {}
        self._lock = threading.Lock()
        self._handlers = [
            ("before-parameter-build.lambda.Invoke", self._keep_params),
            ("before-parameter-build.sns.Publish", self._keep_params),
            ("before-call.lambda.Invoke", self._invoke),
            ("before-call.sns.Publish", self._publish),
        ]

    def __enter__(self) -> ServiceHooks:
        # Looked up now: mock_aws may have replaced boto3's default session since __init__.
        self._events = boto3._get_default_session().events
        self._environ.enter_context(thread_environ.installed())
        for event, handler in self._handlers:
            self._events.register(event, handler, unique_id=f"longjob-{event}")
        return self

    def __exit__(self, *exc: object) -> None:
        for event, _handler in self._handlers:
            self._events.unregister(event, unique_id=f"longjob-{event}")
        for module in self._loaded.values():
            sys.modules.pop(module.__name__, None)
        self._environ.close()

    @staticmethod
    def _keep_params(params: dict, context: dict, **_: Any) -> None:
        context[_PARAMS_KEY] = dict(params)

    @staticmethod
    def _response(parsed: dict) -> tuple[AWSResponse, dict]:
        parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": 200, "RequestId": "local"})
        return AWSResponse("http://longjob.local", 200, {}, None), parsed

    def _caller(self, request_signer: Any) -> Principal | None:
        if self.authorizer is None:
            return None
        credentials = getattr(request_signer, "_credentials", None)
        key = credentials.get_frozen_credentials().access_key if credentials else None
        return self.authorizer.principal(key)

    def _authorize(
        self, principal: Principal | None, requests: list[Request], operation: str, code: str
    ) -> None:
        if self.authorizer is None:
            return
        try:
            self.authorizer.check(principal, requests)
        except AccessDenied as denial:
            raise ClientError(
                {
                    "Error": {"Code": code, "Message": denial.message},
                    "ResponseMetadata": {"HTTPStatusCode": 403, "RequestId": "local"},
                },
                operation,
            ) from None

    def _function_principal(self, spec: FunctionSpec, name: str) -> Principal | None:
        if self.authorizer is None or spec.role_arn is None:
            return None
        role = self.authorizer.roles.get(spec.role_arn)
        return None if role is None else Principal(role, session=name)

    def _invoke(
        self, context: dict, request_signer: Any = None, **_: Any
    ) -> tuple[AWSResponse, dict]:
        params = context[_PARAMS_KEY]
        self._authorize(
            self._caller(request_signer),
            requests_for(Call("lambda", "Invoke", params), Identity(self.region, ACCOUNT)),
            "Invoke",
            "AccessDeniedException",
        )
        name = function_name(params["FunctionName"])
        spec = self.functions.get(name)
        if spec is None:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ResourceNotFoundException",
                        "Message": f"Function not found: {params['FunctionName']}",
                    },
                    "ResponseMetadata": {"HTTPStatusCode": 404, "RequestId": "local"},
                },
                "Invoke",
            )
        raw = params.get("Payload") or b"{}"
        event = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        request_id = str(uuid.uuid4())
        lambda_context = LambdaContext(
            function_name=name,
            aws_request_id=request_id,
            invoked_function_arn=f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}",
            memory_limit_in_mb=spec.memory_mb,
        )
        parsed: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
        acting = (
            self.authorizer.acting_as(self._function_principal(spec, name))
            if self.authorizer is not None
            else contextlib.nullcontext()
        )
        try:
            # Lambda's reserved variables come last: a function cannot set them (Lambda's
            # "Defined runtime environment variables"; docs/aws-facts.md).
            reserved = {
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            }
            environment = {**spec.environment, **reserved}
            with self._invoke_lock, thread_environ.overlay(environment), acting:
                result = load_handler(spec.handler, self.project, self._loaded)(
                    event, lambda_context
                )
            body = json.dumps(result).encode()
        except Exception as error:  # noqa: BLE001 - reported as the Lambda runtime does
            parsed["FunctionError"] = "Unhandled"
            body = json.dumps(
                {
                    "errorMessage": str(error),
                    "errorType": type(error).__name__,
                    "requestId": request_id,
                    "stackTrace": traceback.format_tb(error.__traceback__),
                }
            ).encode()
        parsed["Payload"] = StreamingBody(io.BytesIO(body), len(body))
        return self._response(parsed)

    def _publish(
        self, context: dict, request_signer: Any = None, **_: Any
    ) -> tuple[AWSResponse, dict]:
        params = context[_PARAMS_KEY]
        identity = Identity(self.region, ACCOUNT)
        requests = requests_for(Call("sns", "Publish", params), identity)
        named = self.topic_keys.get(params.get("TopicArn", ""))
        key = kms_key_arn(named, identity) if named else None
        if key:
            # SNS encrypts the message with the topic's key as the publisher (SNS SSE).
            via = {"kms:ViaService": f"sns.{self.region}.amazonaws.com"}
            requests += [
                Request("kms:GenerateDataKey", key, via),
                Request("kms:Decrypt", key, via),
            ]
        self._authorize(self._caller(request_signer), requests, "Publish", "AuthorizationError")
        problem = sns_publish_problem(params)
        if problem is not None:
            raise ClientError(
                {
                    "Error": {"Code": "InvalidParameter", "Message": problem},
                    "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "local"},
                },
                "Publish",
            )
        with self._lock:
            self.notifications.append(
                Notification(
                    topic_arn=params.get("TopicArn") or params.get("TargetArn", ""),
                    subject=params.get("Subject"),
                    message=params["Message"],
                    attributes=params.get("MessageAttributes", {}),
                )
            )
        return self._response({"MessageId": str(uuid.uuid4())})
