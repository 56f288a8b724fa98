"""The template and the state machine pass the IaC linters (run from their own venvs)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

IAC = ROOT / ".venv-iac" / "bin"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def tool(path: Path) -> str:
    if not path.exists():
        pytest.fail(f"{path} is missing: `make tools` installs the template checkers")
    return str(path)


def check(*command: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.mark.parametrize("environment", ["default", "prod"])
def test_sam_validate_lint(environment: str) -> None:
    output = check(
        tool(IAC / "sam"),
        "validate",
        "--lint",
        "--config-env",
        environment,
        env={"SAM_CLI_TELEMETRY": "0"},
    )
    assert "is a valid SAM Template" in output


def test_cfn_lint_with_serverless_rules() -> None:
    check(
        tool(IAC / "cfn-lint"), "--append-rules", "cfn_lint_serverless.rules", "--", "template.yaml"
    )


# statelint 3.1.0 (the latest) predates these Distributed Map fields, which AWS documents
# (docs/aws-facts.md, "Distributed Map"): each of its complaints about them is listed here,
# and must still be one, so that the list goes when statelint catches up.
STATELINT_GAPS = {
    # "In JSONata states, you can specify a JSONata expression that evaluates to an integer."
    'State Machine.States.Run wide stage.ToleratedFailurePercentage is "{% '
    '$stage.toleratedFailurePercentage %}" but should be an Integer',
    'State Machine.States.Run wide stage.ToleratedFailureCount is "{% '
    '$stage.toleratedFailureCount %}" but should be an Integer',
    # A Task's TimeoutSeconds, "in JSONata states, a JSONata expression that evaluates to an
    # integer" (the approval stage's wait: $stage is bound by Next stage?).
    'State Machine.States.Ask approval.TimeoutSeconds is "{% $stage.timeoutSeconds %}" but '
    "should be an Integer",
    # Label: "A string that uniquely identifies a Map state" (up to 40 characters).
    'Field "Label" not allowed in State Machine.States.Run wide stage',
    # ReaderConfig.InputType: "CSV, JSON, JSONL, PARQUET, MANIFEST".
    'Field "InputType" not allowed in State Machine.States.Run wide stage.ItemReader.ReaderConfig',
    # The CSV Map: the same four, and CSVHeaderLocation ("FIRST_ROW | GIVEN").
    'State Machine.States.Run wide CSV stage.ToleratedFailurePercentage is "{% '
    '$stage.toleratedFailurePercentage %}" but should be an Integer',
    'State Machine.States.Run wide CSV stage.ToleratedFailureCount is "{% '
    '$stage.toleratedFailureCount %}" but should be an Integer',
    'Field "Label" not allowed in State Machine.States.Run wide CSV stage',
    'Field "InputType" not allowed in State Machine.States.Run wide CSV stage.ItemReader.'
    "ReaderConfig",
    'Field "CSVHeaderLocation" not allowed in State Machine.States.Run wide CSV stage.ItemReader.'
    "ReaderConfig",
}


def test_statelint() -> None:
    # JSONata fields (TimeoutSeconds, MaxConcurrency, Seconds) are checked by evaluating them.
    result = subprocess.run(
        [tool(IAC / "statelint"), "--ignore=FLOAT", "--eval-jsonata", "statemachine/job.asl.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    problems = {line.strip() for line in output.splitlines()[1:] if line.strip()}
    assert problems == STATELINT_GAPS, output


def test_checkov_has_no_failures() -> None:
    output = check(
        tool(CHECKOV),
        "-f",
        "template.yaml",
        "--framework",
        "cloudformation",
        "--compact",
        "--quiet",
        env={"BC_SKIP_MAPPING": "TRUE"},
    )
    assert "Failed checks: 0" in output


def test_every_checkov_skip_says_why() -> None:
    from cfn_tools import load_yaml

    template = load_yaml((ROOT / "template.yaml").read_text())
    skips = [
        (name, skip)
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, skip in skips:
        assert len(skip.get("comment", "")) > 20, f"{name}: skip {skip['id']} has no reason"


def python313_path() -> str:
    """PATH with a working python3.13 first: sam build needs the Lambda's Python. pyenv's
    shim is on PATH for every version, so look for the interpreter itself first."""
    path = os.environ.get("PATH", "")
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(pyenv_root.glob("versions/3.13*/bin/python3.13"))
    if found:
        return f"{found[-1].parent}{os.pathsep}{path}"
    probe = subprocess.run(["python3.13", "-V"], capture_output=True, check=False)
    if shutil.which("python3.13") and probe.returncode == 0:
        return path
    pytest.fail("sam build needs python3.13 (on PATH or under pyenv)")


def test_sam_build_packages_the_layer_for_python_313_on_arm64(tmp_path: Path) -> None:
    for name in ("template.yaml", "samconfig.toml"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    for folder in ("statemachine", "functions", "layers", "container"):
        shutil.copytree(
            ROOT / folder,
            tmp_path / folder,
            symlinks=True,  # as a clone has them: sam build must follow the layer's link
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    result = subprocess.run(
        [tool(IAC / "sam"), "build"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": python313_path()},
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    layer = tmp_path / ".aws-sam" / "build" / "CoreLayer" / "python"
    assert (layer / "longjob_core" / "job.schema.json").is_file()
    # environment.py links to container/lib/environment_rules.py: the layer gets the file.
    rules = layer / "longjob_core" / "environment.py"
    assert rules.is_file()
    assert "DENIED_NAMES" in rules.read_text()
    assert list(layer.glob("rpds/rpds.cpython-313-aarch64-linux-gnu.so"))
    for function in ("PrepareJobFunction", "NotifyFunction"):
        assert (tmp_path / ".aws-sam" / "build" / function / "app.py").is_file()
