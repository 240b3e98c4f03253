"""Evaluation on eval sets of questions (standalone, or follow-ups in a conversation) with gold answers and
evidence, scored for retrieval, answers, citations and refusals: the package's public API, where
``evaluate()`` is ``qa eval`` as a library call (usage in evals/README.md).
"""

from qa.evals.cases import EvalCase, Evidence, HistoryTurn, check_quotes, load_evalset, sample_cases
from qa.evals.diff import Difference, compare, format_differences
from qa.evals.provenance import code_version
from qa.evals.report import (
    EvalReport,
    MetricGroup,
    SpreadStat,
    build_report,
    failures_listing,
    report_markdown,
    write_outputs,
)
from qa.evals.run import (
    AttemptResult,
    CaseResult,
    Evaluation,
    evaluate,
    load_recorded,
    replay_eval,
    run_eval,
)

__all__ = [
    "AttemptResult",
    "CaseResult",
    "Difference",
    "EvalCase",
    "EvalReport",
    "Evaluation",
    "Evidence",
    "HistoryTurn",
    "MetricGroup",
    "SpreadStat",
    "build_report",
    "check_quotes",
    "code_version",
    "compare",
    "evaluate",
    "failures_listing",
    "format_differences",
    "load_evalset",
    "load_recorded",
    "replay_eval",
    "report_markdown",
    "run_eval",
    "sample_cases",
    "write_outputs",
]
