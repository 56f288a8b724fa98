"""Masks secrets in what a script writes, before it reaches the task's log.

entrypoint.sh runs one of these per output stream (stdout, stderr): the script writes into
a pipe, this reads the pipe and writes to the task's own stream, which the awslogs driver
sends to CloudWatch Logs. As CI systems do with their secret variables:

- every value a secret reference resolved to becomes ``***`` (each line of a multi-line
  value too, since it can only be printed line by line);
- so does what looks like a credential whatever its origin: an AWS access key id, the
  value after a password/token/secret-key name (``password=…``, ``"api_key": "…"``,
  ``Authorization: Bearer …``), the password in a URL (``postgres://user:…@host``).

Lines are written as soon as they are complete (awslogs makes one event of each line
anyway), so a secret split across two writes is still whole when it is masked. A line
longer than LONG_LINE bytes, where awslogs splits it into several events too, is passed on
in pieces, each piece masked and keeping back the bytes that could begin a secret or a
credential. The secrets are read first, NUL-separated, from fd 3
(never from the command line or the environment, where /proc would show them).

Run as ``python3 -I -S`` (the standard library only). It stops when the script and all it
started have closed the pipe, not on a signal: the last lines a stopping script writes are
the ones a reader wants.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections.abc import Callable

MASK = b"***"
# The awslogs driver's largest event, 256 KiB less 26 bytes of overhead (Docker's
# daemon/logger/awslogs and Fargate's shim-loggers-for-containerd; docs/aws-facts.md).
LONG_LINE = 262_118
SECRETS_FD = 3
READ_SIZE = 64 * 1024

# Credentials recognised by their shape or by the name before them. The value ends at
# white space, a quote or a separator of query strings and lists; quoted values are kept
# quoted. A secret reference (ssm:/…, secretsmanager:…) names a secret, it is not one.
# Every repetition before a fixed part is bounded: an unbounded \w* before "password" would
# try every split of a long word, quadratic in the line's length (a 256 KiB line of letters
# would take hours).
# "secret" and "token" only inside a compound name (CLIENT_SECRET, GITHUB_TOKEN,
# secret_key): alone they are ordinary words ("secret: match"). Not "pwd": PWD=/path is the
# working directory.
_NAMES = (
    rb"\b(?:[\w-]{0,40}?(?:password|passwd|api[_-]?key|private[_-]?key)[\w-]{0,40}"
    rb"|[\w-]{1,40}?[_-](?:secret|token)[\w-]{0,40}|(?:secret|token)[_-][\w-]{1,40})"
)


def _keep_quotes(match: re.Match[bytes]) -> bytes:
    """The name kept, the value masked (inside its quotes, if it had them)."""
    value = match.group("value")
    quote = value[:1] if value[:1] in (b'"', b"'") else b""
    return match.group("name") + quote + MASK + quote


CREDENTIALS: tuple[tuple[re.Pattern[bytes], Callable[[re.Match[bytes]], bytes]], ...] = (
    # AWS access key ids (long-term AKIA…, temporary ASIA…): 20 upper-case characters.
    (re.compile(rb"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"), lambda _: MASK),
    # NAME=value, NAME: value, "NAME": "value" (JSON), case-insensitive.
    (
        re.compile(
            rb"(?i)(?P<name>[\"']?" + _NAMES + rb"[\"']?\s*[=:]\s*)"
            rb"(?P<value>\"(?!ssm:|secretsmanager:)(?:\\.|[^\"\\])+\"|'(?!ssm:|secretsmanager:)[^']+'"
            rb"|(?![\"']|ssm:|secretsmanager:|\*\*\*)[^\s\"'&;,]+)"
        ),
        _keep_quotes,
    ),
    # Authorization: Bearer <token> / Basic <credentials>.
    (
        re.compile(rb"(?i)(?P<name>\b(?:bearer|basic)\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})"),
        _keep_quotes,
    ),
    # scheme://user:password@host
    (
        re.compile(
            rb"(?P<name>\b[a-zA-Z][a-zA-Z0-9+.-]{0,30}://[^/\s:@]{1,256}:)"
            rb"(?P<value>[^@\s/]{1,256})(?=@)"
        ),
        _keep_quotes,
    ),
)


# A whole value shorter than this is not masked, nor a part (a line, a JSON field) shorter
# than PART_CHARS: masking every "1" or "{" would hide the log, not a secret.
VALUE_CHARS = 3
PART_CHARS = 4
# How much of a long line waits for the next bytes, at least, besides the longest secret:
# a credential's name and value may straddle the cut.
CREDENTIAL_TAIL = 512


def parts(secret: bytes) -> set[bytes]:
    """What of a secret could be printed on its own: the whole value, each of its lines,
    and, for a JSON secret (Secrets Manager's usual shape), each string in it."""
    found = {secret} if len(secret) >= VALUE_CHARS else set()
    pieces = {line.strip() for line in secret.splitlines()}
    try:
        document = json.loads(secret)
    except ValueError:
        document = None
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack += value.values()
        elif isinstance(value, list):
            stack += value
        elif isinstance(value, str):
            pieces.add(value.encode())
    return found | {p for p in pieces if len(p) >= PART_CHARS}


class Masker:
    """Masks the given secret values and credential shapes in lines of bytes."""

    def __init__(self, secrets: list[bytes]) -> None:
        values: set[bytes] = set()
        for secret in secrets:
            values |= parts(secret)
        ordered = sorted(values, key=len, reverse=True)  # the longest wins where they overlap
        self.longest = len(ordered[0]) if ordered else 0
        self._secrets = re.compile(b"|".join(re.escape(v) for v in ordered)) if ordered else None

    def secrets(self, data: bytes) -> bytes:
        return self._secrets.sub(MASK, data) if self._secrets is not None else data

    def line(self, data: bytes) -> bytes:
        data = self.secrets(data)
        for pattern, replacement in CREDENTIALS:
            data = pattern.sub(replacement, data)
        return data

    def safe_cut(self, data: bytes, cut: int) -> int:
        """The last place at or before ``cut`` that is inside no secret or credential of
        ``data``: the bytes before it can be masked and passed on alone."""
        patterns = [p for p, _ in CREDENTIALS]
        if self._secrets is not None:
            patterns.append(self._secrets)
        moved = True
        while moved and cut > 0:
            moved = False
            for pattern in patterns:
                for match in pattern.finditer(data):
                    if match.start() < cut < match.end():
                        cut, moved = match.start(), True
        return cut


class Stream:
    """One stream's pending bytes: complete lines go out masked; a partial line waits for
    its end, or goes out in masked pieces once it is longer than LONG_LINE."""

    def __init__(self, masker: Masker) -> None:
        self.masker = masker
        self.pending = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self.pending + chunk
        end = data.rfind(b"\n")
        out = b""
        if end >= 0:
            out = b"\n".join(self.masker.line(x) for x in data[:end].split(b"\n")) + b"\n"
            data = data[end + 1 :]
        if len(data) > LONG_LINE:
            # The tail that could still begin a secret or a credential waits for the next
            # bytes, and the cut falls outside any match, so each is masked whole.
            keep = max(self.masker.longest - 1, CREDENTIAL_TAIL)
            cut = self.masker.safe_cut(data, len(data) - keep)
            if cut == 0 and len(data) > 2 * LONG_LINE:
                cut = len(data)  # one match the size of two events: masked as it is
            out += self.masker.line(data[:cut])
            data = data[cut:]
        self.pending = data
        return out

    def close(self) -> bytes:
        data, self.pending = self.pending, b""
        return self.masker.line(data) if data else b""


def read_secrets(fd: int) -> list[bytes]:
    chunks = []
    while chunk := os.read(fd, READ_SIZE):
        chunks.append(chunk)
    os.close(fd)
    return [s for s in b"".join(chunks).split(b"\0") if s]


def write_all(fd: int, data: bytes) -> bool:
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        return False  # the reader has gone; keep draining so the script is not blocked
    return True


def main() -> int:
    # A stop is for the script: this keeps reading until the pipe closes.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    try:
        secrets = read_secrets(SECRETS_FD)
    except OSError:
        secrets = []
    stream = Stream(Masker(secrets))
    writable = True
    while chunk := os.read(0, READ_SIZE):
        out = stream.feed(chunk)
        if out and writable:
            writable = write_all(1, out)
    if writable:
        write_all(1, stream.close())
    return 0


if __name__ == "__main__":
    sys.exit(main())
