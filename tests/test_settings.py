from __future__ import annotations

from pathlib import Path

import pytest

from qa.settings import Settings


def test_defaults_are_offline_and_local() -> None:
    s = Settings()
    assert s.llm.base_url is None and s.embeddings.provider == "local"
    assert s.store_path == Path(".qa") / "store"
    assert s.chroma_url is None


def test_environment_maps_to_sections(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QA_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("QA_LLM_MODEL", "gpt-x")
    monkeypatch.setenv("QA_RETRIEVAL_K", "6")
    monkeypatch.setenv("QA_STORE", str(tmp_path))
    monkeypatch.setenv("QA_CHROMA_URL", "http://127.0.0.1:8000")
    monkeypatch.setenv("QA_CHUNKING_MAX_TOKENS", "120")
    s = Settings()
    assert (s.llm.base_url, s.llm.model, s.retrieval.k) == ("http://127.0.0.1:9/v1", "gpt-x", 6)
    assert s.store_path == tmp_path and s.chroma_url == "http://127.0.0.1:8000"
    assert s.chunking.max_tokens == 120


def test_openai_key_is_used_and_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    s = Settings()
    assert s.llm.api_key is not None and s.llm.api_key.get_secret_value() == "sk-secret-value"
    shown = s.masked()
    assert shown["llm"]["api_key"] == "****" and "sk-secret" not in str(shown)


def test_invalid_value_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_RETRIEVAL_K", "many")
    with pytest.raises(ValueError, match="retrieval"):
        Settings()


def test_every_field_is_documented() -> None:
    def check(model: type) -> None:
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            assert field.description, f"{model.__name__}.{name} has no description"
            ann = field.annotation
            if isinstance(ann, type) and hasattr(ann, "model_fields"):
                check(ann)

    check(Settings)


def test_a_dotenv_file_is_read_when_asked_for_and_never_by_tests(tmp_path: Path) -> None:
    # Settings reads .env from the working directory; the test suite turns that off (tests/conftest.py),
    # so a developer's .env can't change what a test sees. The feature itself still works when named.
    env_file = tmp_path / ".env"
    env_file.write_text("QA_RETRIEVAL_K=9\nQA_LLM_MODEL=from-dotenv\n")
    (Path.cwd() / ".env").write_text("QA_RETRIEVAL_K=9\n")
    assert Settings().retrieval.k == 4
    s = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert s.retrieval.k == 9 and s.llm.model == "from-dotenv"


def test_each_test_has_its_own_data_folder_with_the_shared_model_files(qa_home: Path) -> None:
    from tests.conftest import MODELS_HOME, ROOT

    s = Settings()
    assert s.home.resolve() == qa_home.resolve()
    assert not s.run_dir.resolve().is_relative_to(ROOT) and not s.store_path.resolve().is_relative_to(ROOT)
    assert s.models_dir.resolve() == (MODELS_HOME / "models").resolve()
