"""Resolve secret references in the environment for entrypoint.sh.

A variable whose value is ``ssm:/path`` (an SSM parameter, decrypted) or
``secretsmanager:name-or-arn`` (a Secrets Manager secret string) is looked up with boto3,
which honours AWS_ENDPOINT_URL, the task role and the usual region variables.

Output on stdout: ``NAME\\0VALUE\\0`` for every reference, written only once all of them
resolved. Errors name the variable and the reference, never a value, and exit 125.
"""

from __future__ import annotations

import os
import sys
from typing import Any

EXIT_UNRESOLVED = 125
SSM_PREFIX = "ssm:"
SECRETS_MANAGER_PREFIX = "secretsmanager:"


def references(environ: dict[str, str]) -> dict[str, str]:
    """Variables whose value is a secret reference, in name order."""
    return {
        name: value
        for name, value in sorted(environ.items())
        if value.startswith(SSM_PREFIX + "/")
        or (value.startswith(SECRETS_MANAGER_PREFIX) and len(value) > len(SECRETS_MANAGER_PREFIX))
    }


def resolve(reference: str, ssm: Any, secretsmanager: Any) -> str:
    if reference.startswith(SSM_PREFIX):
        name = reference[len(SSM_PREFIX) :]
        return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    secret_id = reference[len(SECRETS_MANAGER_PREFIX) :]
    secret = secretsmanager.get_secret_value(SecretId=secret_id)
    if "SecretString" not in secret:
        raise ValueError("binary secrets are not supported; store the secret as a string")
    return secret["SecretString"]


def describe(error: Exception) -> str:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    if code in {"ParameterNotFound", "ResourceNotFoundException"}:
        return "not found"
    if code in {"AccessDeniedException", "AccessDenied"}:
        return "access denied (check the task role)"
    return f"{type(error).__name__}: {error}"


def main() -> int:
    wanted = references(dict(os.environ))
    if not wanted:
        return 0
    try:
        import boto3
    except ImportError:
        print("entrypoint: boto3 is needed to resolve secret references", file=sys.stderr)
        return EXIT_UNRESOLVED
    try:
        session = boto3.session.Session()
        ssm = session.client("ssm")
        secretsmanager = session.client("secretsmanager")
    except Exception as error:  # noqa: BLE001 - any setup failure is reported the same way
        print(f"entrypoint: cannot create AWS clients: {error}", file=sys.stderr)
        return EXIT_UNRESOLVED

    resolved: dict[str, str] = {}
    failed = False
    for name, reference in wanted.items():
        try:
            value = resolve(reference, ssm, secretsmanager)
        except Exception as error:  # noqa: BLE001 - every failure must name the variable
            print(f"entrypoint: {name}={reference}: {describe(error)}", file=sys.stderr)
            failed = True
            continue
        if "\0" in value:
            print(f"entrypoint: {name}={reference}: value contains a NUL byte", file=sys.stderr)
            failed = True
            continue
        resolved[name] = value
    if failed:
        return EXIT_UNRESOLVED
    out = sys.stdout.buffer
    for name, value in resolved.items():
        out.write(name.encode() + b"\0" + value.encode() + b"\0")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
