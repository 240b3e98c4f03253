"""The chat model client: LangChain's ChatOpenAI against the local server or any OpenAI-compatible endpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from qa.errors import ConfigError, ModelError, ModelUnavailableError
from qa.settings import Settings, redact_url

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI


def endpoint(settings: Settings, progress: Callable[[str], None] | None = None) -> tuple[str, str, str]:
    """(base_url, model name, api key) of the chat model, starting the local server when none is configured."""
    llm = settings.llm
    if llm.base_url:
        key = llm.api_key.get_secret_value() if llm.api_key else None
        if not key and "api.openai.com" in llm.base_url:
            raise ConfigError("QA_LLM_BASE_URL points at OpenAI but no API key is set", hint="set OPENAI_API_KEY")
        return llm.base_url, llm.model, key or "not-needed"
    from qa.localserver import ensure_running

    info = ensure_running(settings, progress)
    return info.base_url, "local", "not-needed"


def make_chat_model(settings: Settings, progress: Callable[[str], None] | None = None) -> ChatOpenAI:
    """A ChatOpenAI for the configured endpoint; raises ModelError if it can't be prepared."""
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    base_url, model, key = endpoint(settings, progress)
    return ChatOpenAI(
        base_url=base_url,
        api_key=SecretStr(key),
        model=model,
        temperature=settings.llm.temperature,
        max_completion_tokens=settings.llm.max_tokens,
        timeout=settings.llm.timeout_s,
        max_retries=settings.llm.max_retries,
        stream_usage=True,
    )


def translate_error(exc: Exception, settings: Settings, base_url: str | None = None) -> ModelError:
    """Turn an ``openai`` client exception into a ModelError with a message a person can act on."""
    import openai

    where = redact_url(base_url or settings.llm.base_url or "") or "the local model server"
    if isinstance(exc, openai.APITimeoutError):
        return ModelUnavailableError(
            f"the model at {where} did not answer within {settings.llm.timeout_s:.0f} s",
            hint="raise QA_LLM_TIMEOUT_S, lower QA_RETRIEVAL_K, or check the server's load",
        )
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnavailableError(
            f"cannot reach the model at {where}: {exc}",
            hint="check QA_LLM_BASE_URL, or unset it to use the bundled local model (`qa llm status`)",
        )
    if isinstance(exc, openai.AuthenticationError):
        return ModelUnavailableError(
            f"the model endpoint {where} rejected the API key", hint="check OPENAI_API_KEY / QA_LLM_API_KEY"
        )
    if isinstance(exc, openai.APIStatusError):
        return ModelUnavailableError(
            f"the model at {where} replied HTTP {exc.status_code}: {exc.message}",
            hint="retry later; if it persists, check the server log (`qa llm status`)",
        )
    return ModelError(f"the model call failed: {exc}")
