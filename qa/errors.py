"""One error tree. Every error carries a message naming the cause and a hint naming the fix, the exit
code the CLI ends with, and the HTTP status and stable error code ``qa serve`` answers with."""

from __future__ import annotations


class QAError(Exception):
    """Base of all article-qa errors: ``str(err)`` is the cause, ``err.hint`` the fix."""

    exit_code = 1
    http_status = 500
    code = "internal"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(QAError):
    """A setting is missing or invalid."""

    exit_code = 2


class InputError(QAError):
    """A file or record could not be read or holds no usable article text."""

    exit_code = 3
    http_status, code = 400, "bad_input"


class StoreError(QAError):
    """The vector store could not be opened, read or written."""

    exit_code = 4
    http_status, code = 503, "store_unavailable"


class StoreMismatchError(StoreError):
    """The store was built with another embedding model or chunking settings."""

    http_status, code = 500, "store_mismatch"


class NoDocumentsError(StoreError):
    """A question was asked before anything was ingested."""

    http_status, code = 409, "no_documents"


class DocumentNotFoundError(StoreError):
    """A document id does not exist in the store."""

    http_status, code = 404, "document_not_found"


class ModelError(QAError):
    """The language or embedding model failed."""

    exit_code = 5
    http_status, code = 502, "model_unavailable"


class ModelUnavailableError(ModelError):
    """The model endpoint is unreachable, timed out, or the local server failed to start."""

    http_status, code = 503, "model_unavailable"


class ModelOutputError(ModelError):
    """The model replied with something that is not the structured answer asked for."""

    http_status, code = 502, "model_output"


class ModelFetchError(ModelError):
    """A local model file could not be downloaded, assembled or verified."""

    http_status, code = 503, "model_unavailable"


class ServeError(QAError):
    """An error of the HTTP layer itself (``qa serve``): auth, size limits, load, time limits."""


class UnauthorizedError(ServeError):
    """A request without the right bearer token."""

    http_status, code = 401, "unauthorized"


class TooLargeError(ServeError):
    """A request body or upload past its limit."""

    http_status, code = 413, "too_large"


class ClientGoneError(ServeError):
    """The client disconnected before its upload was ingested (nobody reads the answer; logs and metrics do)."""

    http_status, code = 499, "client_closed"


class OverloadedError(ServeError):
    """Every generation slot and queue place is taken."""

    http_status, code = 503, "overloaded"


class RequestTimeoutError(ServeError):
    """A question took longer than its time limit."""

    http_status, code = 504, "timeout"


__all__ = [
    "ClientGoneError",
    "ConfigError",
    "DocumentNotFoundError",
    "InputError",
    "ModelError",
    "ModelFetchError",
    "ModelOutputError",
    "ModelUnavailableError",
    "NoDocumentsError",
    "OverloadedError",
    "QAError",
    "RequestTimeoutError",
    "ServeError",
    "StoreError",
    "StoreMismatchError",
    "TooLargeError",
    "UnauthorizedError",
]
