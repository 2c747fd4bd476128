"""Start the real kefu processes (Rasa server, action server, router) on free loopback ports for tests and benches."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"
RASA_SERVER = ROOT / "scripts" / "rasa_server.py"  # `rasa` with its action-answer schema check cached
APP_PY = ROOT / ".venv" / "bin" / "python"
RASA_MODEL = ROOT / "var" / "rasa" / "models" / "kefu.tar.gz"
RASA_TOKEN = "kefu-test-rasa-token"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def wait_http(proc: Proc, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        try:
            if httpx.get(proc.url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.stop()
    raise RuntimeError(f"{proc.name} did not answer {path} within {timeout:.0f}s:\n{proc.log_tail()}")


def _spawn(name: str, cmd: list[str], *, env: dict[str, str], cwd: Path, log_dir: Path, url: str) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    full_env = {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "HF_HUB_OFFLINE": "1",
        **env,
    }
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            cmd, cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Proc(name, popen, url, log_path)


def kb_env(db_url: str, *, redis_url: str | None = None, channel: str | None = None) -> dict[str, str]:
    """Where the FAQ corpus lives, for the router and the action server alike (the same database for both, as
    `make run` sets it): seeded from knowledge_base/data on first use, never written back there."""
    env = {"KEFU_KB_STORE": "sql", "KEFU_KB_DATABASE_URL": db_url}
    if redis_url:
        env["KEFU_KB_REDIS_URL"] = redis_url
    if channel:
        env["KEFU_KB_REDIS_CHANNEL"] = channel
    return env


def start_action_server(
    *, log_dir: Path, orders_db_url: str, port: int | None = None, env: dict[str, str] | None = None
) -> Proc:
    """The action server; without ``KEFU_KB_DATABASE_URL`` in ``env`` it answers FAQs from a private SQLite corpus in
    ``log_dir`` (never the developer's var/kefu.db)."""
    port = port or free_port()
    kb = kb_env(f"sqlite:///{log_dir / 'kb-corpus.db'}")
    proc = _spawn(
        "actions",
        [str(APP_PY), "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        env={"SANIC_HOST": "127.0.0.1", "KEFU_ACTIONS_ORDERS_DB_URL": orders_db_url, **kb, **(env or {})},
        cwd=ROOT,
        log_dir=log_dir,
        url=f"http://127.0.0.1:{port}",
    )
    wait_http(proc, "/health", 120)
    return proc


def start_rasa(
    *,
    log_dir: Path,
    action_url: str,
    port: int | None = None,
    model: Path = RASA_MODEL,
    endpoints: Path | None = None,
    env: dict[str, str] | None = None,
    ready_timeout_s: float = 300,  # about 60 s on a quiet 2-core machine; far longer when it is overloaded
) -> Proc:
    if not model.exists():
        raise RuntimeError(f"no trained Rasa model at {model}: run `make setup` (it trains bot/ + nlu_data/)")
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    if endpoints is None:
        endpoints = log_dir / "endpoints.yml"
        endpoints.write_text(f'action_endpoint:\n  url: "{action_url}/webhook"\n', encoding="utf-8")
    proc = _spawn(
        "rasa",
        [
            str(RASA_PY),
            str(RASA_SERVER),
            "run",
            "--enable-api",
            "--auth-token",
            RASA_TOKEN,
            "--model",
            str(model),
            "--interface",
            "127.0.0.1",
            "--port",
            str(port),
            "--endpoints",
            str(endpoints),
            "--credentials",
            str(ROOT / "bot" / "credentials.yml"),
            "--response-timeout",
            "30",
        ],
        env=env or {},
        cwd=ROOT / "bot",
        log_dir=log_dir,
        url=f"http://127.0.0.1:{port}",
    )
    # loading the model takes about a minute; a machine shared by many test runs may need KEFU_TEST_RASA_START_S
    wait_http(proc, "/", float(os.environ.get("KEFU_TEST_RASA_START_S", ready_timeout_s)))
    return proc


def start_router(*, log_dir: Path, env: dict[str, str], port: int | None = None, name: str = "router") -> Proc:
    port = port or free_port()
    proc = _spawn(
        name,
        [
            str(APP_PY),
            "-m",
            "uvicorn",
            "router.app:create_service",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--timeout-keep-alive",
            "75",
        ],
        env=env,
        cwd=ROOT,
        log_dir=log_dir,
        url=f"http://127.0.0.1:{port}",
    )
    wait_http(proc, "/healthz", 120)
    return proc


@contextmanager
def running(proc: Proc) -> Iterator[Proc]:
    try:
        yield proc
    finally:
        proc.stop()


class RedisServer:
    """A private redis-server on a free port (no persistence: a restart loses everything, the worst case)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
