"""The HTTP error format of ``qa serve``: one JSON shape with stable codes,
``{"error": {"code": ..., "message": ..., "hint": ...}}``, for every error of the one tree in qa.errors
(each class names its status and code). No stack trace ever leaves the server."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from qa.errors import QAError


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


def classify(exc: QAError) -> tuple[int, str]:
    """(HTTP status, error code) for an article-qa error: the error class says (qa.errors)."""
    return exc.http_status, exc.code


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


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what}
    for status, what in {
        400: "Bad input (code bad_input)",
        401: "Missing or wrong bearer token (code unauthorized)",
        413: "Body too large (code too_large)",
        422: "Invalid request (code bad_input)",
        500: "Internal or configuration error (codes internal, store_mismatch)",
        503: "Busy or a dependency is down (codes overloaded, model_unavailable, store_unavailable); see Retry-After",
    }.items()
}


def error_responses(*extra: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: the errors every route may answer with, plus ``extra``."""
    return {**_ERRORS, **{s: {"model": ErrorBody, "description": d} for s, d in extra}}
