"""A served Lambda's environment is its thread's alone, and never races other threads."""

from __future__ import annotations

import json
import os
import threading

import boto3
import pytest

from longjob.engine import thread_environ
from longjob.engine.service_hooks import FunctionSpec, ServiceHooks
from tests.conftest import ROOT


def test_an_overlay_is_seen_by_its_thread_only() -> None:
    seen: dict[str, str | None] = {}
    inside = threading.Event()
    done = threading.Event()

    def lambda_thread() -> None:
        with thread_environ.overlay({"LONGJOB_TEST_ONLY_HERE": "yes"}):
            seen["inside"] = os.environ.get("LONGJOB_TEST_ONLY_HERE")
            seen["getenv"] = os.getenv("LONGJOB_TEST_ONLY_HERE")
            inside.set()
            done.wait(5)
        seen["after"] = os.environ.get("LONGJOB_TEST_ONLY_HERE")

    with thread_environ.installed():
        worker = threading.Thread(target=lambda_thread)
        worker.start()
        assert inside.wait(5)
        assert "LONGJOB_TEST_ONLY_HERE" not in os.environ
        done.set()
        worker.join(5)
    assert seen == {"inside": "yes", "getenv": "yes", "after": None}
    assert not isinstance(os.environ, thread_environ.ThreadEnviron)


def test_iterating_the_environment_never_sees_a_name_vanish() -> None:
    """botocore reads proxies with os.environ.items(): a name deleted mid-way raised KeyError."""
    stop = threading.Event()

    def invocations() -> None:
        while not stop.is_set():
            with thread_environ.overlay({f"LONGJOB_TEST_{n}": "x" for n in range(20)}):
                pass

    with thread_environ.installed():
        worker = threading.Thread(target=invocations)
        worker.start()
        try:
            for _ in range(3_000):
                dict(os.environ.items())
        finally:
            stop.set()
            worker.join(5)


def test_a_served_function_sees_its_variables_and_the_caller_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    spec = FunctionSpec("tests.workflow.handlers:environment", {"DATA_BUCKET": "data"})
    with ServiceHooks({"probe": spec}, ROOT, "eu-west-1"):
        client = boto3.client("lambda", region_name="eu-west-1")
        names = ["DATA_BUCKET", "AWS_LAMBDA_FUNCTION_NAME"]
        response = client.invoke(FunctionName="probe", Payload=json.dumps({"names": names}))
        assert "DATA_BUCKET" not in os.environ
    assert json.loads(response["Payload"].read()) == {
        "DATA_BUCKET": "data",
        "AWS_LAMBDA_FUNCTION_NAME": "probe",
    }
