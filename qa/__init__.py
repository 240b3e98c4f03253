"""article-qa: question answering over news articles with verified, cited passages.

``QA`` is the API (ingest, ask, stream, retrieve, documents, remove); the rest of this namespace is the
types its signatures use and the errors it raises.
"""

from qa.answer import REFUSAL_TEXT
from qa.api import QA
from qa.conversation import Rewrite, Turn
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
from qa.ingest import Progress
from qa.models import (
    Answer,
    Chunk,
    Citation,
    Document,
    DocumentInfo,
    DocumentText,
    Filters,
    IngestFailure,
    IngestReport,
    Passage,
    Timings,
    Usage,
)
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
    "DocumentText",
    "Filters",
    "IngestFailure",
    "IngestReport",
    "InputError",
    "ModelError",
    "ModelFetchError",
    "ModelOutputError",
    "ModelUnavailableError",
    "NoDocumentsError",
    "Passage",
    "Progress",
    "QAError",
    "Rewrite",
    "Settings",
    "StoreError",
    "StoreMismatchError",
    "Timings",
    "Turn",
    "Usage",
]
