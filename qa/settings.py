"""All configuration, read once from ``QA_*`` environment variables (and ``.env``).

Sections map to variables with one underscore: ``QA_LLM_BASE_URL`` sets ``llm.base_url``,
``QA_RETRIEVAL_K`` sets ``retrieval.k``. ``QA_STORE``, ``QA_CHROMA_URL`` and ``QA_HOME`` are top level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def redact_url(url: str) -> str:
    """``url`` fit to show: a user and password become ``***``, a query string ``?***``. Raises nothing."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


class LLMSettings(BaseModel):
    """The chat model that writes answers."""

    base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1. Unset: the bundled local model.",
    )
    model: str = Field(default="local", description="Model name sent to the endpoint.")
    api_key: SecretStr | None = Field(default=None, description="API key for base_url; falls back to OPENAI_API_KEY.")
    local_model: str = Field(
        default="qwen2.5-coder-1.5b-instruct",
        description="Which bundled model the local server runs (see `qa weights list`).",
    )
    local_port: int = Field(default=0, description="Port for the local server on 127.0.0.1; 0 picks a free one.")
    local_ctx: int = Field(default=4096, description="Context window of the local server, in tokens.")
    local_threads: int = Field(default=2, description="CPU threads the local server uses.")
    local_idle_minutes: float = Field(
        default=20.0, description="The local server stops itself after this many minutes without use."
    )
    temperature: float = Field(default=0.0, description="Sampling temperature.")
    max_tokens: int = Field(default=400, description="Upper bound on generated tokens per answer.")
    timeout_s: float = Field(default=180.0, description="Seconds to wait for one model reply before giving up.")
    max_retries: int = Field(default=2, description="Retries on connection errors, 429 and 5xx replies.")


class EmbeddingSettings(BaseModel):
    """The model that turns chunks and questions into vectors."""

    provider: Literal["local", "openai"] = Field(
        default="local",
        description="'local': bundled all-MiniLM-L6-v2 (ONNX, CPU). 'openai': an embeddings endpoint.",
    )
    model: str = Field(
        default="all-MiniLM-L6-v2-int8",
        description="Embedding model name; for provider=openai e.g. text-embedding-3-small.",
    )
    base_url: str | None = Field(default=None, description="Embeddings endpoint for provider=openai.")
    api_key: SecretStr | None = Field(default=None, description="API key; falls back to OPENAI_API_KEY.")
    batch_size: int = Field(default=32, description="Texts embedded per call.")
    threads: int = Field(default=2, description="CPU threads for the local embedder.")


class ChunkingSettings(BaseModel):
    """How documents are cut into passages."""

    max_tokens: int = Field(default=96, description="Upper bound on a chunk's length in embedder tokens.")
    overlap_tokens: int = Field(
        default=24,
        description="Whole sentences up to this many tokens are repeated at the start of the next chunk.",
    )


class IngestSettings(BaseModel):
    """Limits on what is read, and how it is written."""

    max_file_mb: float = Field(default=50.0, description="Files larger than this many MB are refused.")
    batch_chunks: int = Field(
        default=256,
        ge=1,
        description="Documents are embedded and committed in batches of about this many chunks "
        "(an interrupted ingest loses at most the batch in flight; a rerun completes it).",
    )


class RetrievalSettings(BaseModel):
    """How passages are found for a question."""

    k: int = Field(default=4, description="Passages given to the model per question.")
    mode: Literal["hybrid", "dense", "lexical"] = Field(
        default="hybrid", description="Dense (embeddings), lexical (BM25) or both fused by reciprocal rank."
    )
    candidates: int = Field(default=20, description="Candidates taken from each search before fusion.")
    rrf_k: float = Field(default=10.0, description="Reciprocal rank fusion constant: higher flattens ranks.")
    dense_weight: float = Field(default=1.0, description="Weight of the dense ranking in fusion.")
    lexical_weight: float = Field(default=1.5, description="Weight of the lexical ranking in fusion.")
    rerank: bool = Field(
        default=True, description="Rerank fused candidates with the bundled cross-encoder (ms-marco-MiniLM-L-12)."
    )
    rerank_candidates: int = Field(default=12, description="How many fused candidates the cross-encoder reads.")
    mmr_lambda: float | None = Field(
        default=None,
        description="Maximal marginal relevance: 1.0 is pure relevance, lower favours passages unlike those already "
        "chosen (word overlap). Unset: off (the evals show no gain on our sets).",
    )
    duplicate_threshold: float = Field(
        default=0.8, description="Word 4-gram Jaccard similarity at which a passage counts as a near-duplicate."
    )
    min_score: float = Field(
        default=0.2,
        description="Cosine similarity below which a passage counts as unrelated; if none reach it, refuse.",
    )


