"""Comparing an eval report with a baseline report: which metrics moved, and which regressed beyond their
tolerance (the ``--baseline`` check of ``qa eval`` and the retrieval gate of ``make test``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from qa.evals.report import SECTIONS, EvalReport, Key, flatten_paths

__all__ = ["DEFAULT_TOLERANCE", "Difference", "compare", "format_differences"]

DEFAULT_TOLERANCE = 0.02
# Floating-point slack so a drop of exactly the tolerance does not count as a regression.
_EPS = 1e-9


class Difference(BaseModel):
    """One metric compared with a baseline."""

    path: str
    baseline: float
    current: float
    delta: float
    tolerance: float | None = Field(description="None for informational metrics, which never fail.")
    direction: Literal["higher", "lower", "info"]
    regressed: bool


def _metric_paths(data: Mapping[str, Any]) -> dict[Key, float]:
    leaves: dict[Key, float] = {}
    for path, value in flatten_paths(data).items():
        sub = path[2:] if path[0] == "by_type" else path
        if not sub or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if sub[0] in SECTIONS or sub == ("n",):
            leaves[path] = float(value)
    return leaves


def _direction(path: Key) -> Literal["higher", "lower", "info"]:
    sub = path[2:] if path[0] == "by_type" else path
    if sub[0] in ("latency", "tokens") or sub[-1] == "n" or sub[-1].startswith("n_"):
        return "info"
    return "lower" if sub == ("refusal", "false_rate") else "higher"


def _tolerance(path: Key, tolerances: Mapping[str, float]) -> float:
    # Most specific first: the exact path, then its sections, then the same without "by_type.<type>".
    sub = path[2:] if path[0] == "by_type" else path
    for p in (path, sub):
        for i in range(len(p), 0, -1):
            key = ".".join(p[:i])
            if key in tolerances:
                return tolerances[key]
    return tolerances.get("*", DEFAULT_TOLERANCE)


def _spread_width(spread: Any, key: str) -> float:
    if not isinstance(spread, Mapping) or not isinstance(spread.get(key), Mapping):
        return 0.0
    s = spread[key]
    return float(s.get("max", 0.0)) - float(s.get("min", 0.0))


def compare(
    report: EvalReport, baseline: Mapping[str, Any], tolerances: Mapping[str, float] | None = None
) -> tuple[list[Difference], bool]:
    """Compare the metrics present in both the report and a baseline report (as loaded from JSON).

    A drop beyond the tolerance (``tolerances`` by dotted path or section, "*" for all; default 0.02)
    regresses; for refusal.false_rate a rise does. Latency, tokens and counts are informational.
    Tolerances widen by the max-min spread of repeats in either run. Returns the differences and
    whether none regressed. Raises nothing.
    """
    tolerances = tolerances or {}
    current_data = report.model_dump(mode="json")
    current, base = _metric_paths(current_data), _metric_paths(baseline)
    diffs: list[Difference] = []
    for path, now in current.items():
        if path not in base:
            continue
        key, then = ".".join(path), base[path]
        direction = _direction(path)
        tol: float | None = None
        regressed = False
        if direction != "info":
            noise = max(_spread_width(current_data.get("spread"), key), _spread_width(baseline.get("spread"), key))
            tol = _tolerance(path, tolerances) + noise
            change = now - then if direction == "higher" else then - now
            regressed = change < -(tol + _EPS)
        diffs.append(
            Difference(
                path=key,
                baseline=then,
                current=now,
                delta=now - then,
                tolerance=tol,
                direction=direction,
                regressed=regressed,
            )
        )
    return diffs, not any(d.regressed for d in diffs)


def format_differences(diffs: Sequence[Difference]) -> str:
    """Lines for a terminal: regressions first, then other changes; unchanged metrics only counted.

    Raises nothing.
    """
    changed = [d for d in diffs if d.regressed or abs(d.delta) > _EPS]
    changed.sort(key=lambda d: not d.regressed)
    lines = []
    for d in changed:
        mark = "REGRESSED" if d.regressed else ("info" if d.direction == "info" else "ok")
        tol = "" if d.tolerance is None else f", tolerance {d.tolerance:.3f}"
        lines.append(f"{mark:>9}  {d.path}: {d.baseline:.3f} -> {d.current:.3f} ({d.delta:+.3f}{tol})")
    regressions = sum(d.regressed for d in diffs)
    lines.append(f"{len(diffs)} metrics compared, {len(diffs) - len(changed)} unchanged, {regressions} regressed")
    return "\n".join(lines) + "\n"
