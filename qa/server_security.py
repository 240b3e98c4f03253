"""Settings, the error format, bearer-token auth and body limits for ``qa serve`` (see qa/server.py).

Every setting comes from a ``QA_SERVE_*`` variable (or ``.env``). Errors are one JSON shape with stable
codes: ``{"error": {"code": ..., "message": ..., "hint": ...}}``; no stack trace ever leaves the server.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.errors import (
    ConfigError,
    DocumentNotFoundError,
    InputError,
    ModelError,
    ModelFetchError,
    ModelOutputError,
    ModelUnavailableError,
    NoDocumentsError,
    QAError,
    StoreError,
    StoreMismatchError,
)


class ServeSettings(BaseSettings):
    """How ``qa serve`` listens, whom it lets in and how much work it takes on (``QA_SERVE_*``)."""

    model_config = SettingsConfigDict(env_prefix="QA_SERVE_", env_file=".env", extra="ignore")

    host: str = Field(
        default="127.0.0.1",
        description="Interface to listen on. Anything but a loopback address requires QA_SERVE_TOKEN.",
    )
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port to listen on.")
    token: SecretStr | None = Field(
        default=None,
        description="Bearer token every request must carry (Authorization: Bearer TOKEN); unset: no auth, "
        "which is only allowed on loopback.",
    )
    max_json_mb: float = Field(default=1.0, gt=0, description="Largest JSON request body in MB; larger gets 413.")
    max_upload_mb: float = Field(
        default=50.0, gt=0, description="Largest multipart upload (all files together) in MB; larger gets 413."
    )
    max_upload_chunks: int = Field(
        default=2_000,
        ge=1,
        description="Most chunks one POST /documents may add (about 100 long articles); more gets 413 before "
        "anything is embedded. `qa ingest` on the server has no such limit.",
    )
    max_files: int = Field(default=100, ge=1, description="Most files accepted in one upload.")
    ask_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="Seconds one question may take, time waiting for a generation slot included; then 504.",
    )
    max_concurrent: int = Field(
        default=1, ge=1, description="Answers generated at the same time (each keeps the CPU or model server busy)."
    )
    max_queue: int = Field(
        default=4,
        ge=0,
        description="Questions that may wait for a free generation slot; more get 503 with Retry-After.",
    )
    retry_after_s: int = Field(default=5, ge=1, description="Retry-After seconds sent with 503 responses.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser, comma-separated; empty (default): CORS off.",
    )
    health_timeout_s: float = Field(
        default=2.0, gt=0, description="Seconds /health waits for the model endpoint to answer."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("token", mode="after")
    @classmethod
    def _empty_token_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None


# -- errors ---------------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    """What went wrong: a stable machine-readable code, the cause, and what to do about it."""

    code: str = Field(
        description="One of no_documents, document_not_found, bad_input, not_found, method_not_allowed, "
        "model_unavailable, model_output, store_mismatch, store_unavailable, overloaded, timeout, "
        "unauthorized, too_large, internal."
    )
    message: str
    hint: str = ""


class ErrorBody(BaseModel):
    """Every error response has this shape."""

    error: ErrorDetail


class ServeError(QAError):
    """An error of the HTTP layer itself, with its status and code."""

    status = 500
    code = "internal"


class UnauthorizedError(ServeError):
    status, code = 401, "unauthorized"


class TooLargeError(ServeError):
    status, code = 413, "too_large"


class ClientGoneError(ServeError):
    """The client disconnected before its upload was ingested (nobody reads the answer; logs and metrics do)."""

    status, code = 499, "client_closed"


class OverloadedError(ServeError):
    status, code = 503, "overloaded"


class RequestTimeoutError(ServeError):
    status, code = 504, "timeout"


# First match wins, so subclasses come before their bases. 4xx: the caller can fix it; 5xx: we must.
_STATUS: tuple[tuple[type[QAError], int, str], ...] = (
    (InputError, 400, "bad_input"),
    (DocumentNotFoundError, 404, "document_not_found"),
    (NoDocumentsError, 409, "no_documents"),
    (StoreMismatchError, 500, "store_mismatch"),
    (StoreError, 503, "store_unavailable"),
    (ModelOutputError, 502, "model_output"),
    (ModelUnavailableError, 503, "model_unavailable"),
    (ModelFetchError, 503, "model_unavailable"),
    (ModelError, 502, "model_unavailable"),
    (ConfigError, 500, "internal"),
)


def classify(exc: QAError) -> tuple[int, str]:
    """(HTTP status, error code) for an article-qa error."""
    if isinstance(exc, ServeError):
        return exc.status, exc.code
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            return status, code
    return 500, "internal"


def error_response(
    status: int, code: str, message: str, hint: str = "", *, retry_after_s: int = 5, **extra: Any
) -> JSONResponse:
    """The JSON error response; 503 carries Retry-After and 401 WWW-Authenticate. ``extra`` adds top-level keys."""
    headers: dict[str, str] = {}
    if status == 503:
        headers["Retry-After"] = str(retry_after_s)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="article-qa"'
    return JSONResponse({**error_payload(code, message, hint), **extra}, status_code=status, headers=headers)


def error_payload(code: str, message: str, hint: str = "") -> dict[str, Any]:
    """The error body as data: ``{"error": {"code", "message", "hint"}}``."""
    return {"error": {"code": code, "message": message, "hint": hint}}


def qa_error_response(exc: QAError, *, retry_after_s: int = 5) -> JSONResponse:
    """The JSON error response for an article-qa error."""
    status, code = classify(exc)
    return error_response(status, code, exc.message, exc.hint, retry_after_s=retry_after_s)


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
    ) -> None:
        self.app = app
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

    def _authorized(self, headers: Headers) -> bool:
        if self.token is None:
            return True
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
        if not self._authorized(headers):
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
