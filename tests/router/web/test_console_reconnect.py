"""The agent console after its WebSocket dropped: what was pushed meanwhile never arrived, so on reconnect the console
re-reads its conversations (found reading the console: it re-read only its offers, so a shopper's message sent while
the socket was down stayed missing until the agent reloaded the page)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.router.web.helpers import WebStack
from tests.router.web.test_pages import go_offline, go_online

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]


def test_console_rereads_its_conversations_after_a_reconnect(web_stack: WebStack, new_page: Any) -> None:
    agent = new_page(1400, 900)
    sockets: list[Any] = []
    down = {"now": False}

    def route(ws: Any) -> None:
        if down["now"]:  # the network is away: the console's attempt fails and it tries again later
            ws.close()
            return
        ws.connect_to_server()
        sockets.append(ws)

    agent.route_web_socket("**/api/v1/agents/ws", route)
    go_online(agent, web_stack)
    customer = f"reconnect-{uuid.uuid4().hex[:8]}"
    try:
        res = web_stack.http.post("/api/v1/messages", headers=web_stack.backend, json={
            "channel": "app", "customer_id": customer, "text": "我要找人工客服"})
        conversation = res.json()["conversation_id"]
        agent.locator(f".offer[data-conversation-id='{conversation}'] button.success").click(timeout=60_000)
        agent.locator(f"#conversations li[data-conversation-id='{conversation}']").wait_for()

        down["now"] = True
        sockets[-1].close()  # the connection drops (Wi-Fi, a proxy's idle timeout, a router replica restarting)
        agent.wait_for_selector("#ws-state.red")
        sent = web_stack.http.post("/api/v1/messages", headers=web_stack.backend, json={
            "channel": "app", "customer_id": customer, "text": "断线期间发来的消息：还在吗？"})
        assert sent.status_code == 200 and sent.json()["owner"] == "agent", sent.text
        time.sleep(1.0)
        down["now"] = False
        agent.wait_for_selector("#ws-state.green", timeout=30_000)
        agent.locator("#transcript .line.customer .text", has_text="断线期间发来的消息").wait_for(timeout=15_000)
        assert not agent.js_errors
    finally:
        go_offline(web_stack)
