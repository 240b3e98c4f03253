"""The bundled local model, served by llama.cpp's OpenAI-compatible server (xllamacpp) on 127.0.0.1.

The server runs in its own process so that every caller (CLI, Python API, tests) talks to it over HTTP
exactly as it would to a hosted model. It is started on demand, reused while alive (its pid and port
are kept in ``<home>/run``), stops itself after ``llm.local_idle_minutes`` without use, and stops
cleanly on SIGTERM (``qa llm stop``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import BaseModel

from qa.errors import ModelUnavailableError
from qa.settings import Settings
from qa.weights import artifact, fetch


class ServerInfo(BaseModel):
    """What the run folder records about a live local server."""

    pid: int
    port: int
    model: str
    model_path: str
    log: str
    started_at: float

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL."""
        return f"http://127.0.0.1:{self.port}/v1"


def _paths(settings: Settings) -> tuple[Path, Path, Path, Path]:
    run = settings.run_dir
    name = settings.llm.local_model
    return run / f"llm-{name}.json", run / f"llm-{name}.log", run / f"llm-{name}.touch", run / "llm.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def healthy(port: int, timeout: float = 2.0) -> bool:
    """True when the server on ``port`` has loaded its model and answers /health."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


def status(settings: Settings) -> ServerInfo | None:
    """The running local server for the configured model, or None."""
    info_path = _paths(settings)[0]
    try:
        info = ServerInfo.model_validate_json(info_path.read_text())
    except (OSError, ValueError):
        return None
    if not _alive(info.pid) or not healthy(info.port):
        return None
    return info


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def ensure_running(settings: Settings, progress: Callable[[str], None] | None = None) -> ServerInfo:
    """Return the live local server, starting it (and fetching its model) if needed.

    Raises ModelFetchError when the model can't be prepared and ModelUnavailableError when the
    server fails to start, with the tail of its log.
    """
    say = progress or (lambda _m: None)
    info_path, log_path, touch_path, lock_path = _paths(settings)
    with _lock(lock_path):
        info = status(settings)
        if info is None:
            art = artifact(settings.llm.local_model)
            say(f"checking the model file {art.filename}")
            model_path = fetch(art.name, settings.models_dir, progress=say)
            info = _start(settings, model_path, info_path, log_path, touch_path, say)
        touch_path.touch()
        return info


def _start(
    settings: Settings,
    model_path: Path,
    info_path: Path,
    log_path: Path,
    touch_path: Path,
    say: Callable[[str], None],
) -> ServerInfo:
    port = settings.llm.local_port or _free_port()
    touch_path.parent.mkdir(parents=True, exist_ok=True)
    touch_path.touch()
    cmd = [
        sys.executable,
        "-m",
        "qa.localserver",
        "--model",
        str(model_path),
        "--port",
        str(port),
        "--ctx",
        str(settings.llm.local_ctx),
        "--threads",
        str(settings.llm.local_threads),
        "--idle-minutes",
        str(settings.llm.local_idle_minutes),
        "--touch-file",
        str(touch_path),
    ]
    say(f"starting the local model server on 127.0.0.1:{port} ({settings.llm.local_model})")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    info = ServerInfo(
        pid=proc.pid,
        port=port,
        model=settings.llm.local_model,
        model_path=str(model_path),
        log=str(log_path),
        started_at=time.time(),
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ModelUnavailableError(
                f"the local model server exited with code {proc.returncode} while starting:\n{_tail(log_path)}",
                hint=f"see the full log at {log_path}; `qa weights fetch` re-checks the model file",
            )
        if healthy(port):
            info_path.write_text(info.model_dump_json())
            say("local model server ready")
            return info
        time.sleep(0.25)
    proc.terminate()
    raise ModelUnavailableError(
        f"the local model server did not become ready within 180 s:\n{_tail(log_path)}",
        hint=f"see {log_path}",
    )


def stop(settings: Settings, timeout: float = 15.0) -> bool:
    """Stop the local server for the configured model; True if one was running."""
    info_path = _paths(settings)[0]
    try:
        info = ServerInfo.model_validate_json(info_path.read_text())
    except (OSError, ValueError):
        return False
    stopped = False
    if _alive(info.pid):
        os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(info.pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.pid, os.WNOHANG)
            time.sleep(0.1)
        if _alive(info.pid):
            os.kill(info.pid, signal.SIGKILL)
        stopped = True
    info_path.unlink(missing_ok=True)
    return stopped


def _serve(args: argparse.Namespace) -> None:
    import threading

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.port = args.port
    params.hostnames = ["127.0.0.1"]
    params.n_ctx = args.ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.use_jinja = True
    params.model_alias = {"local"}
    server = xllamacpp.Server(params)  # serves from background threads
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    touch = Path(args.touch_file)
    idle_s = args.idle_minutes * 60
    while not done.wait(5.0):
        try:
            idle = time.time() - touch.stat().st_mtime
        except OSError:
            break  # the run folder was removed: nobody can find this server any more
        if idle_s > 0 and idle > idle_s:
            break
    del server


def main(argv: list[str] | None = None) -> None:
    """Entry point of the server process (started by ``ensure_running``)."""
    parser = argparse.ArgumentParser(prog="python -m qa.localserver")
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--idle-minutes", type=float, default=20.0)
    parser.add_argument("--touch-file", required=True)
    _serve(parser.parse_args(argv))
    # llama.cpp's threads don't always unwind quickly; the process is done either way.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
