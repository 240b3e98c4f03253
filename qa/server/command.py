"""``qa serve``: run the HTTP API (qa.server.app) with uvicorn. FastAPI and uvicorn load only when it runs."""

from __future__ import annotations

from pathlib import Path

import click

from qa.cliopts import settings_for, store_option
from qa.errors import QAError

SERVE_HELP = """Serve the articles over HTTP: ask, upload, list, remove, health and metrics.

\b
Endpoints (OpenAPI schema at /openapi.json, browsable at /docs):
  POST   /ask              {"question": ..., "k"?, "doc_ids"?, "history"?} -> the Answer JSON
                           (as `qa ask --json`); Accept: text/event-stream streams tokens
  POST   /documents        multipart files (field "files") or JSON {"articles": [{"text": ...}]}
  GET    /documents        the ingested documents
  DELETE /documents/ID     remove one (204; 404 if absent)
  GET    /health           store, embedder and model status
  GET    /metrics          Prometheus metrics

\b
Examples:
  qa serve                                   # http://127.0.0.1:8000, loopback only
  curl -s localhost:8000/ask -H 'Content-Type: application/json' \\
       -d '{"question": "How many troops are going to Poland?"}'
  curl -sN localhost:8000/ask -H 'Accept: text/event-stream' \\
       -H 'Content-Type: application/json' -d '{"question": "Who is Jen Psaki?"}'
  curl -s localhost:8000/documents -F files=@article.txt -F files=@more.jsonl
  curl -s -X DELETE localhost:8000/documents/article
  QA_SERVE_TOKEN=s3cret qa serve --host 0.0.0.0
  curl -s HOST:8000/documents -H 'Authorization: Bearer s3cret'

\b
Listening beyond loopback requires QA_SERVE_TOKEN (clients send Authorization: Bearer TOKEN).
Limits: QA_SERVE_MAX_CONCURRENT answers at a time (default 1), QA_SERVE_MAX_QUEUE waiting (4; more
get 503 + Retry-After), QA_SERVE_ASK_TIMEOUT_S (300; then 504), QA_SERVE_MAX_JSON_MB (1) and
QA_SERVE_MAX_UPLOAD_MB (50; then 413). CORS is off unless QA_SERVE_CORS_ORIGINS lists origins.
To scale out, run several `qa serve` processes with QA_CHROMA_URL pointing at one Chroma server.
"""


def run_server(host: str | None, port: int | None, store: Path | None, log_level: str) -> None:
    """Check the binding, open the store (fail fast), then serve until interrupted."""
    import uvicorn

    from qa.api import QA
    from qa.server.app import create_app
    from qa.server.guard import check_bind

    settings = settings_for(store)
    serve = settings.serve
    host = host or serve.host
    port = serve.port if port is None else port
    check_bind(host, serve.token)
    qa = QA(settings, status=lambda m: click.echo(m, err=True))
    docs = qa.documents()  # loads the embedder and opens the store now, not on the first request
    if docs:  # and the retrieval models and index, so the first question doesn't pay for them
        try:
            qa.retrieve(docs[0].title or docs[0].doc_id, k=1)
        except QAError as exc:
            click.echo(f"warning: retrieval warm-up failed: {exc.message}", err=True)
    where = settings.chroma_url or settings.store_path
    shown = f"[{host}]" if ":" in host else host
    auth = "bearer token required" if serve.token else "no token: loopback only"
    click.echo(f"article-qa: {len(docs)} document(s) in {where}; http://{shown}:{port} ({auth})", err=True)
    uvicorn.run(
        create_app(qa, settings),
        host=host,
        port=port,
        log_level=log_level,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


@click.command("serve", help=SERVE_HELP, short_help="Serve the HTTP API (ask, documents, health, metrics).")
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1; env QA_SERVE_HOST).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default 8000; QA_SERVE_PORT).")
@store_option
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="uvicorn's log level (access log at info).",
)
def serve_command(host: str | None, port: int | None, store: Path | None, log_level: str) -> None:
    run_server(host, port, store, log_level)
