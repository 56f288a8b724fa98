"""Every request the embedded AWS answers is authorized as IAM would authorize it.

moto calls one method of each response class before it acts on a request
(``_authenticate_and_authorize_normal_action``, and for S3
``_authenticate_and_authorize_s3_action`` with the bucket and key), for the tasks' calls to
the embedded endpoint and for the in-process calls of the Step Functions engine and the
Lambda handlers alike. moto's own check there compares the API name with the policy's
actions on every resource (``*``); this one asks ``Authorizer`` with the IAM action and the
resource ARN AWS would use (``engine.iam_requests``), plus what AWS checks behind an S3 call
to a bucket encrypted with a KMS key (``kms:GenerateDataKey`` to write, ``kms:Decrypt`` to
read, via S3). A refused request gets AWS's error: ``AccessDenied`` (S3, 403),
``AuthorizationError`` (SNS and other query APIs, 403) or ``AccessDeniedException``.
"""

from __future__ import annotations

import json
import re
import threading
from functools import cache
from typing import Any

import botocore.session
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError, _RESTError

from longjob.engine.authorization import AccessDenied, Authorizer, Principal
from longjob.engine.iam_requests import Call, Identity, kms_key_arn, requests_for
from longjob.stack.iam_policy import Request

# The access key moto's Step Functions engine signs its service calls with
# (moto/stepfunctions/parser/asl/utils/boto_client.py): the state machine role's.
STEP_FUNCTIONS_KEY = "ak"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
# Calls IAM never refuses: they need no permission.
NO_PERMISSION = {("sts", "GetCallerIdentity")}

_state = threading.Lock()
_authorizer: Authorizer | None = None
_identity: Identity | None = None


def set_authorizer(authorizer: Authorizer | None, identity: Identity | None = None) -> None:
    global _authorizer, _identity
    with _state:
        _authorizer, _identity = authorizer, identity


def current() -> tuple[Authorizer, Identity] | None:
    with _state:
        if _authorizer is None or _identity is None:
            return None
        return _authorizer, _identity


@cache
def signing_name(service: str) -> str:
    """The IAM prefix of a botocore service (``stepfunctions`` signs as ``states``)."""
    try:
        model = botocore.session.get_session().get_service_model(service)
    except Exception:  # noqa: BLE001 - moto names a few services its own way
        return service
    return model.signing_name or model.endpoint_prefix


def access_key_of(response: Any) -> str | None:
    match = _CREDENTIAL.search(response.headers.get("Authorization", "") or "")
    if match:
        return match.group(1)
    credential = (response.querystring.get("X-Amz-Credential") or [""])[0]
    return credential.split("/", 1)[0] or None


