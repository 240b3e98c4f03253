"""Shared fixtures: a deterministic fake embedder, a data folder of each test's own, the reference article.

Isolation: every test runs in a fresh working directory of its own whose ``.qa`` is the test's data folder
(``qa_home``): ``Settings()``, ``qa`` commands and stores all land there, and so does the local model
server's run folder (pid, port, log). Only the bundled model files are shared, read-only, through a
``models`` symlink to the repository's ``.qa/models``. No test reads a ``.env`` file, and no ``QA_*``
variable or API key of the developer's shell reaches a test.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from qa.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = ROOT / "evals" / "corpus" / "cnn-2022-02-02-us-troops-eastern-europe.txt"
#: The repository's data folder. Tests use only its ``models`` (through ``make_home``), never its store or run folder.
MODELS_HOME = ROOT / ".qa"

# Settings reads ``.env`` from the working directory. Tests run in folders of their own that hold none,
# but modules also build Settings at import time (from the repository root): no test reads one at all.
# (A test of .env itself passes ``_env_file=`` explicitly.)
Settings.model_config["env_file"] = None


def make_home(folder: Path) -> Path:
    """``folder/.qa``: a data folder whose ``run`` and stores are its own and whose ``models`` are the repo's."""
    home = folder / ".qa"
    home.mkdir(parents=True, exist_ok=True)
    models = home / "models"
    if not models.is_symlink():
        (MODELS_HOME / "models").mkdir(parents=True, exist_ok=True)  # a fresh checkout: fetched into the repo's
        models.symlink_to(MODELS_HOME / "models", target_is_directory=True)
    return home


def own_home() -> Path:
    """This test's data folder (``qa_home``), for helpers that are not fixtures."""
    return Path.cwd() / ".qa"


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


def _without_qa_env(mp: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("QA_") or key == "OPENAI_API_KEY":
            mp.delenv(key, raising=False)


@pytest.fixture(scope="session", autouse=True)
def _no_env_in_session() -> Iterator[None]:
    """Session fixtures (the shared model server) are built before any test's own clean-up runs."""
    with pytest.MonkeyPatch.context() as mp:
        _without_qa_env(mp)
        yield


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not pick up the developer's QA_* settings or API keys."""
    _without_qa_env(monkeypatch)


@pytest.fixture(autouse=True)
def qa_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's data folder: ``.qa`` in the fresh working directory the test runs in (see the module docstring).

    Kept apart from ``tmp_path``, so a test that lists or ingests its ``tmp_path`` finds only what it put there.
    """
    work = tmp_path_factory.mktemp("work")
    home = make_home(work)
    monkeypatch.chdir(work)
    return home


@pytest.fixture(autouse=True)
def _unit_tests_start_no_model_server(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Only tests marked ``integration`` may start the real local model server (seconds to load, minutes to
    answer on 2 cores, and a process that outlives a failed test). Elsewhere starting it fails as a server
    that won't start would (ModelUnavailableError), and the test fails at teardown even if that was caught."""
    if request.node.get_closest_marker("integration"):
        yield
        return
    import qa.localserver
    from qa.errors import ModelUnavailableError

    attempts: list[Settings] = []

    def refuse(settings: Settings, *args: object, **kwargs: object) -> None:
        attempts.append(settings)
        raise ModelUnavailableError(
            "a test not marked integration tried to start the local model server",
            hint="give it a fake chat model or a stub endpoint, or mark it @pytest.mark.integration",
        )

    monkeypatch.setattr(qa.localserver, "ensure_running", refuse)
    yield
    assert not attempts, "this test started the real local model server: mark it @pytest.mark.integration"


@pytest.fixture
def settings(qa_home: Path, tmp_path: Path) -> Settings:
    """Settings with the store in a temp folder and the test's own data folder."""
    return Settings(home=qa_home, store=tmp_path / "store")


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def local_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The real local model server, one for the whole test session (it takes seconds to load), in a data
    folder of its own (never the repository's ``.qa/run``, nor a server someone else is using); stopped at
    the end. Tests that use it are marked ``integration``."""
    from qa.localserver import ensure_running, stop

    settings = Settings(home=make_home(tmp_path_factory.mktemp("llm")))
    ensure_running(settings)
    try:
        yield settings
    finally:
        stop(settings)
