"""Finding article files and reading them into canonical text (debris is marked by qa.debris).

``Document.text`` is what every citation offset points into, so loading only decodes, strips a
byte-order mark and normalises line endings; debris is marked with spans, never cut out.
"""

from __future__ import annotations

import codecs
import fnmatch
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import charset_normalizer

from qa.debris import find_debris
from qa.errors import InputError
from qa.models import Document, IngestFailure

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
_SUPPORTED_HINT = "Supported types: " + ", ".join(SUPPORTED_SUFFIXES) + "."
_JSONL_FIELDS = ("title", "url", "source", "published_at")
# charset-normalizer's "chaos" is the share of odd-looking characters; real text scores near 0.
_MAX_CHAOS = 0.1
# Share of control characters above which decoded "text" is really binary data.
_MAX_CONTROL_SHARE = 0.05
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ufffd]")
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
# UTF-32 first: its little-endian mark begins with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def discover(
    paths: Sequence[Path], include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> tuple[list[Path], list[IngestFailure]]:
    """Expand files and folders into the supported article files under them, in a stable order.

    Raises nothing: missing paths and explicitly named unsupported files come back as failures.
    """
    found: list[Path] = []
    failures: list[IngestFailure] = []
    for given in paths:
        try:
            exists, is_dir = given.exists(), given.is_dir()
        except OSError as err:  # e.g. a parent folder without execute permission
            bad = _unreadable(given, err)
            failures.append(IngestFailure(path=str(given), reason=bad.message, hint=bad.hint))
            continue
        if not exists:
            failures.append(
                IngestFailure(path=str(given), reason="does not exist", hint="Check the path and try again.")
            )
        elif is_dir:
            hits, unreadable = _walk(given)
            found.extend(f for f, rel in hits if _wanted(f.name, rel, include, exclude))
            failures.extend(unreadable)
        elif given.suffix.lower() not in SUPPORTED_SUFFIXES:
            reason = f"unsupported file type {given.suffix or '(no suffix)'!r}"
            failures.append(IngestFailure(path=str(given), reason=reason, hint=_SUPPORTED_HINT))
        elif _wanted(given.name, given.name, include, exclude):
            found.append(given)
    return list(dict.fromkeys(found)), failures


def _walk(folder: Path) -> tuple[list[tuple[Path, str]], list[IngestFailure]]:
    hits: list[tuple[Path, str]] = []
    unreadable: list[IngestFailure] = []

    def on_error(err: OSError) -> None:  # a subfolder that can't be listed is reported, not skipped silently
        where = Path(err.filename) if err.filename else folder
        bad = _unreadable(where, err)
        unreadable.append(IngestFailure(path=str(where), reason=bad.message.replace("the file", "the folder"),
                                        hint=bad.hint))  # fmt: skip

    for root, dirs, files in os.walk(folder, onerror=on_error):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith(".") or Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            full = Path(root) / name
            hits.append((full, full.relative_to(folder).as_posix()))
    return sorted(hits, key=lambda hit: hit[1]), unreadable


def _wanted(name: str, rel: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    def matches(patterns: Sequence[str]) -> bool:
        return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) for p in patterns)

    return (not include or matches(include)) and not matches(exclude)


def slugify(name: str) -> str:
    """A document id from a file stem: lowercase ``[a-z0-9._-]``, other runs become ``-``.

    Raises nothing; a name with no usable character gets a short hash instead.
    """
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-")
    return slug or "doc-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]


def load_file(path: Path, max_bytes: int = 50_000_000) -> tuple[list[Document], list[IngestFailure]]:
    """Read one article file into documents, with per-record failures for ``.jsonl`` lines.

    A file that changes while it is read (size or modification time differ before and after) is read
    once more; if it changes again it is reported, so half of a rewrite is never stored.

    Raises InputError when the whole file is unusable: unsupported, missing, unreadable, empty,
    binary, larger than ``max_bytes``, in an undetectable encoding, without article text, or changing.
    """
    for _attempt in range(2):
        before = _fingerprint(path)
        loaded = _load_file_once(path, max_bytes)
        if _fingerprint(path) == before:
            return loaded
    raise InputError(
        f"{path}: the file changed while it was being read", "Ingest it again once whatever writes it is done."
    )


