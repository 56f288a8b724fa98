"""The project's SAM application, seen from this machine.

Reads ``template.yaml`` (CloudFormation tags and all, with cfn-flip) and gives what a local
run needs: the state machine's definition file, its DefinitionSubstitutions filled with
local values, and each function's handler file and environment. Local values follow the
stack's own naming (ARNs in a fake account and region); parameters take their defaults.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfn_tools import load_yaml

from longjob.engine.service_hooks import FunctionSpec
from longjob.exceptions import TemplateError

STACK = "longjob-local"
REGION = "us-east-1"
ACCOUNT = "123456789012"
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": STACK,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
# Parameters without a default need a local stand-in.
LOCAL_PARAMETER_VALUES = {
    "AWS::EC2::VPC::Id": "vpc-local",
    "List<AWS::EC2::Subnet::Id>": ["subnet-local"],
    "AWS::EC2::Subnet::Id": "subnet-local",
}


@dataclass
class LocalApplication:
    project: Path
    definition_path: Path
    substitutions: dict[str, str]
    functions: dict[str, FunctionSpec]
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def definition(self) -> str:
        return self.definition_path.read_text()


class _Resolver:
    def __init__(self, template: dict[str, Any], overrides: dict[str, Any]) -> None:
        self.resources: dict[str, Any] = template.get("Resources", {})
        self.parameters: dict[str, Any] = {}
        for name, spec in template.get("Parameters", {}).items():
            if name in overrides:
                self.parameters[name] = overrides[name]
            elif "Default" in spec:
                self.parameters[name] = spec["Default"]
            else:
                self.parameters[name] = LOCAL_PARAMETER_VALUES.get(
                    spec.get("Type"), f"{name}-local"
                )
        self.conditions: dict[str, Any] = template.get("Conditions", {})

    def ref(self, name: str) -> Any:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        resource = self.resources.get(name)
        if resource is None:
            raise TemplateError(f"Ref to unknown resource or parameter {name!r}")
        kind = resource["Type"]
        props = resource.get("Properties", {})
        if kind == "AWS::Serverless::Function":
            return name
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-{name}"
        if kind == "AWS::ECS::TaskDefinition":
            family = self.resolve(props.get("Family", name))
            return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:1"
        if kind == "AWS::Logs::LogGroup":
            return self.resolve(props.get("LogGroupName", name))
        if kind == "AWS::Serverless::StateMachine":
            machine = self.resolve(props.get("Name", name))
            return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{machine}"
        if kind == "AWS::EC2::SecurityGroup":
            return "sg-local"
        return f"{STACK}-{name}"

    def get_att(self, name: str, attribute: str) -> Any:
        kind = self.resources.get(name, {}).get("Type")
        if kind == "AWS::Serverless::Function" and attribute == "Arn":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        if kind == "AWS::ECS::Cluster" and attribute == "Arn":
            return f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{STACK}-{name}"
        if attribute == "Arn":
            return f"arn:aws:local:{REGION}:{ACCOUNT}:{name}"
        return f"{STACK}-{name}-{attribute}"

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        ((key, arg),) = value.items()
        if key == "Ref":
            return self.ref(arg)
        if key == "Fn::GetAtt":
            name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.get_att(name, attribute)
        if key == "Fn::Join":
            separator, items = arg
            resolved = self.resolve(items)
            return separator.join(str(i) for i in resolved)
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else arg
            variables = {k: self.resolve(v) for k, v in variables.items()}

            def fill(match: re.Match[str]) -> str:
                token = match.group(1)
                if token in variables:
                    return str(variables[token])
                if "." in token:
                    return str(self.get_att(*token.split(".", 1)))
                return str(self.ref(token))

            return re.sub(r"\$\{([^}!]+)\}", fill, text)
        if key == "Fn::If":
            condition, yes, no = arg
            return self.resolve(yes if self.condition(condition) else no)
        if key == "Fn::Equals":
            left, right = self.resolve(arg)
            return left == right
        if key == "Fn::Not":
            return not self.resolve(arg[0])
        if key == "Fn::And":
            return all(self.resolve(arg))
        if key == "Fn::Or":
            return any(self.resolve(arg))
        if key == "Condition":
            return self.condition(arg)
        return {key: self.resolve(arg)}


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


def load_application(project: Path, parameters: dict[str, Any] | None = None) -> LocalApplication:
    """The application as the default samconfig environment deploys it, with ``parameters``
    overriding both the template's defaults and samconfig's."""
    parameters = {**samconfig_parameters(project), **(parameters or {})}
    path = project / "template.yaml"
    if not path.is_file():
        raise TemplateError(f"{path} not found: run from a longjob project or pass --project")
    template = load_yaml(path.read_text())
    resolver = _Resolver(template, parameters or {})
    resources = template.get("Resources", {})
    machines = [r for r in resources.values() if r.get("Type") == "AWS::Serverless::StateMachine"]
    if len(machines) != 1:
        raise TemplateError(
            f"{path}: expected one AWS::Serverless::StateMachine, found {len(machines)}"
        )
    machine = machines[0]["Properties"]
    substitutions = {
        key: str(resolver.resolve(value))
        for key, value in machine.get("DefinitionSubstitutions", {}).items()
    }
    function_globals = template.get("Globals", {}).get("Function", {})
    functions = {}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        module, _, handler = props.get("Handler", function_globals.get("Handler", "")).rpartition(
            "."
        )
        code = Path(props["CodeUri"]) / (module.replace(".", "/") + ".py")
        variables = {
            **function_globals.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        environment = {k: str(resolver.resolve(v)) for k, v in variables.items()}
        functions[resolver.get_att(name, "Arn")] = FunctionSpec(f"{code}:{handler}", environment)
    return LocalApplication(
        project=project,
        definition_path=project / machine["DefinitionUri"],
        substitutions=substitutions,
        functions=functions,
        parameters=resolver.parameters,
    )
