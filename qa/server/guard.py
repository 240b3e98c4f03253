"""Who may call ``qa serve`` and with how much: the bind check (no token, no listening beyond loopback),
the bearer-token and body-limit middleware, and secrets kept out of access logs."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from collections.abc import Callable

from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.errors import ConfigError, ServeError, TooLargeError, UnauthorizedError
from qa.server.errors import error_response, qa_error_response
from qa.settings import ServeSettings

# -- binding -----------------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: SecretStr | None) -> None:
    """Raise ConfigError when asked to listen beyond loopback without a token."""
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without a token: anyone who can reach it could read and change the store",
            hint="set QA_SERVE_TOKEN (e.g. export QA_SERVE_TOKEN=$(python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')) or listen on 127.0.0.1",
        )


# -- the guard: auth and body limits, plus a per-request callback for metrics ----------------------------


class GuardMiddleware:
    """Pure ASGI middleware: bearer token (constant-time), body size limits (413), request accounting.

    The token is checked before any body is read. Bodies are limited both by Content-Length and while
    they stream (chunked uploads), so an oversized request is cut off without being buffered.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        serve: ServeSettings,
        label: Callable[[Scope], str],
        on_response: Callable[[str, str, int], None],
        public_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.public_paths = public_paths
        self.token = serve.token.get_secret_value().encode("utf-8") if serve.token else None
        self.json_limit = int(serve.max_json_mb * 1_000_000)
        self.upload_limit = int(serve.max_upload_mb * 1_000_000)
        self.label = label
        self.on_response = on_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # if the app fails before answering, the outer error handler sends a 500

        async def counted_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._guarded(scope, receive, counted_send)
        finally:
            self.on_response(self.label(scope), str(scope.get("method", "")), status)

    def _authorized(self, scope: Scope, headers: Headers) -> bool:
        if self.token is None:
            return True
        if scope.get("method") in ("GET", "HEAD") and scope.get("path") in self.public_paths:
            return True  # the page shell: no data in it, it asks for the token itself
        scheme, _, value = headers.get("authorization", "").partition(" ")
        # Header values arrive decoded as latin-1; encoding back gives the bytes the client sent.
        given = value.strip().encode("latin-1", "replace")
        return scheme.lower() == "bearer" and hmac.compare_digest(given, self.token)

    def _limit(self, scope: Scope, headers: Headers) -> tuple[int, str]:
        upload = scope.get("method") == "POST" and headers.get("content-type", "").startswith("multipart/form-data")
        if upload:
            return self.upload_limit, "QA_SERVE_MAX_UPLOAD_MB"
        return self.json_limit, "QA_SERVE_MAX_JSON_MB"

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if not self._authorized(scope, headers):
            exc: ServeError = UnauthorizedError(
                "missing or wrong bearer token", hint="send the header Authorization: Bearer $QA_SERVE_TOKEN"
            )
            await qa_error_response(exc)(scope, receive, send)
            return
        limit, setting = self._limit(scope, headers)
        too_large = TooLargeError(
            f"the request body is over the {limit / 1_000_000:g} MB limit",
            hint=f"send less per request, or raise {setting} on the server",
        )
        declared = headers.get("content-length")
        if declared is not None and not declared.isdigit():
            await error_response(400, "bad_input", "invalid Content-Length header")(scope, receive, send)
            return
        if declared is not None and int(declared) > limit:
            await qa_error_response(too_large)(scope, receive, send)
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise too_large
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app makes of the interrupted read, the answer is 413
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await qa_error_response(too_large)(scope, receive, send)


_SECRET_PARAM = re.compile(
    r"([?&](?:[^=&#]*(?:token|key|secret|password|passwd|auth|sig|signature|credential)[^=&#]*)=)[^&#\s]*", re.I
)


def redact_query(path: str) -> str:
    """``path`` with the values of credential-like query parameters (token, key, secret…) replaced by ***."""
    return _SECRET_PARAM.sub(r"\1***", path)


class AccessLogRedactor(logging.Filter):
    """Keeps ``?token=…`` and the like out of uvicorn's access log (its args: client, method, path, …)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


def install_access_log_redactor() -> None:
    """Attach AccessLogRedactor to uvicorn's access logger once (after uvicorn configured logging)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogRedactor) for f in logger.filters):
        logger.addFilter(AccessLogRedactor())
