"""`qa eval` as a shell: it writes a run's files, keeps stdout for the report, and fails on a regression."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.errors import ConfigError
from qa.evals.command import eval_command
from tests.conftest import ARTICLE, MODELS_HOME
from tests.test_evals_run import SET, write_set


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(MODELS_HOME.resolve() / "models")  # the bundled embedder; stores under tmp
    monkeypatch.setenv("QA_HOME", str(home))
    monkeypatch.setenv("QA_RETRIEVAL_RERANK", "false")
    return tmp_path


def test_eval_writes_the_run_and_exits_1_below_the_baseline(env: Path) -> None:
    evalset, out = str(write_set(env, SET)), env / "out"
    args = [evalset, "--corpus", str(ARTICLE), "--retrieval-only", "--json"]
    result = CliRunner().invoke(eval_command, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 2 and report["retrieval_only"] and report["settings"]["evalset"] == evalset
    assert {p.name for p in out.iterdir()} == {"report.json", "summary.md", "failures.md", "cases.jsonl"}
    cases = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    assert [c["history"] for c in cases] == [[], SET[1]["history"]]

    baseline = json.loads((out / "report.json").read_text())
    baseline["retrieval"]["mrr"] += 0.5
    (env / "baseline.json").write_text(json.dumps(baseline))
    result = CliRunner().invoke(eval_command, [*args, "--baseline", str(env / "baseline.json")])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["n"] == 2  # with --json, the differences go to stderr
    assert "REGRESSED" in result.stderr and "retrieval.mrr" in result.stderr

    # A retrieval-only run recorded no model replies: there is nothing to replay.
    result = CliRunner().invoke(eval_command, [evalset, "--replay", str(out)])
    assert isinstance(result.exception, ConfigError) and "no recorded model replies" in result.exception.message