class _Params:
    """A request's parameters by their API names: moto's parsed ones when it has them, else
    the JSON body or the query string."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self._values: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        response = self.response
        parsed = getattr(response, "params", None)
        if isinstance(parsed, dict) and parsed:
            return parsed
        body = response.body
        if isinstance(body, bytes | str) and body:
            try:
                body = json.loads(body)
            except ValueError:
                body = None
        if isinstance(body, dict):
            return body
        return {name: values[0] for name, values in response.querystring.items() if values}

    def get(self, name: str, default: Any = None) -> Any:
        if self._values is None:
            self._values = self._load()
        return self._values.get(name, default)

    def __getitem__(self, name: str) -> Any:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value


def _refusal(prefix: str, denial: AccessDenied) -> Exception:
    if prefix in {"sns", "sqs", "sts", "iam", "cloudwatch", "ec2", "rds"}:
        code = "AuthorizationError" if prefix == "sns" else "AccessDenied"
        error = _RESTError(code, denial.message)
        error.code = 403
        return error
    error = JsonRESTError("AccessDeniedException", denial.message)
    error.code = 400
    return error


def _checked_caller(response: Any) -> tuple[Authorizer, Identity, Principal] | None:
    """Who sent this request, when the run checks that caller (else None)."""
    found = current()
    if found is None:
        return None
    authorizer, identity = found
    principal = authorizer.principal(access_key_of(response))
    return None if principal is None else (authorizer, identity, principal)


def _normal_action(self: Any, resource: str = "*") -> None:
    caller = _checked_caller(self)
    if caller is None:
        return
    authorizer, identity, principal = caller
    call = Call(signing_name(self.boto3_service_name), self._get_action(), _Params(self))
    if (call.prefix, call.operation) in NO_PERMISSION:
        return
    context = _dynamodb_context(call, identity) if call.prefix == "dynamodb" else {}
    try:
        authorizer.check(principal, requests_for(call, identity, context))
    except AccessDenied as denial:
        raise _refusal(call.prefix, denial) from None


# DynamoDB's item calls name their item's partition key (Key, or the Item of a PutItem).
DYNAMODB_ITEM_CALLS = {"GetItem", "PutItem", "DeleteItem", "UpdateItem"}


def _dynamodb_context(call: Call, identity: Identity) -> dict[str, Any]:
    """dynamodb:LeadingKeys: the partition key value of the item a call reads or writes,
    which a policy may limit (fine-grained access control; docs/aws-facts.md)."""
    if call.operation not in DYNAMODB_ITEM_CALLS:
        return {}
    from moto.dynamodb.models import dynamodb_backends

    try:
        table = dynamodb_backends[identity.account][identity.region].get_table(
            call.params.get("TableName")
        )
        attribute = table.hash_key_attr
    except Exception:  # noqa: BLE001 - no such table: DynamoDB answers that itself
        return {}
    item = call.params.get("Item" if call.operation == "PutItem" else "Key") or {}
    value = (item.get(attribute) or {}).values()
    return {"dynamodb:LeadingKeys": [str(v) for v in value]}


# moto's S3 action names that are not IAM's.
S3_ACTIONS = {"HeadBucket": "ListBucket", "ListBucketVersions": "ListBucketVersions"}


def _bucket_key(bucket: str | None) -> str | None:
    """The KMS key a bucket encrypts new objects with by default, if any."""
    from moto.s3.models import s3_backends

    found = s3_backends.bucket_accounts.get(bucket or "")
    if found is None:
        return None
    try:
        encryption = s3_backends[found]["global"].get_bucket(bucket).encryption or {}
    except Exception:  # noqa: BLE001 - no such bucket: S3 answers that itself
        return None
    rule = encryption.get("Rule", encryption)
    if isinstance(rule, list):
        rule = rule[0] if rule else {}
    default = rule.get("ApplyServerSideEncryptionByDefault", {})
    if default.get("SSEAlgorithm") == "aws:kms":
        return default.get("KMSMasterKeyID")
    return None


def _kms_requests(self: Any, action: str, bucket: str | None, identity: Identity) -> list[Request]:
    """What S3 asks KMS for on the caller's behalf (SSE-KMS): kms:ViaService is S3."""
    header = self.headers.get("x-amz-server-side-encryption-aws-kms-key-id")
    named = header or _bucket_key(bucket)
    key = kms_key_arn(named, identity) if named else None
    if key is None:
        return []
    context = {
        "kms:ViaService": f"s3.{identity.region}.amazonaws.com",
        "kms:CallerAccount": identity.account,
    }
    wanted = []
    if action == "PutObject":
        wanted = ["kms:GenerateDataKey"]
        if "uploads" in self.querystring or "uploadId" in self.querystring:
            wanted.append("kms:Decrypt")  # multipart uploads read the data key back
    elif action == "GetObject" and self.method == "GET":
        wanted = ["kms:Decrypt"]
    return [Request(kms_action, key, context) for kms_action in wanted]


def _missing_key(bucket: str | None, key: str | None) -> bool:
    """Whether the bucket exists and has no object ``key``."""
    from moto.s3.models import s3_backends

    found = s3_backends.bucket_accounts.get(bucket or "")
    if found is None or not key:
        return False
    try:
        return key not in s3_backends[found]["global"].get_bucket(bucket).keys
    except Exception:  # noqa: BLE001 - no such bucket: S3 answers that itself
        return False


def _s3_action(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
    caller = _checked_caller(self)
    if caller is None:
        return
    authorizer, identity, principal = caller
    action = str(self._get_action())
    action = S3_ACTIONS.get(action, action)
    params: dict[str, Any] = {"Bucket": bucket_name, "Key": key_name}
    if action == "DeleteObject" and not key_name:
        # DeleteObjects: AWS checks s3:DeleteObject for each key (and answers per key; here
        # one refused key refuses the request).
        keys = re.findall(rb"<Key>(.*?)</Key>", self.body or b"")
        params["Key"] = [k.decode() for k in keys] or None
    context: dict[str, Any] = {}
    if action == "ListBucket":
        # ListObjects(V2)' prefix, which a policy may limit with the s3:prefix key.
        prefix = (getattr(self, "querystring", None) or {}).get("prefix")
        if prefix:
            context["s3:prefix"] = prefix[0] if isinstance(prefix, list) else prefix
    requests = requests_for(Call("s3", action, params), identity, context)
    requests += _kms_requests(self, action, bucket_name, identity)
    if action in ("GetObject", "HeadObject") and _missing_key(bucket_name, key_name):
        # A missing object is 404 only to a caller who may list the bucket; S3 answers
        # anyone else 403 Access Denied (GetObject; docs/aws-facts.md).
        requests += requests_for(Call("s3", "ListObjectsV2", {"Bucket": bucket_name}), identity)
    try:
        authorizer.check(principal, requests)
    except AccessDenied as denial:
        from moto.s3.exceptions import S3ClientError

        raise S3ClientError("AccessDenied", denial.message) from None


_original_normal = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action
_original_s3 = ActionAuthenticatorMixin._authenticate_and_authorize_s3_action


def install() -> None:
    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = _normal_action
    ActionAuthenticatorMixin._authenticate_and_authorize_s3_action = _s3_action


def uninstall() -> None:
    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = _original_normal
    ActionAuthenticatorMixin._authenticate_and_authorize_s3_action = _original_s3
