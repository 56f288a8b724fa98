"""The same mock configuration file on AWS Step Functions Local, where a Docker engine exists."""

from __future__ import annotations

import importlib.util
import subprocess

import pytest

from tests.conftest import ROOT

from .test_mock_configs import MOCK_FILE

_spec = importlib.util.spec_from_file_location("sfn_local_test", ROOT / "tools/sfn_local_test.py")
assert _spec is not None
assert _spec.loader is not None
sfn_local_test = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sfn_local_test)
PROBLEM = sfn_local_test.docker_problem("docker")


def run_script() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "sfn-local-test", f"MOCK={MOCK_FILE}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )


@pytest.mark.skipif(PROBLEM is not None, reason=f"Step Functions Local needs Docker: {PROBLEM}")
def test_step_functions_local_runs_the_walkthrough_cases() -> None:
    result = run_script()
    assert "RetryPath  SUCCEEDED" in result.stdout, result.stdout + result.stderr


@pytest.mark.skipif(PROBLEM is None, reason="a Docker engine is here: the run above covers it")
def test_without_docker_the_target_says_why_and_exits_2() -> None:
    result = run_script()
    assert result.returncode == 2
    assert f"sfn-local-test: {PROBLEM}" in result.stderr
