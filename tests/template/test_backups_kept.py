"""Backups survive mistakes: the image tag in use never expires, the data bucket keeps
overwritten and deleted backups for a while (and the stack's deletion), and the tasks can
delete a backup only as a delete marker (security review, issue 19)."""

from __future__ import annotations

import json

import pytest

from longjob.stack.iam_policy import allows
from longjob.stack.template import DeployedTemplate, deployed_template, load_template
from tests.conftest import ROOT

TEMPLATE = load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def stack() -> DeployedTemplate:
    return deployed_template(TEMPLATE, {"DataBucketName": "acme-backups"})


def test_the_lifecycle_rule_never_expires_a_tagged_image(stack: DeployedTemplate) -> None:
    text = stack.properties("ToolboxRepository")["LifecyclePolicy"]["LifecyclePolicyText"]
    rules = json.loads(text)["rules"]
    assert rules
    assert {rule["selection"]["tagStatus"] for rule in rules} == {"untagged"}


def test_the_data_bucket_is_versioned_retained_and_private(stack: DeployedTemplate) -> None:
    bucket = stack.resources["DataBucket"]
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"]) == 30
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert "ObjectLockEnabled" not in props
    (tls,) = stack.properties("DataBucketPolicy")["PolicyDocument"]["Statement"]
    assert (tls["Effect"], tls["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_object_lock_is_an_option_at_creation() -> None:
    locked = deployed_template(
        TEMPLATE, {"DataBucketName": "acme-backups", "DataBucketObjectLockDays": "35"}
    )
    props = locked.properties("DataBucket")
    assert props["ObjectLockEnabled"] is True
    retention = props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert (retention["Mode"], int(retention["Days"])) == ("GOVERNANCE", 35)


def test_tasks_delete_only_with_a_delete_marker(stack: DeployedTemplate) -> None:
    role = stack.policy_statements("TaskRole")
    backup = "arn:aws:s3:::acme-backups/postgres/orders/orders-20261201T030000Z.dump"
    assert allows(role, "s3:DeleteObject", backup)
    for action in ("s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration", "s3:DeleteBucket"):
        assert not allows(role, action, backup), action
        assert not allows(role, action, "arn:aws:s3:::acme-backups"), action
    via_s3 = {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    key = stack.get_att("Key", "Arn")
    assert allows(role, "kms:GenerateDataKey", key, via_s3)
    assert not allows(role, "kms:GenerateDataKey", key)
