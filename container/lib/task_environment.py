"""The script's environment, built by entrypoint.sh from the one the task received.

Run as ``python3 -I`` (no PYTHON* variables, no user site): it must not trust the
environment it is about to check.

- The platform's variables pass as received: PATH, HOME, locale and time zone, the image's
  Python settings, and the AWS_, ECS_ and LONGJOB_ variables ECS and the workflow set. A job
  cannot set these (longjob_core.environment refuses them before a run starts).
- Any other variable must be one a job may set. A name a program reads at start-up to run
  code, read configuration or redirect traffic (BASH_ENV, LD_PRELOAD, PYTHONPATH, EDITOR,
  HTTPS_PROXY...) is left out of the script's environment and named on stderr; so are names
  that are not upper-case words (container engines and login shells add some).
- Secret references (``ssm:/path``, ``secretsmanager:name-or-arn``) are resolved with boto3
  (task role, AWS_ENDPOINT_URL); errors name the variable and the reference, never a value
  (exit 125).

Output on stdout, only when everything succeeded: ``NAME\\0VALUE\\0KIND\\0`` for every
variable of the script's environment, KIND ``s`` for a value a secret reference resolved to
(the entrypoint masks those in the script's output), ``p`` for any other.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

EXIT_UNRESOLVED = 125
SECRET, PLAIN = b"s", b"p"
SSM_PREFIX = "ssm:"
SECRETS_MANAGER_PREFIX = "secretsmanager:"

# The rules a job's variables must follow: the same file validation uses (environment.py
# in longjob_core links to it). Loaded by path: `python3 -I` leaves this folder off sys.path.
_spec = importlib.util.spec_from_file_location(
    "environment_rules", Path(__file__).with_name("environment_rules.py")
)
if _spec is None or _spec.loader is None:
    raise ImportError("environment_rules.py is missing beside task_environment.py")
rules = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rules)
NAME = rules.NAME

# Set by the image, ECS or the workflow, never by a job: passed as received.
PLATFORM_NAMES = {
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "HOSTNAME",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
}
PLATFORM_PREFIXES = ("AWS_", "ECS_", "LONGJOB_", "LC_")


def is_platform(name: str) -> bool:
    return name in PLATFORM_NAMES or name.startswith(PLATFORM_PREFIXES)


def script_environment(environ: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The variables the script gets, and the names of those that must not reach it."""
    kept: dict[str, str] = {}
    refused: list[str] = []
    for name, value in sorted(environ.items()):
        if is_platform(name):
            kept[name] = value
            continue
        if not NAME.match(name):
            continue  # not a job's variable (the container engine's own, say): left out
        if rules.denied_reason(name) is not None:
            refused.append(name)
            continue
        kept[name] = value
    return kept, refused


def is_reference(value: str) -> bool:
    return value.startswith(SSM_PREFIX + "/") or (
        value.startswith(SECRETS_MANAGER_PREFIX) and len(value) > len(SECRETS_MANAGER_PREFIX)
    )


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
    details = getattr(error, "response", {}).get("Error", {})
    code = details.get("Code")
    if code in {"ParameterNotFound", "ResourceNotFoundException"}:
        return "not found"
    if code in {"AccessDeniedException", "AccessDenied"}:
        # AWS's sentence names the role, the action and the resource; never a value.
        return f"{code}: {details.get('Message', '')} (check the task role)"
    return f"{type(error).__name__}: {error}"


def resolve_references(environment: dict[str, str]) -> dict[str, str] | None:
    """The environment with its references replaced, or None after reporting failures."""
    wanted = {
        name: value
        for name, value in environment.items()
        if not is_platform(name) and is_reference(value)
    }
    if not wanted:
        return environment
    try:
        import boto3
    except ImportError:
        print("entrypoint: boto3 is needed to resolve secret references", file=sys.stderr)
        return None
    try:
        session = boto3.session.Session()
        ssm = session.client("ssm")
        secretsmanager = session.client("secretsmanager")
    except Exception as error:  # noqa: BLE001 - any setup failure is reported the same way
        print(f"entrypoint: cannot create AWS clients: {error}", file=sys.stderr)
        return None
    resolved = dict(environment)
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
    return None if failed else resolved


def main() -> int:
    environment, refused = script_environment(dict(os.environ))
    if refused:
        print(
            "entrypoint: left out of the script's environment (they can run code, read "
            f"configuration or redirect traffic): {', '.join(refused)}",
            file=sys.stderr,
        )
    resolved = resolve_references(environment)
    if resolved is None:
        return EXIT_UNRESOLVED
    out = sys.stdout.buffer
    for name, value in resolved.items():
        secret = not is_platform(name) and is_reference(environment[name])
        kind = SECRET if secret else PLAIN
        out.write(name.encode() + b"\0" + value.encode() + b"\0" + kind + b"\0")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
