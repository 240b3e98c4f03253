"""article-qa: question answering over news articles with verified, cited passages."""

from qa.answer import REFUSAL_TEXT
from qa.api import QA
from qa.errors import (
    ConfigError,
    DocumentNotFoundError,
    InputError,
    ModelError,
    ModelOutputError,
    ModelUnavailableError,
    NoDocumentsError,
    QAError,
    StoreError,
    StoreMismatchError,
)
from qa.models import Answer, Chunk, Citation, Document, DocumentInfo, IngestReport, Passage
from qa.settings import Settings

__all__ = [
    "QA",
    "REFUSAL_TEXT",
    "Answer",
    "Chunk",
    "Citation",
    "ConfigError",
    "Document",
    "DocumentInfo",
    "DocumentNotFoundError",
    "IngestReport",
    "InputError",
    "ModelError",
    "ModelOutputError",
    "ModelUnavailableError",
    "NoDocumentsError",
    "Passage",
    "QAError",
    "Settings",
    "StoreError",
    "StoreMismatchError",
]
