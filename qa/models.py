"""The data that flows through article-qa: documents, chunks, passages, citations and answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Span(BaseModel):
    """A half-open character range ``[start, end)`` into a document's canonical text."""

    start: int
    end: int
    reason: str = ""


class Document(BaseModel):
    """One article. ``text`` is canonical: every offset in the system points into it."""

    doc_id: str
    text: str
    title: str | None = None
    url: str | None = None
    source: str | None = None
    published_at: str | None = None
    path: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    #: Scraped debris (captions, video teasers, datelines, contributor lines) left out of chunks.
    excluded: list[Span] = Field(default_factory=list)

    @property
    def content_hash(self) -> str:
        """Hash of the text and metadata that decide the document's chunks."""
        import hashlib
        import json

        payload = json.dumps(
            [self.text, self.title, self.url, self.source, self.published_at, self.metadata],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class Chunk(BaseModel):
    """A slice of a document: ``text == document.text[char_start:char_end]``."""

    chunk_id: str
    doc_id: str
    index: int
    text: str
    char_start: int
    char_end: int
    heading: str | None = None
    n_tokens: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)


class Passage(BaseModel):
    """A retrieved chunk, shown to the model under a short numeric ``key``."""

    key: int
    chunk_id: str
    doc_id: str
    title: str | None = None
    text: str
    char_start: int
    char_end: int
    heading: str | None = None
    score: float = Field(description="Cosine similarity of passage and question embeddings, higher is closer.")
    rerank_score: float | None = Field(default=None, description="Cross-encoder relevance logit, when reranked.")
    metadata: dict[str, Any] = Field(default_factory=dict)


class Filters(BaseModel):
    """Restrict a question to some documents. Every given condition must hold."""

    doc_ids: list[str] | None = Field(default=None, description="Only these document ids.")
    source: str | None = Field(default=None, description="Only documents whose source is exactly this.")
    title: str | None = Field(default=None, description="Only documents whose title is exactly this.")
    published_after: str | None = Field(default=None, description="ISO date; published on or after it.")
    published_before: str | None = Field(default=None, description="ISO date; published on or before it.")

    def is_empty(self) -> bool:
        """True when nothing is restricted."""
        return not any(self.model_dump().values())


class Citation(BaseModel):
    """A verified citation: ``quote`` is exactly ``document.text[char_start:char_end]``."""

    key: int = Field(description="The [n] marker used in the answer text.")
    passage_key: int = Field(description="The key of the retrieved passage the quote was found in.")
    doc_id: str
    title: str | None = None
    chunk_id: str
    quote: str
    char_start: int
    char_end: int
    score: float
    located_by: Literal["model", "code"] = Field(
        default="model",
        description="'model': the model's own quote, found in the passage. 'code': the model's quote was "
        "missing, altered or didn't back the sentence, so the sentence of the passage that contains the "
        "sentence's words was found in code.",
    )


class Usage(BaseModel):
    """Token counts reported by the model endpoint."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0

    def plus(self, other: Usage) -> Usage:
        """The counts of two calls together."""
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
        )


class Timings(BaseModel):
    """Seconds spent in each stage of answering one question."""

    retrieve_s: float = 0.0
    first_token_s: float | None = None
    generate_s: float = 0.0
    verify_s: float = 0.0
    total_s: float = 0.0


class Answer(BaseModel):
    """The result of asking a question: the answer, its verified citations and the evidence behind it."""

    question: str
    answer: str
    answerable: bool
    citations: list[Citation] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    refusal_reason: str | None = Field(
        default=None, description="Why the answer was withheld, when answerable is false."
    )
    dropped_citations: int = Field(
        default=0, description="Citations the model gave that failed verification and were removed."
    )
    dropped_sentences: int = Field(
        default=0, description="Answer sentences removed because no verified quote supports them."
    )
    standalone_question: str | None = Field(
        default=None, description="The question as searched for, when it was rewritten from the conversation."
    )
    ignored_instructions: list[str] = Field(
        default_factory=list, description="Parts of the question that were instructions to the assistant, set aside."
    )
    model_answerable: bool | None = Field(
        default=None, description="What the model itself claimed (one signal, never trusted alone)."
    )
    raw_answer: str | None = Field(default=None, description="The model's answer text before verification.")
    raw_citations: list[dict[str, Any]] = Field(
        default_factory=list, description="The model's own citations ({key, quote}) before verification."
    )
    raw_reply: str | None = Field(
        default=None, description="The model's structured reply (JSON) as received, so checks can be replayed."
    )
    evidence_ids: list[int] = Field(
        default_factory=list, description="Numbers of the sentences the answer rests on, as shown to the model."
    )
    checks: dict[str, Any] = Field(
        default_factory=dict, description="What the support checks measured (relation coverage, relevance, …)."
    )
    model: str = ""
    usage: Usage = Field(default_factory=Usage)
    timings: Timings = Field(default_factory=Timings)


class IngestFailure(BaseModel):
    """A file or record that could not be ingested, and why."""

    path: str
    reason: str
    hint: str = ""


class IngestReport(BaseModel):
    """Summary of one ingest run."""

    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    failed: list[IngestFailure] = Field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failed


class DocumentInfo(BaseModel):
    """What the store knows about one ingested document."""

    doc_id: str
    title: str | None = None
    source: str | None = None
    url: str | None = None
    published_at: str | None = None
    path: str | None = None
    content_hash: str
    chunks: int
    chars: int


class DocumentText(DocumentInfo):
    """An ingested document with its canonical text: every citation's offsets point into ``text``."""

    text: str
