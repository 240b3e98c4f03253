"""`qa chat` in a real pseudo-terminal, against the real local model, on the bundled article.

Uses a temporary store (QA_STORE) and the test session's model server (conftest.local_llm: its data
folder is QA_HOME, so `qa chat` finds the server running and reuses it; the fixture stops it at the end).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from qa.settings import Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
QA = Path(sys.executable).parent / "qa"
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-B]|\x1b[=>]|\r")
PROMPT = "qa›"  # prompt_toolkit draws the trailing space as a cursor move
ANSWER_TIMEOUT = 300  # a small CPU model, possibly shared with other runs


def default_sigint() -> None:
    """In the child: Ctrl-C interrupts, as in a terminal. A test run started in the background by a
    non-interactive shell inherits SIGINT ignored, and then Ctrl-C would never reach `qa chat`."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def plain(text: str) -> str:
    return ANSI.sub("", text)


def qa(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(QA), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture
def env(local_llm: Settings, tmp_path: Path) -> dict[str, str]:
    if not QA.exists():
        pytest.skip(f"the qa command is not installed next to {sys.executable}")
    store = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_") and k != "NO_COLOR"}
    env.update(QA_HOME=str(local_llm.home), QA_STORE=str(store), TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1")
    assert qa("llm", "status", env=env, cwd=tmp_path).stdout.startswith("running")  # the session's server
    ingest = qa("ingest", str(ROOT / "evals" / "corpus"), env=env, cwd=tmp_path)
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    return env


def ask(child: pexpect.spawn, question: str) -> str:
    """Send a question, wait for the next prompt, return what was printed in between (ANSI removed)."""
    child.sendline(question)
    child.expect("Sources|don't answer", timeout=ANSWER_TIMEOUT)
    shown = child.before + child.after
    child.expect_exact(PROMPT, timeout=60)
    return plain(shown + child.before)


def test_chat_in_a_terminal(env: dict[str, str], tmp_path: Path) -> None:
    transcript = (tmp_path / "transcript.txt").open("w", encoding="utf-8")
    child = pexpect.spawn(
        str(QA),
        ["chat"],
        env=env,
        cwd=str(tmp_path),
        encoding="utf-8",
        dimensions=(50, 250),
        timeout=240,
        preexec_fn=default_sigint,
    )
    child.logfile_read = transcript
    try:
        child.expect("Ask about the articles")  # start-up done: store opened, model server up
        banner = plain(child.before)
        assert "store" in banner and str(Path(env["QA_STORE"])) in banner
        assert "embedder" in banner and "model" in banner
        child.expect_exact(PROMPT)

        first = ask(child, "How many troops are going to Poland?")
        assert "▌" in first, "the answer should stream as a draft before the verified answer"
        answer, sources = first.rsplit("Sources", 1)
        assert re.search(r"1,?700", answer), first
        assert re.search(r"^\[\d+\] .*chars \d+–\d+\)$", sources, flags=re.M), sources
        assert re.search(r"^\s+“[^”]+”$", sources, flags=re.M), sources

        # The follow-up that used to fold the previous answer into its rewrite ("Which unit is the 82nd
        # Airborne Division … based at Fort Bragg …?") and then restate it.
        unit = ask(child, "Which unit are they from?")
        assert "→ " in unit, "the follow-up should be shown rewritten"
        rewritten = unit.split("→ ", 1)[1].splitlines()[0]
        assert "Poland" in rewritten and "Fort Bragg" not in rewritten, unit
        # A follow-up whose referent is named in the conversation.
        spokesman = ask(child, "Who is the Kremlin spokesman quoted in the article?")
        assert "Peskov" in spokesman.rsplit("Sources", 1)[0], spokesman
        follow = ask(child, "What did he say about the deployment?")
        assert "→ " in follow, "the follow-up should be shown rewritten"
        rewritten = follow.split("→ ", 1)[1].splitlines()[0]
        assert re.search(r"Peskov|Kremlin spokesman", rewritten) and " he " not in rewritten, follow
        assert "Sources" in follow or "don't answer" in follow, follow

        child.sendline("Why are the troops being deployed?")  # Ctrl-C stops it and the chat goes on
        child.expect_exact("▌", timeout=ANSWER_TIMEOUT)
        child.sendcontrol("c")
        child.expect_exact("(stopped)", timeout=30)
        child.expect_exact(PROMPT, timeout=30)

        child.sendline("/reset")
        child.expect("forgotten", timeout=30)
        child.expect_exact(PROMPT, timeout=30)
        child.sendline("/quit")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close()
        transcript.close()
    assert child.exitstatus == 0, plain((tmp_path / "transcript.txt").read_text(encoding="utf-8"))