class AnswerSettings(BaseModel):
    """How answers are checked before they are shown (see qa.verify)."""

    min_support: float = Field(
        default=0.5,
        description="Share of the answer's new ordinary words the cited sentences must contain (every new name "
        "and number must occur in them, whatever this is).",
    )
    min_relation: float = Field(
        default=0.5,
        description="Share of the question's own terms the cited sentences must hold to count as about the "
        "question (or the cross-encoder must score them at least min_relevance).",
    )
    min_relevance: float = Field(
        default=0.0,
        description="Cross-encoder logit of (question, cited sentences) at which they count as answering the "
        "question even when they share few of its words (a paraphrase). Used when reranking is on.",
    )
    confident_span: float | None = Field(
        default=-0.35,
        description="Log-probability every token of the model's answer span must reach for the span to count as "
        "confident (-0.35 is about 70%). Cited sentences that fail the relation test then still count as about "
        "the question when the cross-encoder scores them at least confident_relevance. None ('off') turns this "
        "off and asks the endpoint for no log-probabilities.",
    )
    confident_relevance: float = Field(
        default=-2.0,
        description="Cross-encoder bar for the cited sentences of a confident span (see confident_span); it "
        "only ever lets pass what min_relevance would refuse.",
    )
    premise_check: Literal["on", "numbers", "off"] = Field(
        default="numbers",
        description="Refuse when the question takes for granted a number ('numbers'), or a number or a "
        "capitalised name ('on'), that no retrieved passage mentions.",
    )
    anchors: bool = Field(
        default=False,
        description="Refuse when a name or number the question is about occurs neither in the cited sentences "
        "nor in the sentence before each (catches questions about a swapped entity; costs some multi-hop answers).",
    )
    confirm: bool = Field(
        default=False,
        description="After an answer passes the checks in code, ask the model one short follow-up (its cached "
        "prompt reused): do the cited sentences answer the question? A 'no' withholds the answer; a 'yes' "
        "approves nothing on its own.",
    )
    second_look: bool = Field(
        default=True,
        description="When code refuses the sentences a reply pointed at (about something else, said of another "
        "subject, or naming the question's own subject for whom it acts on), ask the model once more with those "
        "sentences left out. The second reply is shown only if it passes every check as given (nothing moved "
        "or replaced by code) and the cross-encoder ranks its cited sentence first of all shown. Needs "
        "reranking on; costs one more model call per such refusal.",
    )
    max_evidence: int = Field(
        default=4, ge=1, le=8, description="Most sentences the model may point at for one answer."
    )

    @field_validator("confident_span", mode="before")
    @classmethod
    def _off_is_none(cls, value: Any) -> Any:
        """QA_ANSWER_CONFIDENT_SPAN=off (or none, or empty) turns the signal off."""
        return None if isinstance(value, str) and value.strip().lower() in ("", "off", "none", "null") else value


class ServeSettings(BaseModel):
    """How ``qa serve`` listens, whom it lets in and how much work it takes on (``QA_SERVE_*``)."""

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


class Settings(BaseSettings):
    """Effective configuration of article-qa."""

    model_config = SettingsConfigDict(
        env_prefix="QA_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_file=".env",
        extra="ignore",
    )

    home: Path = Field(default=Path(".qa"), description="Data folder for models, stores and caches.")
    store: Path | None = Field(default=None, description="Store folder (default: <home>/store).")
    chroma_url: str | None = Field(
        default=None, description="Chroma server URL (e.g. http://127.0.0.1:8000); unset: embedded store."
    )
    collection: str = Field(default="articles", description="Name of the Chroma collection prefix.")
    llm: LLMSettings = Field(default_factory=LLMSettings, description="The chat model that writes answers (QA_LLM_*).")
    embeddings: EmbeddingSettings = Field(
        default_factory=EmbeddingSettings, description="The embedding model (QA_EMBEDDINGS_*)."
    )
    ingest: IngestSettings = Field(
        default_factory=IngestSettings, description="Limits on ingested files (QA_INGEST_*)."
    )
    chunking: ChunkingSettings = Field(
        default_factory=ChunkingSettings, description="How documents are cut into passages (QA_CHUNKING_*)."
    )
    retrieval: RetrievalSettings = Field(
        default_factory=RetrievalSettings, description="How passages are found (QA_RETRIEVAL_*)."
    )
    answer: AnswerSettings = Field(default_factory=AnswerSettings, description="How answers are checked (QA_ANSWER_*).")
    serve: ServeSettings = Field(
        default_factory=ServeSettings, description="How `qa serve` listens and what it accepts (QA_SERVE_*)."
    )

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        import os

        if self.store is None:
            self.store = self.home / "store"
        key = os.environ.get("OPENAI_API_KEY")
        if key:
            if self.llm.api_key is None:
                self.llm.api_key = SecretStr(key)
            if self.embeddings.api_key is None:
                self.embeddings.api_key = SecretStr(key)
        return self

    @property
    def store_path(self) -> Path:
        """The embedded store folder."""
        assert self.store is not None
        return self.store

    @property
    def models_dir(self) -> Path:
        """Where bundled model files are assembled."""
        return self.home / "models"

    @property
    def run_dir(self) -> Path:
        """Where the local model server keeps its pid, port and log."""
        return self.home / "run"

    def masked(self) -> dict[str, Any]:
        """The effective values as plain data, secrets masked."""
        data = self.model_dump(mode="json")
        if data["serve"].get("token"):
            data["serve"]["token"] = "****"
        for section in ("llm", "embeddings"):
            if data[section].get("api_key"):
                data[section]["api_key"] = "****"
            if data[section].get("base_url"):
                data[section]["base_url"] = redact_url(data[section]["base_url"])
        if data.get("chroma_url"):
            data["chroma_url"] = redact_url(data["chroma_url"])
        return data
