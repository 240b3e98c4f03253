"""Where an eval run comes from: the code version it records and the store its corpus is cached in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from qa.errors import ConfigError
from qa.settings import Settings


def corpus_store(settings: Settings, corpus: Sequence[Path]) -> Path:
    """The cached store for ``corpus`` under ``settings`` (ConfigError names the first unreadable file)."""
    from qa.documents import discover

    files, failures = discover(list(corpus))
    if failures:
        raise ConfigError(f"corpus problem: {failures[0].path}: {failures[0].reason}")
    fingerprint = json.dumps(
        [settings.embeddings.model_dump(mode="json"), settings.chunking.model_dump(), settings.collection],
        sort_keys=True,
    )
    return corpus_store_path(settings.home, files, fingerprint)


def code_version() -> str:
    """The package version plus the git commit when run from a checkout."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("article-qa")
    except PackageNotFoundError:
        ver = "unknown"

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return f"{ver}+{commit}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.CalledProcessError):
        return ver


def corpus_store_path(home: Path, files: Sequence[Path], fingerprint: str) -> Path:
    """A store folder keyed by the corpus files' content and the settings that shape the index."""
    import hashlib

    digest = hashlib.sha256(fingerprint.encode())
    for f in sorted(files):
        digest.update(f.name.encode())
        digest.update(hashlib.sha256(f.read_bytes()).digest())
    return home / "eval-stores" / digest.hexdigest()[:16]
