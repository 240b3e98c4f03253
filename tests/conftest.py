"""Shared fixtures: a deterministic fake embedder, settings in a temp folder, the reference article."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from qa.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = ROOT / "evals" / "corpus" / "cnn-2022-02-02-us-troops-eastern-europe.txt"
MODELS_HOME = ROOT / ".qa"


class HashEmbedder:
    """Bag-of-words vectors from hashed words: texts sharing words are close. Fast and offline."""

    def __init__(self, name: str = "hash-test", dim: int = 64) -> None:
        self._name = name
        self._dim = dim
        self.calls = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        out = []
        for text in texts:
            v = np.zeros(self._dim)
            for w in re.findall(r"\w+", text.lower()):
                v[int(hashlib.md5(w.encode()).hexdigest(), 16) % self._dim] += 1.0
            n = np.linalg.norm(v)
            out.append((v / n if n else v + 1 / np.sqrt(self._dim)).tolist())
        return out


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with the store in a temp folder (models stay in the repo's .qa)."""
    return Settings(home=MODELS_HOME, store=tmp_path / "store")


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not pick up the developer's QA_* settings or API keys."""
    import os

    for key in list(os.environ):
        if key.startswith("QA_") or key == "OPENAI_API_KEY":
            monkeypatch.delenv(key, raising=False)
