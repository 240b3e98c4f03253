"""Retrieval ablation: dense / lexical / hybrid / hybrid + rerank on each eval set (answerable cases).

Usage: .venv/bin/python evals/retrieval_ablation.py [--sample N] > evals/results/retrieval-ablation.md
Runs `qa eval --retrieval-only --json` once per configuration (settings through QA_RETRIEVAL_* variables)
and prints a Markdown table of recall@1/3/5/10, MRR and the mean retrieval latency per query.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "benchmarks"
CONFIGS = {
    "dense": {"QA_RETRIEVAL_MODE": "dense", "QA_RETRIEVAL_RERANK": "false"},
    "lexical (BM25)": {"QA_RETRIEVAL_MODE": "lexical", "QA_RETRIEVAL_RERANK": "false"},
    "hybrid (RRF)": {"QA_RETRIEVAL_MODE": "hybrid", "QA_RETRIEVAL_RERANK": "false"},
    "hybrid + rerank (default)": {"QA_RETRIEVAL_MODE": "hybrid", "QA_RETRIEVAL_RERANK": "true"},
}


def sets() -> list[tuple[str, Path, Path]]:
    found = [("hand-written (reference)", ROOT / "evals" / "reference.jsonl", ROOT / "evals" / "corpus")]
    for folder in sorted(SHARED.glob("*/")):
        if (folder / "questions.jsonl").is_file():
            found.append((folder.name, folder / "questions.jsonl", folder / "corpus.jsonl"))
    return found


def answerable_only(path: Path, tmp: Path) -> Path:
    out = tmp / f"{path.parent.name}-answerable.jsonl"
    with path.open() as src, out.open("w") as dst:
        for line in src:
            if line.strip() and json.loads(line).get("answerable"):
                dst.write(line)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, help="evaluate a stratified sample of N cases per set")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    qa = str(Path(sys.executable).parent / "qa")
    print("| set | configuration | n | R@1 | R@3 | R@5 | R@10 | MRR | mean s/query |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, questions, corpus in sets():
            qfile = answerable_only(questions, Path(tmp))
            for label, env in CONFIGS.items():
                cmd = [qa, "eval", str(qfile), "--corpus", str(corpus), "--retrieval-only", "--json"]
                if args.sample:
                    cmd += ["--sample", str(args.sample), "--seed", str(args.seed)]
                out = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, check=True)
                rep = json.loads(out.stdout)
                r = rep["retrieval"]["recall_at_k"]
                lat = rep["latency"]["mean_s"]
                print(
                    f"| {name} | {label} | {rep['n']} | {r['1']:.3f} | {r['3']:.3f} | {r['5']:.3f} | {r['10']:.3f} "
                    f"| {rep['retrieval']['mrr']:.3f} | {lat:.3f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
