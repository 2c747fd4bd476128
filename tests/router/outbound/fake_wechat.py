"""A fake WeChat API server on loopback following the documented formats of ``/cgi-bin/token`` and
``/cgi-bin/message/custom/send``: JSON answers with ``errcode`` / ``errmsg``, tokens that expire (42001) or are
not the latest (40001), the reply window (45015), system busy (-1) and malformed messages (44002, 40008)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

APP_ID, APP_SECRET = "wx0123456789abcdef", "fake-app-secret"
MSG_TYPES = {"text", "image", "link", "miniprogrampage"}


@dataclass
class FakeWeChat:
    tokens_issued: int = 0
    current: str | None = None
    expired: set[str] = field(default_factory=set)
    out_of_window: set[str] = field(default_factory=set)  # openids WeChat answers 45015 for
    busy: int = 0  # answer -1 this many times
    sent: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expire_token(self) -> None:
        """What WeChat does after ``expires_in``: the old token answers 42001 until a new one is fetched."""
        with self.lock:
            if self.current:
                self.expired.add(self.current)
                self.current = None

    def token(self, query: dict[str, str]) -> dict[str, Any]:
        if query.get("grant_type") != "client_credential":
            return {"errcode": 40002, "errmsg": "invalid grant_type"}
        if query.get("appid") != APP_ID:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if query.get("secret") != APP_SECRET:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        with self.lock:
            self.tokens_issued += 1
            if self.current:
                self.expired.add(self.current)  # a new token makes the old one "not latest"
            self.current = f"ACCESS_TOKEN_{self.tokens_issued}"
            return {"access_token": self.current, "expires_in": 7200}

    def send(self, token: str | None, body: bytes) -> dict[str, Any]:
        with self.lock:
            self.calls += 1
            if not token:
                return {"errcode": 41001, "errmsg": "access_token missing"}
            if token in self.expired:
                return {"errcode": 42001, "errmsg": "access_token expired"}
            if token != self.current:
                return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
            if self.busy > 0:
                self.busy -= 1
                return {"errcode": -1, "errmsg": "system error"}
            try:
                message = json.loads(body)
            except ValueError:
                return {"errcode": 47001, "errmsg": "data format error"}
            if message.get("msgtype") not in MSG_TYPES:
                return {"errcode": 40008, "errmsg": "invalid message type"}
            if not message.get("touser"):
                return {"errcode": 40003, "errmsg": "invalid openid"}
            if message["touser"] in self.out_of_window:
                return {"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"}
            if message["msgtype"] == "text" and not message.get("text", {}).get("content"):
                return {"errcode": 44002, "errmsg": "empty post data"}
            if message["msgtype"] == "link" and not all(
                message.get("link", {}).get(k) is not None for k in ("title", "description", "url", "thumb_url")
            ):
                return {"errcode": 47001, "errmsg": "data format error"}
            self.sent.append(message)
            return {"errcode": 0, "errmsg": "ok"}


def _handler(fake: FakeWeChat) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _query(self) -> dict[str, str]:
            return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/cgi-bin/token":
                self._json(fake.token(self._query()))
            else:
                self._json({"errcode": 40066, "errmsg": "invalid url"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if urlsplit(self.path).path == "/cgi-bin/message/custom/send":
                self._json(fake.send(self._query().get("access_token"), body))
            else:
                self._json({"errcode": 40066, "errmsg": "invalid url"})

        def _json(self, data: dict[str, Any]) -> None:
            raw = json.dumps(data).encode()
            self.send_response(200)  # WeChat answers errors with HTTP 200 and an errcode
            self.send_header("Content-Type", "application/json; encoding=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler


class FakeWeChatServer:
    def __init__(self, fake: FakeWeChat, port: int) -> None:
        self.fake = fake
        self.url = f"http://127.0.0.1:{port}"
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(fake))
        self._server.daemon_threads = True

    def __enter__(self) -> FakeWeChatServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
