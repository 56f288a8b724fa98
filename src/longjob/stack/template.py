"""The project's template as CloudFormation deploys it.

``template.yaml`` goes through SAM's own translator (``samtranslator``, the code behind
``sam deploy``'s transform), so SAM resources become the plain CloudFormation resources
AWS creates: the functions' generated roles, the schedule and its role, the layer. The
result is then rendered with ``cloud-radar`` (parameters checked against their
constraints, conditions applied, ``Ref``/``Fn::GetAtt``/``Fn::Sub``/``Fn::Join``/``Fn::If``
resolved). What neither library knows is the physical id or ARN AWS gives each resource;
``physical_ids`` supplies those, per resource type, as CloudFormation's "Return values"
pages document them (see docs/aws-facts.md), for one stack identity: the local one by
default. The template's ``Rules`` are checked as CloudFormation checks them at deploy time.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import io
import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longjob.engine import ACCOUNT, REGION, STACK
from longjob.errors import TemplateError

# Where a local run's stack "is": one fixed identity, so ARNs are stable across runs.
LOCAL_STACK, LOCAL_REGION, LOCAL_ACCOUNT = STACK, REGION, ACCOUNT

# Parameters without a default need a local stand-in of the right shape (cloud-radar checks
# AWS-specific parameter types against AWS's id patterns).
LOCAL_PARAMETER_VALUES = {
    "AWS::EC2::VPC::Id": "vpc-0123456789abcdef0",
    "List<AWS::EC2::Subnet::Id>": "subnet-0123456789abcdef0",
    "AWS::EC2::Subnet::Id": "subnet-0123456789abcdef0",
}
# SAM resolves local paths when `sam package` uploads them; the translator wants S3 URIs.
_LOCAL_URI_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")
_LOCAL_BUCKET = "longjob-local-artifacts"
# cloud-radar renders AWS::NoValue as "" and drops dict values equal to it; a sentinel
# keeps real empty strings (an empty parameter is a value) apart from removed ones.
_NO_VALUE = "\u0000longjob-no-value\u0000"


@dataclass(frozen=True)
class StackIdentity:
    name: str = LOCAL_STACK
    region: str = LOCAL_REGION
    account: str = LOCAL_ACCOUNT
    partition: str = "aws"

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{resource}"
        )


LOCAL = StackIdentity()


@dataclass
class DeployedTemplate:
    """The rendered CloudFormation template of one stack: every value resolved."""

    identity: StackIdentity
    parameters: dict[str, str]
    resources: dict[str, dict[str, Any]]
    outputs: dict[str, Any]
    ids: dict[str, dict[str, str]] = field(default_factory=dict)

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.resources.items() if r["Type"] == kind}

    def properties(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties", {})

    def ref(self, logical_id: str) -> str:
        return self.ids[logical_id]["Ref"]

    def get_att(self, logical_id: str, attribute: str) -> str:
        return self.ids[logical_id][attribute]

    def policy_statements(self, role: str) -> list[dict[str, Any]]:
        """Every statement of a role: its inline policies and the AWS::IAM::Policy resources
        attached to it (managed policies are AWS's own and not listed)."""
        role_name = self.ref(role)
        documents = [p["PolicyDocument"] for p in self.properties(role).get("Policies", [])]
        for policy in self.of_type("AWS::IAM::Policy").values():
            if role_name in policy["Properties"].get("Roles", []):
                documents.append(policy["Properties"]["PolicyDocument"])
        statements: list[dict[str, Any]] = []
        for document in documents:
            found = document["Statement"]
            statements += found if isinstance(found, list) else [found]
        return statements


def physical_ids(
    logical_id: str, resource: dict[str, Any], identity: StackIdentity
) -> dict[str, str]:
    """``Ref`` and ``Fn::GetAtt`` values of one resource, as AWS would return them.

    Names CloudFormation generates (no name property set) are ``<stack>-<LogicalId>``
    here; AWS appends a random suffix, which nothing in the template may depend on."""
    kind = resource["Type"]
    props = resource.get("Properties", {})
    generated = f"{identity.name}-{logical_id}"
    a = identity.arn
    if kind == "AWS::Logs::LogGroup":
        name = props.get("LogGroupName", generated)
        # The Arn attribute of a log group ends in ":*" (its streams), unlike the ARN the
        # CloudWatch Logs API shows: a policy that appends ":log-stream:*" matches nothing.
        return {"Ref": name, "Arn": a("logs", f"log-group:{name}:*")}
    if kind == "AWS::KMS::Key":
        key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{identity.name}/{logical_id}"))
        return {"Ref": key_id, "Arn": a("kms", f"key/{key_id}"), "KeyId": key_id}
    if kind == "AWS::ECR::Repository":
        name = props.get("RepositoryName", generated.lower())
        return {
            "Ref": name,
            "Arn": a("ecr", f"repository/{name}"),
            "RepositoryUri": f"{identity.account}.dkr.ecr.{identity.region}.amazonaws.com/{name}",
        }
    if kind == "AWS::ECS::Cluster":
        name = props.get("ClusterName", generated)
        return {"Ref": name, "Arn": a("ecs", f"cluster/{name}")}
    if kind == "AWS::ECS::TaskDefinition":
        family = props.get("Family", generated)
        return {"Ref": a("ecs", f"task-definition/{family}:1")}
    if kind == "AWS::EC2::SecurityGroup":
        return {"Ref": "sg-0123456789abcdef0", "GroupId": "sg-0123456789abcdef0"}
    if kind == "AWS::IAM::Role":
        name = props.get("RoleName", generated)
        path = props.get("Path", "/")
        return {
            "Ref": name,
            "Arn": a("iam", f"role{path}{name}", region=False),
            "RoleId": "AROA" + logical_id.upper()[:17],
        }
    if kind in {"AWS::IAM::Policy", "AWS::S3::BucketPolicy"}:
        return {"Ref": generated}
    if kind == "AWS::Lambda::Function":
        name = props.get("FunctionName", generated)
        return {"Ref": name, "Arn": a("lambda", f"function:{name}")}
    if kind == "AWS::Lambda::LayerVersion":
        name = props.get("LayerName", generated)
        return {"Ref": a("lambda", f"layer:{name}:1")}
    if kind == "AWS::SNS::Topic":
        name = props.get("TopicName", generated)
        arn = a("sns", name)
        return {"Ref": arn, "TopicArn": arn, "TopicName": name}
    if kind == "AWS::SNS::Subscription":
        return {"Ref": a("sns", f"{generated}:00000000-0000-4000-8000-000000000000")}
    if kind == "AWS::StepFunctions::StateMachine":
        name = props.get("StateMachineName", generated)
        arn = a("states", f"stateMachine:{name}")
        return {"Ref": arn, "Arn": arn, "Name": name}
    if kind == "AWS::Scheduler::Schedule":
        name = props.get("Name", generated)
        return {"Ref": name, "Arn": a("scheduler", f"schedule/default/{name}")}
    if kind == "AWS::CloudWatch::Alarm":
        name = props.get("AlarmName", generated)
        return {"Ref": name, "Arn": a("cloudwatch", f"alarm:{name}")}
    if kind == "AWS::S3::Bucket":
        name = props.get("BucketName", generated.lower())
        return {"Ref": name, "Arn": f"arn:{identity.partition}:s3:::{name}"}
    if kind == "AWS::DynamoDB::Table":
        name = props.get("TableName", generated)
        return {"Ref": name, "Arn": a("dynamodb", f"table/{name}")}
    raise TemplateError(
        f"{logical_id}: no local physical id for resource type {kind} "
        "(add it to longjob.stack.template.physical_ids)"
    )


def _with_s3_uris(template: dict[str, Any]) -> dict[str, Any]:
    """A copy whose local code and definition paths are S3 URIs, as `sam package` makes them
    (the key keeps the path, so the local files are found again)."""
    template = copy.deepcopy(template)
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        for key in _LOCAL_URI_PROPERTIES:
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://{_LOCAL_BUCKET}/{props[key]}"
    return template


def local_path(location: dict[str, Any] | str) -> str:
    """The project path behind a translated code or definition location."""
    if isinstance(location, dict):
        key = location.get("S3Key") or location.get("Key") or ""
        return str(key)
    return location.removeprefix(f"s3://{_LOCAL_BUCKET}/")


def translate(template: dict[str, Any], parameters: dict[str, str], identity: StackIdentity) -> Any:
    """SAM -> CloudFormation with SAM's translator, offline."""
    import boto3
    from samtranslator.metrics.metrics import Metrics
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    # The translator logs each plugin at INFO.
    logging.getLogger("samtranslator").setLevel(logging.WARNING)
    values: dict[str, Any] = {
        **parameters,
        "AWS::Region": identity.region,
        "AWS::Partition": identity.partition,
        "AWS::AccountId": identity.account,
        "AWS::StackName": identity.name,
    }
    session = boto3.session.Session(region_name=identity.region)
    metrics = Metrics()  # the translator's usage metrics go nowhere (a dummy publisher)
    translator = Translator(None, Parser(), boto_session=session, metrics=metrics)
    try:
        return translator.translate(
            _with_s3_uris(template), parameter_values=values, get_managed_policy_map=dict
        )
    except InvalidDocumentException as error:
        messages = "; ".join(str(e) for e in error.causes)
        raise TemplateError(f"template.yaml: SAM cannot translate it: {messages}") from None
    finally:
        metrics.publish()


def _radar(template: dict[str, Any], identity: StackIdentity) -> Any:
    from cloud_radar.cf.unit import Template

    # cloud-radar 0.17.0 prints the Template object when it checks its hooks.
    with contextlib.redirect_stdout(io.StringIO()):
        radar = Template(template)
    radar.StackName = identity.name
    radar.AccountId = identity.account
    radar.Partition = identity.partition
    radar.NoValue = _NO_VALUE
    radar.StackId = identity.arn("cloudformation", f"stack/{identity.name}/local")
    return radar


def _drop_no_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_no_value(v) for k, v in value.items() if v != _NO_VALUE}
    if isinstance(value, list):
        return [_drop_no_value(v) for v in value if v != _NO_VALUE]
    return value


