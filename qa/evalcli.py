"""``qa eval``: score retrieval, answers, citations and refusals on an eval set (a thin CLI skin)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qa.cliopts import filter_options, make_filters
from qa.errors import ConfigError
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.evals import CaseResult, EvalReport


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
      qa eval squad/questions.jsonl --corpus squad/corpus.jsonl --sample 100 --seed 1
      qa eval evals/reference.jsonl --corpus evals/corpus --retrieval-only \\
          --baseline evals/results/baseline-retrieval.json
      QA_ANSWER_MIN_RELATION=0.4 qa eval evals/reference.jsonl \\
          --replay evals/results/reference --out /tmp/replayed
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from qa.api import QA
    from qa.documents import discover
    from qa.evalreport import build_report
    from qa.evals import code_version, corpus_store_path, run_eval
    from qa.evalset import load_evalset, sample_cases
    from qa.render import make_console, render_ingest_report
    from qa.settings import Settings

    settings = Settings()
    err = make_console(stderr=True)
    if replay:
        _replay(evalset, replay, settings, out, as_json, baseline)
        return
    if corpus and store:
        raise ConfigError("--corpus and --store can't be combined", hint="--corpus builds its own cached store")
    if store:
        settings.store = store
    if corpus:
        files, failures = discover(list(corpus))
        if failures:
            raise ConfigError(f"corpus problem: {failures[0].path}: {failures[0].reason}")
        fingerprint = json.dumps(
            [settings.embeddings.model_dump(mode="json"), settings.chunking.model_dump(), settings.collection],
            sort_keys=True,
        )
        settings.store = corpus_store_path(settings.home, files, fingerprint)
    qa = QA(settings, status=None if as_json else (lambda m: err.print(f"[dim]{m}[/dim]")))
    if corpus:
        ingested = qa.ingest(list(corpus))
        if ingested.added or ingested.updated:
            render_ingest_report(ingested, err)
    texts = {d.doc_id: qa.store().document_text(d.doc_id) for d in qa.documents()}
    cases = load_evalset(evalset, corpus=texts)
    if sample:
        cases = sample_cases(cases, sample, seed)
    k_eff = k or settings.retrieval.k
    filters = make_filters(doc_ids, source, title, after, before)
    unknown = [d for d in doc_ids if d not in texts]
    if unknown:
        raise ConfigError(f"--doc {', '.join(unknown)}: no such document in the store", hint="`qa docs` lists them")
    with Progress(
        TextColumn("evaluating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("", total=len(cases))
        results = run_eval(
            cases,
            retrieve=lambda q, depth: qa.retrieve(q, depth, filters=filters),
            ask=None if retrieval_only else (lambda q: qa.ask(q, k=k_eff, filters=filters)),
            k=k_eff,
            retrieval_only=retrieval_only,
            repeat=repeat,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    info = {
        "evalset": str(evalset),
        "corpus": [str(c) for c in corpus],
        "sample": sample,
        "seed": seed if sample else None,
        "repeat": repeat,
        "k": k_eff,
        "filters": filters.model_dump() if filters else None,
        "llm": None if retrieval_only else (settings.llm.base_url and settings.llm.model) or settings.llm.local_model,
        "embeddings": settings.embeddings.model,
        "chunking": settings.chunking.model_dump(),
        "retrieval": settings.retrieval.model_dump(),
        "answer": settings.answer.model_dump(),
    }
    _emit(build_report(results, info, code_version()), results, out, as_json, baseline)


def _replay(
    evalset: Path, recorded_dir: Path, settings: Settings, out: Path | None, as_json: bool, baseline: Path | None
) -> None:
    """``qa eval --replay``: the recorded replies of a run, checked again under the current settings."""
    from qa.api import QA
    from qa.evalreport import build_report
    from qa.evals import CaseResult, code_version, replay_eval
    from qa.evalset import load_evalset

    cases_file = recorded_dir / "cases.jsonl"
    report_file = recorded_dir / "report.json"
    if not cases_file.exists() or not report_file.exists():
        raise ConfigError(f"{recorded_dir} holds no recorded run", hint="point --replay at a `qa eval --out` folder")
    recorded = [CaseResult.model_validate_json(line) for line in cases_file.read_text().splitlines() if line.strip()]
    if not any(r.raw_reply for r in recorded):
        raise ConfigError(
            f"{cases_file} has no recorded model replies", hint="rerun `qa eval --out` with this version to record them"
        )
    info = dict(json.loads(report_file.read_text()).get("settings", {}))
    info["replayed_from"] = str(recorded_dir)
    info["answer"] = settings.answer.model_dump()
    qa = QA(settings)
    results = replay_eval(load_evalset(evalset), recorded, qa.reverify)
    _emit(build_report(results, info, code_version()), results, out, as_json, baseline)


def _emit(
    report: EvalReport, results: list[CaseResult], out: Path | None, as_json: bool, baseline: Path | None
) -> None:
    """Write the outputs, print the report, and exit 1 when a metric dropped below ``baseline``."""
    from qa.evalreport import compare, format_differences, report_markdown, write_outputs
    from qa.render import make_console

    if out:
        write_outputs(report, results, out)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        click.echo(report_markdown(report))
    if baseline:
        diffs, ok = compare(report, json.loads(baseline.read_text()))
        # with --json, stdout holds the report alone
        make_console(stderr=as_json).print(format_differences(diffs), markup=False)
        if not ok:
            sys.exit(1)
