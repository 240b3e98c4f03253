"""The qa command as a user meets it: one line of error plus a hint, sensible exit codes, JSON for scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.cli import main
from tests.conftest import ARTICLE
from tests.stub_llm import stub_llm


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, qa_home: Path) -> Path:
    monkeypatch.setenv("QA_HOME", str(qa_home))
    monkeypatch.setenv("QA_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("QA_LLM_MAX_RETRIES", "0")
    return tmp_path


@pytest.fixture
def ingested(env: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, _, _ = run(["ingest", str(ARTICLE)], capsys)
    assert code == 0
    return env


def test_no_arguments_shows_the_first_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([], capsys)
    assert code == 0 and "qa ingest" in out and "qa ask" in out and "qa chat" in out


def test_help_teaches_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["ingest", "--help"], capsys)
    assert code == 0 and "Examples:" in out and "--exclude" in out


def test_asking_before_ingesting_is_one_line_with_a_hint(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["ask", "How many troops?"], capsys)
    assert code == 4
    assert err.splitlines()[0].startswith("error: no documents have been ingested")
    assert "hint: run `qa ingest" in err and "Traceback" not in err


def test_ingest_mixed_folder_lists_failures_and_exits_1(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = env / "in"
    folder.mkdir()
    (folder / "good.txt").write_text(ARTICLE.read_text())
    (folder / "empty.txt").write_text("")
    (folder / "bad.jsonl").write_text('{"text": "An article about harbours."}\nnot json\n')
    code, out, _ = run(["ingest", str(folder), "--json"], capsys)
    report = json.loads(out)
    assert code == 1
    assert sorted(report["added"]) == ["bad-1", "good"]
    assert {Path(f["path"].split(":")[0]).name for f in report["failed"]} == {"empty.txt", "bad.jsonl"}
    code, out, _ = run(["docs", "--json"], capsys)
    assert code == 0 and [d["doc_id"] for d in json.loads(out)] == ["bad-1", "good"]
    code, out, _ = run(["rm", "bad-1"], capsys)
    assert code == 0 and "removed bad-1" in out
    code, _, err = run(["rm", "bad-1"], capsys)
    assert code == 4 and "no document 'bad-1'" in err


def test_second_ingest_skips_unchanged(ingested: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["ingest", str(ARTICLE)], capsys)
    assert code == 0 and "skipped 1 unchanged" in out


def test_store_mismatch_names_cause_and_fix(
    ingested: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_CHUNKING_MAX_TOKENS", "150")
    code, _, err = run(["ask", "How many troops?"], capsys)
    assert code == 4 and "built with other settings" in err and "--rebuild" in err and "Traceback" not in err


def test_dead_model_endpoint(
    ingested: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    code, _, err = run(["ask", "How many troops are going to Poland?"], capsys)
    assert code == 5 and "cannot reach the model at http://127.0.0.1:9/v1" in err and "hint:" in err


def test_slow_model_times_out(
    ingested: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with stub_llm("{}", delay_s=3) as stub:
        monkeypatch.setenv("QA_LLM_BASE_URL", stub["url"])
        monkeypatch.setenv("QA_LLM_TIMEOUT_S", "1")
        code, _, err = run(["ask", "How many troops are going to Poland?"], capsys)
    assert code == 5 and "did not answer within 1 s" in err


def test_server_error_status(
    ingested: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with stub_llm(status=503) as stub:
        monkeypatch.setenv("QA_LLM_BASE_URL", stub["url"])
        code, _, err = run(["ask", "How many troops are going to Poland?"], capsys)
    assert code == 5 and "HTTP 503" in err


def test_broken_json_from_the_model(
    ingested: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with stub_llm('{"answer": "1,700 troops", "citat') as stub:
        monkeypatch.setenv("QA_LLM_BASE_URL", stub["url"])
        code, _, err = run(["ask", "How many troops are going to Poland?"], capsys)
        assert stub["requests"] == 2  # the answer, then one repair attempt
    assert code == 5 and "not the expected JSON" in err and "Traceback" not in err


def good_reply(question: str) -> str:
    """What a well-behaved model would answer: point at the shown sentence that holds 1,700."""
    from qa import QA
    from qa.evidence import build_evidence

    sid = next(s.id for s in build_evidence(QA().retrieve(question)).sentences if "1,700" in s.text)
    return json.dumps({"ids": [sid], "span": "about 1,700 troops", "verdict": "none", "answer": "About 1,700 troops."})


def test_ask_json_against_an_openai_compatible_endpoint(
    ingested: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = good_reply("How many troops are going to Poland?")
    with stub_llm(reply) as stub:
        monkeypatch.setenv("QA_LLM_BASE_URL", stub["url"])
        code, out, _ = run(["ask", "How many troops are going to Poland?", "--json"], capsys)
    answer = json.loads(out)
    assert code == 0 and answer["answerable"] is True
    (cite,) = answer["citations"]
    text = ARTICLE.read_text()
    assert text[cite["char_start"] : cite["char_end"]] == cite["quote"] and "1,700" in cite["quote"]
    assert {"passages", "usage", "timings", "refusal_reason"} <= answer.keys()


def test_plain_output_lists_sources(
    ingested: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = good_reply("How many troops are going to Poland?")
    with stub_llm(reply) as stub:
        monkeypatch.setenv("QA_LLM_BASE_URL", stub["url"])
        code, out, _ = run(["ask", "How many troops are going to Poland?"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "About 1,700 troops [1]."
    assert "Sources" in lines and any(line.startswith("[1] ") for line in lines)
    assert "\x1b[" not in out  # no colour codes when not a terminal


def test_config_masks_secrets(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    code, out, _ = run(["config", "--json"], capsys)
    assert code == 0 and "sk-very-secret" not in out and json.loads(out)["llm"]["api_key"] == "****"


def test_config_shows_the_serve_settings(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_SERVE_TOKEN", "serve-secret")
    monkeypatch.setenv("QA_SERVE_MAX_QUEUE", "9")
    code, out, _ = run(["config", "--json"], capsys)
    serve = json.loads(out)["serve"]
    assert code == 0 and serve["max_queue"] == 9 and serve["token"] == "****" and "serve-secret" not in out
    code, out, _ = run(["config"], capsys)
    assert "QA_SERVE_MAX_QUEUE=9" in out and "serve-secret" not in out


@pytest.mark.integration  # all 72 reference questions through the real embedder and cross-encoder: ~15-45 s
def test_eval_retrieval_only_with_filters(ingested: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import ROOT

    evalset = str(ROOT / "evals" / "reference.jsonl")
    doc = "cnn-2022-02-02-us-troops-eastern-europe"
    code, out, _ = run(["eval", evalset, "--retrieval-only", "--json", "--doc", doc], capsys)
    report = json.loads(out)
    assert code == 0 and report["n"] == 72 and report["settings"]["filters"]["doc_ids"] == [doc]
    assert report["retrieval"]["recall_at_k"]["10"] == 1.0
    code, _, err = run(["eval", evalset, "--retrieval-only", "--doc", "nope"], capsys)
    assert code == 2 and "no such document" in err
