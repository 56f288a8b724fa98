"""The project's SAM application, seen from this machine.

What a local run needs from ``template.yaml``, read from the template as CloudFormation
would deploy it (``longjob.stack.template``: SAM's own translator, then every intrinsic
resolved for the local stack): the state machine's definition file and its
DefinitionSubstitutions, each function's handler file and environment, and the parameter
values (samconfig.toml's default environment, then ``--parameter``).
"""

from __future__ import annotations

import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longjob.engine.service_hooks import FunctionSpec
from longjob.engine.task_definition import TaskDefinition
from longjob.errors import TemplateError
from longjob.stack.template import DeployedTemplate, deployed_template_of_file, local_path


@dataclass
class LocalApplication:
    project: Path
    definition_path: Path
    substitutions: dict[str, str]
    functions: dict[str, FunctionSpec]
    parameters: dict[str, Any] = field(default_factory=dict)
    stack: DeployedTemplate | None = None

    @property
    def definition(self) -> str:
        return self.definition_path.read_text()

    def create_tables(self, dynamodb: Any) -> None:
        """Makes the stack's DynamoDB tables in the embedded AWS (the job locks)."""
        if self.stack is None:
            return
        for name, table in self.stack.of_type("AWS::DynamoDB::Table").items():
            props = table["Properties"]
            dynamodb.create_table(
                TableName=props.get("TableName") or self.stack.ref(name),
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
            )

    def create_buckets(self, s3: Any) -> None:
        """Makes the stack's buckets in the embedded S3, as the deployed stack has them
        (versioning, and the default encryption: S3 asks KMS as the caller for it)."""
        if self.stack is None:
            return
        for name, resource in self.stack.of_type("AWS::S3::Bucket").items():
            props = resource["Properties"]
            bucket = str(props.get("BucketName") or self.stack.ref(name))
            s3.create_bucket(Bucket=bucket)
            if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(
                    Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
                )
            rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")
            if rules:
                s3.put_bucket_encryption(
                    Bucket=bucket,
                    ServerSideEncryptionConfiguration={
                        "Rules": [
                            {
                                "ApplyServerSideEncryptionByDefault": {
                                    k: str(v)
                                    for k, v in rule["ServerSideEncryptionByDefault"].items()
                                },
                                **(
                                    {"BucketKeyEnabled": bool(rule["BucketKeyEnabled"])}
                                    if "BucketKeyEnabled" in rule
                                    else {}
                                ),
                            }
                            for rule in rules
                        ]
                    },
                )

    def task_definition(self) -> TaskDefinition | None:
        """The stack's (one) task definition, as ECS registers it."""
        if self.stack is None:
            return None
        found = self.stack.of_type("AWS::ECS::TaskDefinition")
        if len(found) != 1:
            return None
        ((name, resource),) = found.items()
        try:
            return TaskDefinition.from_properties(resource["Properties"], self.stack.ref(name))
        except ValueError as error:
            raise TemplateError(f"{name}: {error}") from None

    def topic_keys(self) -> dict[str, str]:
        """The stack's SNS topics encrypted with a KMS key: topic ARN -> key."""
        if self.stack is None:
            return {}
        return {
            self.stack.ref(name): str(topic["Properties"]["KmsMasterKeyId"])
            for name, topic in self.stack.of_type("AWS::SNS::Topic").items()
            if topic.get("Properties", {}).get("KmsMasterKeyId")
        }


def samconfig_parameters(project: Path, environment: str = "default") -> dict[str, str]:
    """The parameter_overrides of one samconfig.toml environment (as `sam deploy` reads them)."""
    path = project / "samconfig.toml"
    if not path.is_file():
        return {}
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise TemplateError(f"{path}: {error}") from None
    overrides = config.get(environment, {}).get("deploy", {}).get("parameters", {})
    raw = overrides.get("parameter_overrides", "")
    items = raw if isinstance(raw, list) else shlex.split(raw)
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise TemplateError(f"{path}: parameter_overrides entry {item!r} is not KEY=VALUE")
        pairs[key] = value
    return pairs


def stack_parameters(project: Path, parameters: dict[str, Any] | None = None) -> dict[str, str]:
    """Every template parameter's value as the default samconfig environment deploys it,
    with ``parameters`` overriding (no template rendering: cheap enough for `plan`)."""
    from longjob.stack.template import _parameter_values, load_template

    template = load_template(project / "template.yaml")
    return _parameter_values(template, {**samconfig_parameters(project), **(parameters or {})})


def load_application(project: Path, parameters: dict[str, Any] | None = None) -> LocalApplication:
    """The application as the default samconfig environment deploys it, with ``parameters``
    overriding both the template's defaults and samconfig's."""
    parameters = {**samconfig_parameters(project), **(parameters or {})}
    path = project / "template.yaml"
    stack = deployed_template_of_file(path, parameters)
    machines = stack.of_type("AWS::StepFunctions::StateMachine")
    if len(machines) != 1:
        raise TemplateError(f"{path}: expected one state machine, found {len(machines)}")
    ((_, machine),) = machines.items()
    props = machine["Properties"]
    if "DefinitionS3Location" not in props:
        raise TemplateError(f"{path}: the state machine needs a DefinitionUri file")
    functions = {}
    for name, resource in stack.of_type("AWS::Lambda::Function").items():
        function = resource["Properties"]
        module, _, handler = function["Handler"].rpartition(".")
        code = Path(local_path(function["Code"])) / (module.replace(".", "/") + ".py")
        variables = function.get("Environment", {}).get("Variables", {})
        functions[stack.get_att(name, "Arn")] = FunctionSpec(
            f"{code}:{handler}",
            {k: str(v) for k, v in variables.items()},
            role_arn=str(function["Role"]),
            memory_mb=int(function.get("MemorySize", 128)),
        )
    return LocalApplication(
        project=project,
        definition_path=project / local_path(props["DefinitionS3Location"]),
        substitutions={k: str(v) for k, v in props.get("DefinitionSubstitutions", {}).items()},
        functions=functions,
        parameters=stack.parameters,
        stack=stack,
    )
