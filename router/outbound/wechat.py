"""The mini-program transport: WeChat's customer-service message API (``/cgi-bin/message/custom/send``).

The access token (``/cgi-bin/token``, valid ``expires_in`` seconds, 7200 today) is cached per process and refreshed
five minutes before it expires, or at once when WeChat answers 40001 / 40014 / 42001 (invalid or expired token);
then the send is tried once more. A shopper can be written to only within 48 hours of their last message (WeChat
answers 45015 after that; the worker does not even try once the window has passed) and only a few times per
message of theirs (45047). Error codes decide between trying again later and giving up (:func:`classify`).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from router.outbound.result import Attempt

TOKEN_ERRORS = {40001, 40014, 42001}
# worth trying later: system busy, API minute/day quota reached
RETRY_ERRORS = {-1, 45009, 45011}
# never worth repeating: outside the reply window, reply count used up, bad openid, unauthorized, bad message ...
GIVE_UP_ERRORS = {
    40003: "invalid openid",
    40008: "invalid message type",
    40013: "invalid app id",
    40125: "invalid app secret",
    43004: "the user does not follow the account",
    44002: "empty message",
    45002: "message too long",
    45015: "outside WeChat's 48-hour reply window",
    45047: "reply count limit reached for this user",
    47001: "malformed message data",
    48001: "the app is not authorised for customer-service messages",
}
MAX_TEXT_CHARS = 600  # WeChat caps a text message at 2048 bytes; 600 CJK characters stay well below


class TokenUnavailable(Exception):
    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class WeChatClient:
    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        api_base: str = "https://api.weixin.qq.com",
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
        clock: Any = time.time,
    ) -> None:
        self.app_id = app_id
        self._secret = app_secret
        self.api_base = api_base.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, trust_env=False)
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.token_fetches = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def access_token(self, *, force: bool = False, stale: str | None = None) -> str:
        async with self._lock:
            fresh = self._token is not None and self._clock() < self._expires_at - 300
            if fresh and not force:
                return self._token  # type: ignore[return-value]
            if force and stale is not None and self._token != stale and fresh:
                return self._token  # type: ignore[return-value]  # another task refreshed it meanwhile
            params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
            try:
                response = await self._client.get(f"{self.api_base}/cgi-bin/token", params=params)
                data = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise TokenUnavailable(f"token request failed: {exc}", permanent=False) from exc
            self.token_fetches += 1
            if not isinstance(data, dict) or not data.get("access_token"):
                code = data.get("errcode") if isinstance(data, dict) else None
                permanent = code in (40013, 40125, 40164)
                raise TokenUnavailable(f"token refused: errcode {code} {data.get('errmsg', '')}", permanent=permanent)
            self._token = str(data["access_token"])
            self._expires_at = self._clock() + float(data.get("expires_in") or 7200)
            return self._token

    async def send(self, message: dict[str, Any]) -> Attempt:
        """POST one customer-service message (``{"touser", "msgtype", ...}``); refresh the token once if needed."""
        try:
            token = await self.access_token()
            result = await self._post(token, message)
            if result is None:  # token invalid or expired: fetch a new one and try once more
                token = await self.access_token(force=True, stale=token)
                result = await self._post(token, message)
                if result is None:
                    return Attempt.retry("access token refused twice")
            return result
        except TokenUnavailable as exc:
            return Attempt.give_up(exc.reason) if exc.permanent else Attempt.retry(exc.reason)

    async def _post(self, token: str, message: dict[str, Any]) -> Attempt | None:
        body = json.dumps(message, ensure_ascii=False).encode()
        try:
            response = await self._client.post(
                f"{self.api_base}/cgi-bin/message/custom/send",
                params={"access_token": token},
                content=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            return Attempt.retry(f"WeChat unreachable: {exc}")
        if response.status_code >= 300:
            return Attempt.retry(f"WeChat answered HTTP {response.status_code}", response.status_code)
        try:
            data = response.json()
            code = int(data.get("errcode", 0))
        except (ValueError, AttributeError, TypeError):
            return Attempt.retry("WeChat answered something that is not JSON", response.status_code)
        if code in TOKEN_ERRORS:
            return None
        return classify(code, str(data.get("errmsg", "")))


def classify(code: int, errmsg: str = "") -> Attempt:
    if code == 0:
        return Attempt.ok()
    if code in GIVE_UP_ERRORS:
        return Attempt.give_up(f"errcode {code}: {GIVE_UP_ERRORS[code]}")
    if code in RETRY_ERRORS:
        return Attempt.retry(f"errcode {code}: {errmsg or 'busy'}")
    return Attempt.retry(f"errcode {code}: {errmsg or 'unknown error'}")  # unknown: bounded retries, then dead


def messages_for(payload: dict[str, Any], *, survey_url: str | None = None) -> list[dict[str, Any]]:
    """The WeChat messages one outbox payload becomes: text (split when long, buttons listed) or a link."""
    touser = str(payload["to"])
    if payload.get("event") == "survey" and survey_url:
        link = {
            "title": "服务评价",
            "description": str(payload.get("message", {}).get("text", "请为本次服务打分")),
            "url": survey_url.format(conversation_id=payload["conversation_id"]),
            "thumb_url": "",
        }
        return [{"touser": touser, "msgtype": "link", "link": link}]
    message = payload.get("message") or {}
    text = str(message.get("text", ""))
    buttons = message.get("buttons") or []
    if buttons:
        text += "\n" + "\n".join(f"{i}. {b.get('title', '')}" for i, b in enumerate(buttons, 1))
    chunks = [text[i : i + MAX_TEXT_CHARS] for i in range(0, len(text), MAX_TEXT_CHARS)] or [""]
    return [{"touser": touser, "msgtype": "text", "text": {"content": chunk}} for chunk in chunks if chunk]