def _render(
    template: dict[str, Any], parameters: dict[str, str], identity: StackIdentity
) -> dict[str, Any]:
    try:
        return _drop_no_value(_radar(template, identity).render(parameters, identity.region))
    except (ValueError, KeyError, TypeError) as error:
        raise TemplateError(f"template.yaml: {error}") from None


def _parameter_values(template: dict[str, Any], overrides: dict[str, Any]) -> dict[str, str]:
    """Every parameter's value as CloudFormation receives it: a string (lists joined)."""
    values = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in overrides:
            value = overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            value = LOCAL_PARAMETER_VALUES.get(spec.get("Type", ""), f"{name.lower()}-local")
        values[name] = ",".join(value) if isinstance(value, list) else str(value)
    unknown = sorted(set(overrides) - set(values))
    if unknown:
        raise TemplateError(f"template.yaml has no parameter {', '.join(unknown)}")
    return values


def deployed_template(
    template: dict[str, Any],
    parameters: dict[str, Any] | None = None,
    identity: StackIdentity = LOCAL,
) -> DeployedTemplate:
    """The stack CloudFormation would create from ``template`` (a SAM template, as loaded
    from YAML) with these parameter values; TemplateError when it would refuse them."""
    values = _parameter_values(template, parameters or {})
    refused = parameter_problems(template, values)
    if refused:
        raise TemplateError("template.yaml refuses these parameters: " + "; ".join(refused))
    violations = rule_violations(template, values, identity)
    if violations:
        raise TemplateError("template.yaml Rules refuse these parameters: " + "; ".join(violations))
    translated = translate(template, values, identity)
    # Pass 1 resolves the properties that names derive from (LogGroupName: !Sub ...);
    # pass 2 renders everything with each resource's physical ids.
    first = _render(translated, values, identity)
    ids = {
        name: physical_ids(name, resource, identity)
        for name, resource in first["Resources"].items()
    }
    with_ids = copy.deepcopy(translated)
    for name, resource in with_ids["Resources"].items():
        if name not in ids:  # a resource whose condition is false
            continue
        values_of = ids[name]
        metadata = resource.setdefault("Metadata", {})
        metadata["Cloud-Radar"] = {
            "ref": values_of["Ref"],
            "attribute-values": {k: v for k, v in values_of.items() if k != "Ref"},
        }
    rendered = _render(with_ids, values, identity)
    for resource in rendered["Resources"].values():
        resource.get("Metadata", {}).pop("Cloud-Radar", None)
    return DeployedTemplate(
        identity=identity,
        parameters=values,
        resources=rendered["Resources"],
        outputs=rendered.get("Outputs", {}),
        ids=ids,
    )


