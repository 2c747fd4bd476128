"""Replay generated scripts against a running gateway: the shopper side of each conversation, sent to
``POST /api/v1/messages`` as the channels would send it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from router.demo.scripts import Script


@dataclass
class ReplayResult:
    script: Script
    conversation_id: str | None
    owners: list[str]
    replies: list[list[str]]
    statuses: list[int]


def replay(base_url: str, scripts: Sequence[Script], *, keys: Mapping[str, str], client: httpx.Client | None = None,
           timeout_s: float = 30.0, run_id: str | None = None) -> list[ReplayResult]:
    """Send each script's shopper turns to ``POST /api/v1/messages`` in order; collect owners and replies.

    ``keys`` has the shape of ``var/demo/channel_keys.json``: the ``app`` / ``miniprogram`` channel keys and the
    ``web_identity_secret`` that signs web customers (as the shop's servers would)."""
    from router.identity.service import identity_hash

    run_id = run_id or uuid.uuid4().hex[:8]
    own = client is None
    http = client or httpx.Client(base_url=base_url, timeout=timeout_s)
    results: list[ReplayResult] = []
    try:
        for i, script in enumerate(scripts):
            result = ReplayResult(script, None, [], [], [])
            for j, text in enumerate(script.turns):
                body = {
                    "channel": script.channel,
                    "customer_id": script.customer_id,
                    "text": text,
                    "client_msg_id": f"replay-{run_id}-{i}-{j}",
                }
                headers = {}
                if script.channel == "web":
                    body["identity_hash"] = identity_hash(keys["web_identity_secret"], script.customer_id)
                else:
                    headers["X-Kefu-Channel-Key"] = keys[script.channel]
                response = http.post("/api/v1/messages", json=body, headers=headers)
                result.statuses.append(response.status_code)
                if response.status_code != 200:
                    break
                payload = response.json()
                result.conversation_id = payload.get("conversation_id")
                result.owners.append(str(payload.get("owner")))
                result.replies.append([str(r.get("text", "")) for r in payload.get("replies", [])])
            results.append(result)
    finally:
        if own:
            http.close()
    return results
