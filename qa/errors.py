"""One error tree. Every error carries a message naming the cause and a hint naming the fix."""

from __future__ import annotations


class QAError(Exception):
    """Base of all article-qa errors: ``str(err)`` is the cause, ``err.hint`` the fix."""

    exit_code = 1

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


class StoreError(QAError):
    """The vector store could not be opened, read or written."""

    exit_code = 4


class StoreMismatchError(StoreError):
    """The store was built with another embedding model or chunking settings."""


class NoDocumentsError(StoreError):
    """A question was asked before anything was ingested."""


class DocumentNotFoundError(StoreError):
    """A document id does not exist in the store."""


class ModelError(QAError):
    """The language or embedding model failed."""

    exit_code = 5


class ModelUnavailableError(ModelError):
    """The model endpoint is unreachable, timed out, or the local server failed to start."""


class ModelOutputError(ModelError):
    """The model replied with something that is not the structured answer asked for."""


class ModelFetchError(ModelError):
    """A local model file could not be downloaded, assembled or verified."""


__all__ = [
    "ConfigError",
    "DocumentNotFoundError",
    "InputError",
    "ModelError",
    "ModelFetchError",
    "ModelOutputError",
    "ModelUnavailableError",
    "NoDocumentsError",
    "QAError",
    "StoreError",
    "StoreMismatchError",
]
