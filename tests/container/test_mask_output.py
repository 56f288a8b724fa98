"""container/lib/mask_output.py: what the masker lets through, piece by piece."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "mask_output", ROOT / "container" / "lib" / "mask_output.py"
)
assert _spec is not None
assert _spec.loader is not None
mask_output = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mask_output)

JSON_SECRET = json.dumps({"username": "app", "password": "s3cr3t!x", "port": 5432}, indent=2)


def masked(secrets: list[str], *writes: bytes) -> bytes:
    stream = mask_output.Stream(mask_output.Masker([s.encode() for s in secrets]))
    return b"".join(stream.feed(w) for w in writes) + stream.close()


def test_a_json_secrets_fields_are_masked_and_its_braces_are_not() -> None:
    out = masked([JSON_SECRET], b'pw s3cr3t!x\nstatus: {"ok": true}\nuser app\n')
    assert out == b'pw ***\nstatus: {"ok": true}\nuser app\n'  # "app" is under 4 characters


@pytest.mark.parametrize("cut", range(1, 12))
def test_a_secret_split_across_writes_is_masked_whole(cut: int) -> None:
    line = b"value abcdefghij end\n"
    assert masked(["abcdefghij"], line[: 6 + cut], line[6 + cut :]) == b"value *** end\n"


@pytest.mark.parametrize("offset", [-40, -9, -3, 0, 3, 9, 600])
def test_a_long_lines_pieces_never_cut_a_secret_or_a_credential(offset: int) -> None:
    """Longer than an awslogs event, the line goes on in pieces; whatever sits across the
    first cut is masked whole, secrets and credential shapes alike."""
    head = b"x" * (mask_output.LONG_LINE + offset)
    out = masked(
        ["abcdefghij"],
        head + b" abcde",
        b"fghij password=hun",
        b"ter2 AKIAIOSFO",
        b"DNN7EXAMPLE tail\n",
    )
    assert out == head + b" *** password=*** *** tail\n"


def test_a_credential_longer_than_two_events_is_masked_whole() -> None:
    out = masked([], b"GITHUB_TOKEN=" + b"q" * (2 * mask_output.LONG_LINE + 10), b"\n")
    assert out == b"GITHUB_TOKEN=***\n"


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (b"GITHUB_TOKEN=ghp_abcdef", b"GITHUB_TOKEN=***"),
        (b"X-Api-Key: k-123456", b"X-Api-Key: ***"),
        (b'{"password": "a\\"bc", "user": "x"}', b'{"password": "***", "user": "x"}'),
        (b"PWD=/usr/src/app", b"PWD=/usr/src/app"),
        (b"secret: match", b"secret: match"),
        (b"CLIENT_SECRET=abcdef", b"CLIENT_SECRET=***"),
        (b"secret_key: abcdef", b"secret_key: ***"),
        (b"DB_PASSWORD=ssm:/longjob/db", b"DB_PASSWORD=ssm:/longjob/db"),
        (b"mysql://root:pw123@db:3306/x", b"mysql://root:***@db:3306/x"),
    ],
)
def test_credential_shapes(line: bytes, shown: bytes) -> None:
    assert masked([], line + b"\n") == shown + b"\n"
