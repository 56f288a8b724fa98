"""The embedded AWS endpoint the tasks' scripts call (``AWS_ENDPOINT_URL``), locked.

It listens on 127.0.0.1, where every local user and every web page open in a browser can
reach it. So it serves only requests signed with the access key this engine made for its
run (the tasks get it in their environment), and refuses anything a browser sends (an
``Origin`` header, a CORS preflight). moto's own server would answer anyone, with CORS
headers for any origin.

The key is checked, not the signature: the key is random per run and never leaves this
user's processes, and S3's streaming uploads sign their payload in chunks that would have
to be verified one by one.
"""

from __future__ import annotations

import errno
import hmac
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from werkzeug.serving import make_server

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class RunCredentials:
    access_key_id: str
    secret_access_key: str

    @classmethod
    def new(cls) -> RunCredentials:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        key = "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))
        return cls(key, secrets.token_urlsafe(30))

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }


def access_key_of(environ: dict[str, Any]) -> str | None:
    """The access key a request was signed with: SigV4 header, or a presigned URL."""
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        return match.group(1)
    query = parse_qs(environ.get("QUERY_STRING", ""))
    credential = (query.get("X-Amz-Credential") or [""])[0]
    return credential.split("/", 1)[0] or None


class RequestGuard:
    """WSGI middleware: the run's key or nothing; never a browser."""

    def __init__(self, app: Callable[..., Iterable[bytes]], credentials: RunCredentials) -> None:
        self.app = app
        self.key = credentials.access_key_id

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if "HTTP_ORIGIN" in environ or environ.get("REQUEST_METHOD") == "OPTIONS":
            return self._deny(
                environ,
                start_response,
                "AccessDenied",
                "the local endpoint does not answer browsers (a request with an Origin)",
            )
        key = access_key_of(environ)
        if key is None or not hmac.compare_digest(key, self.key):
            return self._deny(
                environ,
                start_response,
                "InvalidClientTokenId",
                "the local endpoint accepts only requests signed with this run's access key",
            )
        return self.app(environ, start_response)

    @staticmethod
    def _deny(
        environ: dict[str, Any], start_response: StartResponse, code: str, message: str
    ) -> list[bytes]:
        if "HTTP_X_AMZ_TARGET" in environ:  # JSON protocols (Step Functions, SSM, Logs...)
            body = json.dumps({"__type": code, "message": message}).encode()
            content_type = "application/x-amz-json-1.1"
        else:
            body = (
                f"<ErrorResponse><Error><Code>{code}</Code><Message>{message}</Message>"
                "</Error></ErrorResponse>"
            ).encode()
            content_type = "text/xml"
        start_response("403 Forbidden", [("Content-Type", content_type)])
        return [body]


class LockedEndpoint(ThreadedMotoServer):
    """moto's threaded server on 127.0.0.1, behind RequestGuard."""

    def __init__(self, credentials: RunCredentials, port: int = 0) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self.credentials = credentials
        self._failure: OSError | None = None

    def start(self) -> None:
        """Listens, or raises the OSError that prevented it (moto's own start waits for
        ever when the port is taken)."""
        super().start()
        if self._failure is not None:
            raise self._failure

    def _server_entry(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        app = RequestGuard(DomainDispatcherApplication(create_backend_app), self.credentials)
        try:
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
        except (OSError, SystemExit) as error:  # werkzeug exits when the port is taken
            self._failure = (
                error
                if isinstance(error, OSError)
                else OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
            )
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        # Stopping waits for the loop to look: every 50 ms, not the default 0.5 s.
        self._server.serve_forever(poll_interval=0.05)
