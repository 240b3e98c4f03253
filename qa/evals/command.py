"""``qa eval``: the command-line shell around ``qa.evals.evaluate``: it parses the options, shows progress,
and prints or writes the report and its comparison with a baseline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qa.cliopts import filter_options, make_filters
from qa.errors import ConfigError

if TYPE_CHECKING:
    from qa.evals.run import Evaluation


@click.command("eval")
@click.argument("evalset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--corpus",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Articles to evaluate against; ingested into a store cached by their content and the settings.",
)
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), help="Use this store (without --corpus).")
@click.option("-k", type=click.IntRange(1, 20), help="Passages given to the model (default QA_RETRIEVAL_K).")
@click.option("--retrieval-only", is_flag=True, help="Score retrieval only: no model, runs in seconds.")
@click.option("--sample", type=click.IntRange(1), help="Evaluate N cases, stratified by type.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --sample.")
@click.option("--repeat", type=click.IntRange(1), default=1, show_default=True, help="Ask each case N times.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write report.json, summary.md…")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Compare with a report.")
@filter_options
@click.option(
    "--replay",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Re-score a recorded run (its cases.jsonl) with the current checks, without the model: seconds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report JSON to stdout.")
def eval_command(
    evalset: Path,
    corpus: tuple[Path, ...],
    store: Path | None,
    k: int | None,
    retrieval_only: bool,
    sample: int | None,
    seed: int,
    repeat: int,
    out: Path | None,
    baseline: Path | None,
    doc_ids: tuple[str, ...],
    source: str | None,
    title: str | None,
    after: str | None,
    before: str | None,
    replay: Path | None,
    as_json: bool,
) -> None:
    """Evaluate EVALSET (JSONL, format in evals/README.md) and print the scores.

    Exit code 1 when --baseline is given and a metric dropped by more than its tolerance.

    \b
    Examples:
      qa eval evals/reference.jsonl --corpus evals/corpus --retrieval-only
      qa eval evals/reference.jsonl --corpus evals/corpus --out evals/results/reference
      qa eval evals/followups.jsonl --corpus evals/corpus --out evals/results/followups
      qa eval squad/questions.jsonl --corpus squad/corpus.jsonl --sample 100 --seed 1
      qa eval evals/reference.jsonl --corpus evals/corpus --retrieval-only \\
          --baseline evals/results/baseline-retrieval.json
      QA_ANSWER_MIN_RELATION=0.4 qa eval evals/reference.jsonl \\
          --replay evals/results/reference --out /tmp/replayed
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from qa.evals.run import evaluate
    from qa.render import make_console, render_ingest_report
    from qa.settings import Settings

    settings = Settings()
    if replay:
        _emit(evaluate(evalset, settings, replay=replay), out, as_json, baseline)
        return
    if corpus and store:
        raise ConfigError("--corpus and --store can't be combined", hint="--corpus builds its own cached store")
    if store:
        settings.store = store
    err = make_console(stderr=True)
    with Progress(
        TextColumn("evaluating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        tasks: list[TaskID] = []  # the bar appears with the first case, after any ingest

        def progress(done: int, total: int) -> None:
            if not tasks:
                tasks.append(bar.add_task("", total=total))
            bar.update(tasks[0], completed=done)

        run = evaluate(
            evalset,
            settings,
            k=k,
            retrieval_only=retrieval_only,
            sample=sample,
            seed=seed,
            repeat=repeat,
            corpus=corpus,
            filters=make_filters(doc_ids, source, title, after, before),
            progress=progress,
            status=None if as_json else (lambda m: err.print(f"[dim]{m}[/dim]")),
            on_ingest=lambda report: render_ingest_report(report, err),
        )
    _emit(run, out, as_json, baseline)


def _emit(run: Evaluation, out: Path | None, as_json: bool, baseline: Path | None) -> None:
    """Write the outputs, print the report, and exit 1 when a metric dropped below ``baseline``."""
    from qa.evals.diff import compare, format_differences
    from qa.evals.report import report_markdown, write_outputs
    from qa.render import make_console

    if out:
        write_outputs(run.report, run.results, out)
    if as_json:
        click.echo(run.report.model_dump_json(indent=2))
    else:
        click.echo(report_markdown(run.report))
    if baseline:
        diffs, ok = compare(run.report, json.loads(baseline.read_text()))
        # with --json, stdout holds the report alone
        make_console(stderr=as_json).print(format_differences(diffs), markup=False)
        if not ok:
            sys.exit(1)
