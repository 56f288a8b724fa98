"""Static checks: shellcheck on every shell script, hadolint on the Dockerfile, ruff."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import ROOT, VENV_BIN


def shell_scripts() -> list[str]:
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [
        path
        for path in tracked
        if path.endswith(".sh")
        or (ROOT / path).read_bytes()[:32].startswith(b"#!/usr/bin/env bash")
    ]


def check(*command: str) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shell_scripts_found() -> None:
    assert {"container/entrypoint.sh", "container/scripts/pg_backup.sh", ".ci/run"} <= set(
        shell_scripts()
    )


def test_shellcheck() -> None:
    check(str(VENV_BIN / "shellcheck"), "--external-sources", *shell_scripts())


def test_hadolint() -> None:
    check(str(VENV_BIN / "hadolint"), "--failure-threshold", "warning", "container/Dockerfile")


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]])
def test_ruff(command: list[str]) -> None:
    check(str(VENV_BIN / "ruff"), *command)