def deployed_template_of_file(path: Path, parameters: dict[str, Any]) -> DeployedTemplate:
    """``deployed_template`` of the template at ``path``, kept in the project's
    ``.longjob/cache`` under a key made of everything the result depends on (the template's
    bytes, the parameters, the translator's and renderer's versions, this module's code):
    translating and rendering took a second of every local run's start. A template the
    parameters break is not kept; it fails again, the same way."""
    key = _cache_key(path, parameters)
    cache = path.parent / ".longjob" / "cache" / f"template-{key}.json"
    try:
        kept = json.loads(cache.read_text())
        return DeployedTemplate(
            identity=StackIdentity(**kept["identity"]),
            parameters=kept["parameters"],
            resources=kept["resources"],
            outputs=kept["outputs"],
            ids=kept["ids"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        pass
    stack = deployed_template(load_template(path), parameters)
    with contextlib.suppress(OSError):  # a read-only project still runs, uncached
        from longjob.engine.private_files import private_directory, private_file

        private_directory(cache.parent, path.parent / ".longjob")
        partial = cache.with_suffix(f".{uuid.uuid4().hex}.part")
        with private_file(partial) as out:
            out.write(json.dumps(dataclasses.asdict(stack)).encode())
        partial.replace(cache)  # whole or not at all, also with runs started together
    return stack


def _cache_key(path: Path, parameters: dict[str, Any]) -> str:
    from importlib.metadata import version

    digest = hashlib.sha256(path.read_bytes() if path.is_file() else b"")
    for part in (
        json.dumps(parameters, sort_keys=True, default=str),
        json.dumps(dataclasses.asdict(LOCAL)),
        version("aws-sam-translator"),
        version("cloud-radar"),
    ):
        digest.update(b"\0" + part.encode())
    digest.update(b"\0" + Path(__file__).read_bytes())
    return digest.hexdigest()[:32]


def load_template(path: Path) -> dict[str, Any]:
    from cfn_tools import load_yaml

    if not path.is_file():
        raise TemplateError(f"{path} not found: run from a longjob project or pass --project")
    try:
        return json.loads(json.dumps(load_yaml(path.read_text())))
    except Exception as error:  # noqa: BLE001 - any YAML error is the user's to fix
        raise TemplateError(f"{path}: not a valid template: {error}") from None


# --- parameters and Rules -----------------------------------------------------------------


def parameter_problems(template: dict[str, Any], values: dict[str, str]) -> list[str]:
    """Each parameter value CloudFormation would refuse (AllowedValues, AllowedPattern,
    Min/MaxLength, Min/MaxValue, AWS-specific types), named with its constraint."""
    from cloud_radar.cf.unit._template import validate_parameter_constraints

    problems = []
    for name, spec in template.get("Parameters", {}).items():
        try:
            validate_parameter_constraints(name, spec, values[name])
        except ValueError as error:
            # cloud-radar's message repeats the value, which may be long: say the rule.
            reason = str(error).replace(values[name], f"({len(values[name])} characters)")
            described = spec.get("ConstraintDescription")
            problems.append(f"{name}: {described or reason}")
    return problems


def rule_violations(
    template: dict[str, Any], parameters: dict[str, Any], identity: StackIdentity = LOCAL
) -> list[str]:
    """The AssertDescription of every Rules assertion these parameters (over the template's
    defaults) break, as CloudFormation reports them before it creates anything."""
    rules = template.get("Rules") or {}
    if not rules:
        return []
    values = _parameter_values(template, parameters)
    specs = {
        name: {k: v for k, v in spec.items() if k == "Type"}  # constraints checked above
        for name, spec in template.get("Parameters", {}).items()
    }
    radar = _radar({"Parameters": specs}, identity)
    radar.set_parameters(values)
    radar.template.setdefault("Metadata", {})["Cloud-Radar"] = {"Region": identity.region}
    radar.allowed_functions = {**radar.allowed_functions, **_RULE_FUNCTIONS}
    broken = []
    for name, rule in rules.items():
        applies = rule.get("RuleCondition", True)
        if not isinstance(applies, bool):
            applies = radar.resolve_values(copy.deepcopy(applies))
        if not applies:
            continue
        for assertion in rule["Assertions"]:
            if not radar.resolve_values(copy.deepcopy(assertion["Assert"])):
                broken.append(f"{name}: {assertion.get('AssertDescription', 'assertion failed')}")
    return broken


def _values(value: Any) -> list[str]:
    return value if isinstance(value, list) else str(value).split(",")


def _contains(_t: Any, args: list[Any]) -> bool:
    allowed, value = args
    return value in allowed


def _each_member_equals(_t: Any, args: list[Any]) -> bool:
    members, value = args
    return all(m == value for m in _values(members))


def _each_member_in(_t: Any, args: list[Any]) -> bool:
    members, allowed = args
    return all(m in allowed for m in _values(members))


_RULE_FUNCTIONS = {
    "Fn::Contains": _contains,
    "Fn::EachMemberEquals": _each_member_equals,
    "Fn::EachMemberIn": _each_member_in,
}
