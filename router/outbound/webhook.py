"""The app channel's transport: one signed JSON POST to the shop's callback URL per outbox row.

Redirects are not followed (a 3xx is a failed delivery: the router never calls a URL nobody registered), the reply
body is read up to :data:`MAX_REPLY_BYTES` and otherwise ignored (any 2xx counts as received, whatever it says),
every phase has a timeout and the whole attempt a deadline, so a slow or hostile receiver costs one worker slot for
at most ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import json
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from router.outbound.errors import UnsafeUrl
from router.outbound.result import Attempt
from router.outbound.signing import SIGNATURE_HEADER, sign
from router.outbound.urls import check_url

MAX_REPLY_BYTES = 64 * 1024
RETRYABLE_4XX = {408, 425, 429}
USER_AGENT = "kefu-outbound/1"


def encode(payload: dict[str, Any], key: str) -> bytes:
    return json.dumps({"id": key, **payload}, ensure_ascii=False, separators=(",", ":")).encode()


class WebhookTransport:
    def __init__(
        self,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        max_body_bytes: int,
        allow_private: bool,
        require_https: bool,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self.allow_private = allow_private
        self.require_https = require_https
        self._client = client or httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            trust_env=False,  # an HTTP(S)_PROXY in the environment must not see the shop's signed payloads
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, *, url: str, secret: str, key: str, payload: dict[str, Any], attempt: int) -> Attempt:
        body = encode(payload, key)
        if len(body) > self.max_body_bytes:
            return Attempt.give_up(f"payload of {len(body)} bytes exceeds the {self.max_body_bytes}-byte limit")
        try:
            await asyncio.to_thread(
                check_url, url, allow_private=self.allow_private, require_https=self.require_https
            )
        except UnsafeUrl as exc:
            return Attempt.give_up(exc.reason)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": key,
            "X-Kefu-Event": str(payload.get("event", "")),
            "X-Kefu-Delivery-Attempt": str(attempt),
            SIGNATURE_HEADER: sign(secret, body),
        }
        try:
            async with asyncio.timeout(self.timeout_s):  # not wait_for: it can swallow a cancellation on Python 3.11
                return await self._post(url, body, headers)
        except TimeoutError:
            return Attempt.retry(f"no answer within {self.timeout_s:g} s")

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        try:
            async with self._client.stream("POST", url, content=body, headers=headers) as response:
                read = 0
                async for chunk in response.aiter_raw():  # drain a little so the connection can be reused
                    read += len(chunk)
                    if read >= MAX_REPLY_BYTES:
                        break
                return classify(response.status_code, response.headers)
        except httpx.TimeoutException:
            return Attempt.retry(f"timed out after {self.timeout_s:g} s")
        except httpx.ConnectError as exc:
            return Attempt.retry(f"cannot connect: {_short(exc)}")
        except httpx.HTTPError as exc:  # garbage instead of HTTP, connection reset mid-answer ...
            return Attempt.retry(f"invalid HTTP answer: {_short(exc)}")


def classify(status: int, headers: httpx.Headers) -> Attempt:
    if 200 <= status < 300:
        return Attempt.ok(status)
    if status == 410:
        return Attempt("endpoint_gone", "the receiver answered 410 Gone: deliveries to it stopped", status)
    if 300 <= status < 400:
        where = headers.get("location", "?")
        return Attempt.give_up(f"redirect {status} to {where[:200]} not followed; register the final URL", status)
    if status in RETRYABLE_4XX or status >= 500:
        return Attempt.retry(f"HTTP {status}", status, _retry_after(headers.get("retry-after")))
    return Attempt.give_up(f"HTTP {status}: the receiver refused the delivery", status)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import time

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]