def _fingerprint(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _load_file_once(path: Path, max_bytes: int) -> tuple[list[Document], list[IngestFailure]]:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(f"{path}: unsupported file type {suffix or '(no suffix)'!r}", _SUPPORTED_HINT)
    try:
        if path.is_dir():
            raise InputError(f"{path}: is a folder, not a file", "Pass the folder to discover() instead.")
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            # Opening a FIFO blocks until a writer appears; a device can be endless.
            raise InputError(
                f"{path}: not a regular file (a pipe, socket or device)",
                "Only regular files are read: save the article to a file first.",
            )
        size = st.st_size
        if suffix == ".jsonl":
            return _load_jsonl(path, max_bytes)
        if size > max_bytes:
            raise InputError(
                f"{path}: the file is {_human(size)}, over the {_human(max_bytes)} limit",
                "Raise the limit with QA_INGEST_MAX_FILE_MB, or split the file.",
            )
        data = path.read_bytes()
    except OSError as err:
        raise _unreadable(path, err) from err
    text, encoding = _decode(path, data)
    if suffix in (".html", ".htm"):
        doc = _html_document(path, text)
    else:
        title = _markdown_title(text) if suffix in (".md", ".markdown") else None
        doc = Document(doc_id=slugify(path.stem), text=text, title=title, path=str(path))
    if encoding:
        doc.metadata["encoding"] = encoding
    doc.excluded = find_debris(doc.text)
    return [doc], []


def _unreadable(path: Path, err: OSError) -> InputError:
    if isinstance(err, PermissionError):
        return InputError(
            f"{path}: cannot read the file (permission denied)",
            "Make it readable (e.g. chmod a+r) or run as a user who can read it.",
        )
    if isinstance(err, FileNotFoundError):
        return InputError(f"{path}: the file does not exist (or is a broken link)", "Check the path.")
    return InputError(f"{path}: cannot read the file ({err.strerror or err})", "Check the file and its disk.")


def _human(n: int) -> str:
    return f"{n} bytes" if n < 1000 else f"{n / 1000:.1f} KB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"


def _decode(path: Path, data: bytes) -> tuple[str, str | None]:
    """Bytes to canonical text, plus the encoding when it was not UTF-8."""
    encoding: str | None = None
    bom = next((codec for mark, codec in _BOMS if data.startswith(mark)), None)
    try:
        if bom:
            text, encoding = data.decode(bom), bom
        elif b"\x00" in data:
            raise _binary(path)
        else:
            text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        # A few stray bytes in an otherwise UTF-8 file would make the detector pick a codepage and
        # turn every accent and curly quote into mojibake; better to say where the file is broken.
        bad = data.decode("utf-8", "replace").count("\ufffd")
        if bom is None and len(_UTF8_MULTIBYTE.findall(data)) > bad:
            raise InputError(
                f"{path}: UTF-8 text with {bad} invalid byte(s), the first at offset {err.start}",
                "Repair the file or re-save it as UTF-8 (iconv -f utf-8 -t utf-8 -c drops the bad bytes).",
            ) from None
        text, encoding = _detect(path, data)
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        what = "empty" if not data else "only whitespace"
        raise InputError(f"{path}: the file is {what}", "Add article text to it, or leave it out.")
    sample = text[:65536]
    if len(_CONTROL.findall(sample)) > _MAX_CONTROL_SHARE * len(sample):
        raise _binary(path)
    return text, encoding


def _detect(path: Path, data: bytes) -> tuple[str, str]:
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None or best.chaos > _MAX_CHAOS:
        raise InputError(
            f"{path}: not UTF-8, and its encoding could not be detected with confidence",
            "Convert it to UTF-8 (e.g. iconv -f cp1252 -t utf-8) and ingest it again.",
        )
    # On short Western text the detector often ranks a look-alike codepage (cp1250, cp775) first; among
    # equally clean readings, Windows-1252 is by far the most likely for English-language news.
    for match in matches:
        if match.chaos <= best.chaos and "cp1252" in match.could_be_from_charset:
            return str(match), "cp1252"
    return str(best), best.encoding


def _binary(path: Path) -> InputError:
    return InputError(
        f"{path}: looks like a binary file, not text",
        "Ingest plain text, Markdown, HTML or JSONL; export other formats to text first.",
    )


_MD_TITLE = re.compile(r"^#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)


def _markdown_title(text: str) -> str | None:
    match = _MD_TITLE.search(text)
    return match.group(1) if match else None


def _html_document(path: Path, html: str) -> Document:
    try:  # imported here: it is slow to import and only HTML needs it
        import trafilatura
    except ImportError as err:  # trafilatura 2.x needs lxml_html_clean, split out of lxml 5.2
        raise InputError(f"{path}: HTML support is not installed ({err})", "pip install lxml_html_clean") from err

    # favor_precision: on small pages the default mode keeps navigation links as "text".
    extracted = trafilatura.extract(
        html, include_comments=False, include_tables=False, output_format="txt", favor_precision=True
    )
    if not extracted or not extracted.strip():
        raise InputError(
            f"{path}: no article text could be extracted from the HTML (only boilerplate, or truncated)",
            "Check that the page was saved completely and holds the article itself, not just a shell.",
        )
    # trafilatura puts one paragraph per line; blank lines make paragraphs and headings visible downstream.
    text = "\n\n".join(line for line in extracted.replace("\r", "").split("\n") if line.strip())
    meta = trafilatura.extract_metadata(html)
    return Document(
        doc_id=slugify(path.stem),
        text=text,
        title=meta.title or None,
        url=meta.url or None,
        source=meta.sitename or None,
        published_at=meta.date or None,
        path=str(path),
    )


def _load_jsonl(path: Path, max_bytes: int) -> tuple[list[Document], list[IngestFailure]]:
    """Stream a JSONL file; ``max_bytes`` bounds each line, since the file is a collection of articles."""
    docs: list[Document] = []
    failures: list[IngestFailure] = []
    seen: dict[str, int] = {}
    stem = slugify(path.stem)
    any_content = False
    with path.open("rb") as fh:
        if b"\x00" in fh.read(8192):
            raise _binary(path)
        fh.seek(0)
        for lineno, raw in enumerate(_bounded_lines(fh, max_bytes), start=1):
            if raw is not None and not raw.strip():
                continue
            any_content = True
            where = f"{path}:{lineno}"
            try:
                doc = _jsonl_record(raw, lineno, stem, max_bytes)
            except InputError as err:
                failures.append(IngestFailure(path=where, reason=err.message, hint=err.hint))
                continue
            if doc.doc_id in seen:
                reason = f"duplicate id {doc.doc_id!r} (first on line {seen[doc.doc_id]})"
                failures.append(IngestFailure(path=where, reason=reason, hint="Give each article its own id."))
                continue
            seen[doc.doc_id] = lineno
            doc.path = str(path)
            doc.excluded = find_debris(doc.text)
            docs.append(doc)
    if not any_content:
        raise InputError(f"{path}: the file is empty or only whitespace", "Add one JSON article per line.")
    if not docs:
        first = failures[0]
        raise InputError(
            f"{path}: none of its {len(failures)} line(s) is a usable article; {first.path}: {first.reason}",
            first.hint or 'Write one JSON object per line with a non-empty "text" field.',
        )
    return docs, failures


def _bounded_lines(fh: Any, max_bytes: int) -> Iterator[bytes | None]:
    """Yield lines without their newline, or None for a line over ``max_bytes`` (skipped unread)."""
    while True:
        line: bytes = fh.readline(max_bytes + 1)
        if not line:
            return
        if line.endswith(b"\n"):
            yield line.rstrip(b"\r\n")
        elif len(line) <= max_bytes:
            yield line.rstrip(b"\r")
        else:
            while line and not line.endswith(b"\n"):
                line = fh.readline(1 << 20)
            yield None


MAX_DOC_ID_CHARS = 200


def check_doc_id(value: str) -> str:
    """``value`` if it is usable as a document id everywhere (CLI, Python, every HTTP route).

    Raises ValueError: blank, longer than MAX_DOC_ID_CHARS, or holding control, format (e.g. U+202E,
    which reverses how text around it is shown) or surrogate characters.
    """
    import unicodedata

    if not value.strip():
        raise ValueError("must not be blank")
    if len(value) > MAX_DOC_ID_CHARS:
        raise ValueError(f"is {len(value)} characters long (limit {MAX_DOC_ID_CHARS})")
    bad = next((ch for ch in value if unicodedata.category(ch) in ("Cc", "Cf", "Cs")), None)
    if bad is not None:
        raise ValueError(f"contains the control character U+{ord(bad):04X}")
    return value


def _jsonl_record(raw: bytes | None, lineno: int, stem: str, max_bytes: int) -> Document:
    fix = 'Write one JSON object per line with a non-empty "text" field.'
    if raw is None:
        raise InputError(f"line is longer than {_human(max_bytes)}", "Raise QA_INGEST_MAX_FILE_MB or split it.")
    try:
        record = json.loads(raw.decode("utf-8-sig" if lineno == 1 else "utf-8"))
    except UnicodeDecodeError:
        raise InputError("line is not valid UTF-8", "Save the file as UTF-8.") from None
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON ({err.msg} at column {err.colno})", fix) from None
    if not isinstance(record, dict):
        raise InputError(f"expected a JSON object, got {type(record).__name__}", fix)
    text = record.pop("text", None)
    if not isinstance(text, str) or not text.strip():
        raise InputError('missing or empty "text" field', fix)
    raw_id = record.pop("id", None)
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, str | int)):
        raise InputError('"id" must be a string or a number', "Use a string id.")
    doc_id = str(raw_id) if raw_id is not None and str(raw_id).strip() else f"{stem}-{lineno}"
    try:
        check_doc_id(doc_id)
    except ValueError as err:
        raise InputError(f'"id" {err}', "Use a short, printable id.") from None
    # Known fields that are not plain values stay in metadata rather than being mangled into strings.
    fields = {
        name: str(record.pop(name))
        for name in _JSONL_FIELDS
        if isinstance(record.get(name), str | int | float) and not isinstance(record.get(name), bool)
    }
    rest = {k: v for k, v in record.items() if not (k in _JSONL_FIELDS and v is None)}
    extra = rest.pop("metadata", None) if isinstance(rest.get("metadata"), dict) else {}
    metadata = {**extra, **rest}
    clean = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return Document(doc_id=doc_id, text=clean, metadata=metadata, **fields)


def unique_documents(docs: Sequence[Document], failures: list[IngestFailure]) -> list[Document]:
    """The documents with repeated ids dropped; a repeat with other content is listed as a failure."""
    seen: dict[str, str] = {}
    out: list[Document] = []
    for doc in docs:
        digest = doc.content_hash
        if doc.doc_id in seen:
            if seen[doc.doc_id] != digest:
                failures.append(
                    IngestFailure(
                        path=doc.path or doc.doc_id,
                        reason=f"another document in this batch already has the id {doc.doc_id!r}",
                        hint="give each article a distinct file name or `id`",
                    )
                )
            continue
        seen[doc.doc_id] = digest
        out.append(doc)
    return out
