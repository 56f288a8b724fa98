"""Links into the AWS console: an execution, a task's log stream, a Logs Insights query.

The log links follow the CloudWatch console's own URL scheme, which AWS does not document
(the encodings are recorded with their sources in docs/aws-facts.md, "Console links"):
after ``#logsV2:`` names are URL-encoded twice and ``%`` becomes ``$``; a Logs Insights
query detail is a JSURL value whose ``~ ( ) '`` are encoded twice the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

# The console's host per partition (China has its own).
CONSOLE_HOSTS = {"aws": "console.aws.amazon.com", "aws-cn": "console.amazonaws.cn"}


def _console(region: str, partition: str | None = None) -> str:
    partition = partition or ("aws-cn" if region.startswith("cn-") else "aws")
    host = CONSOLE_HOSTS.get(partition, f"{partition}.console.aws.amazon.com")
    return f"https://{region}.{host}"


def execution_url(execution_arn: str) -> str:
    partition, region = execution_arn.split(":")[1], execution_arn.split(":")[3]
    return (
        f"{_console(region, partition)}/states/home?region={region}"
        f"#/v2/executions/details/{execution_arn}"
    )


def _twice(name: str) -> str:
    return quote(quote(name, safe=""), safe="").replace("%", "$")


def log_stream_url(region: str, log_group: str, stream: str) -> str:
    """The console page of one log stream."""
    return (
        f"{_console(region)}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
        f"{_twice(log_group)}/log-events/{_twice(stream)}"
    )


def _jsurl_string(text: str) -> str:
    """A JSURL string: letters, digits, - . and _ as they are, any other character as *XX
    (**XXXX above U+00FF)."""
    out = []
    for char in text:
        if char.isascii() and (char.isalnum() or char in "-._"):
            out.append(char)
        elif ord(char) < 0x100:
            out.append(f"*{ord(char):02x}")
        else:
            out.append(f"**{ord(char):04x}")
    return "'" + "".join(out)


_JSURL_PUNCTUATION = {"~": "$257E", "(": "$2528", ")": "$2529", "'": "$2527"}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def insights_url(region: str, log_group: str, start_ms: int, end_ms: int, query: str) -> str:
    """Logs Insights with ``query`` over ``log_group`` between two instants (epoch ms)."""
    detail = (
        f"~(end~{_jsurl_string(_iso(end_ms))}~start~{_jsurl_string(_iso(start_ms))}"
        f"~timeType~'ABSOLUTE~tz~'UTC~editorString~{_jsurl_string(query)}"
        f"~source~(~{_jsurl_string(log_group)}))"
    )
    encoded = "".join(_JSURL_PUNCTUATION.get(char, char) for char in detail)
    return (
        f"{_console(region)}/cloudwatch/home?region={region}"
        f"#logsV2:logs-insights$3FqueryDetail$3D{encoded}"
    )
