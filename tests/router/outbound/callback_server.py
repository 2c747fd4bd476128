"""A shop's callback receiver on loopback for the outbound tests: verifies signatures, records deliveries, and can
misbehave on demand (status codes, slowness, redirects, garbage instead of HTTP) or be stopped and restarted."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from router.outbound.signing import SIGNATURE_HEADER, BadSignature, verify


@dataclass
class Delivery:
    key: str
    body: dict[str, Any]
    verified: bool
    reason: str | None
    attempt: int
    at: float


@dataclass
class Receiver:
    """Behaviour: ``mode`` is ok | status | slow | redirect | garbage | bigreply; ``status`` for mode=status."""

    secret: str = ""
    mode: str = "ok"
    status: int = 200
    slow_s: float = 0.0
    fail_first: int = 0  # mode=status: only the first n requests get ``status`` (0: all of them)
    deliveries: list[Delivery] = field(default_factory=list)
    hits: int = 0
    redirect_hits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keys(self) -> list[str]:
        with self.lock:
            return [d.key for d in self.deliveries]

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [d.body for d in self.deliveries]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.startswith("/landing"):
                with receiver.lock:
                    receiver.redirect_hits += 1
                self._answer(200, b"ok")
                return
            with receiver.lock:
                receiver.hits += 1
                mode = receiver.mode
                if mode == "status" and 0 < receiver.fail_first < receiver.hits:
                    mode = "ok"
            if mode == "slow":
                time.sleep(receiver.slow_s)
            if mode == "garbage":
                self.wfile.write(b"\x00\xffNOT HTTP AT ALL\r\n\r\n")
                self.wfile.flush()
                self.close_connection = True
                return
            if mode == "redirect":
                self.send_response(302)
                self.send_header("Location", "/landing")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if mode == "status":
                self._answer(receiver.status, b"nope")
                return
            try:
                verify(receiver.secret, self.headers.get(SIGNATURE_HEADER), raw)
                verified, reason = True, None
            except BadSignature as exc:
                verified, reason = False, exc.reason
            body = json.loads(raw)
            with receiver.lock:
                receiver.deliveries.append(
                    Delivery(
                        key=self.headers.get("Idempotency-Key", ""),
                        body=body,
                        verified=verified,
                        reason=reason,
                        attempt=int(self.headers.get("X-Kefu-Delivery-Attempt") or 0),
                        at=time.monotonic(),
                    )
                )
            if mode == "bigreply":
                self._answer(200, b"\x89garbage" * 200_000)
            else:
                self._answer(200, b'{"ok": true}')

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class _Server(ThreadingHTTPServer):
    """Remembers its open connections, so that stopping it also drops the kept-alive ones (a real outage)."""

    daemon_threads = True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.open: set[socket.socket] = set()
        self.open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.open_lock:
            self.open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.open_lock:
            self.open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self.open_lock:
            for sock in list(self.open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class CallbackServer:
    def __init__(self, receiver: Receiver, port: int) -> None:
        self.receiver = receiver
        self.port = port
        self.url = f"http://127.0.0.1:{port}/kefu/callback"
        self._server: _Server | None = None

    def start(self) -> CallbackServer:
        self._server = _Server(("127.0.0.1", self.port), _handler(self.receiver))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down like a crashed receiver: no listener and every open connection reset."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.drop_connections()
            self._server = None
