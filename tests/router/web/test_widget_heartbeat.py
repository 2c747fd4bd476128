"""The shopper's widget behind a socket that died without closing (a sleeping laptop, a dropped mobile network, a
proxy that lost the connection): nothing arrived and nothing said so, so an agent's or the bot's replies never showed
until the shopper reloaded the page. The widget now pings every 25 s and replaces a socket that has not answered
10 s later, then re-reads what it missed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.router.web.helpers import WebStack

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]


def test_a_silently_dead_socket_is_replaced_and_what_it_missed_is_shown(web_stack: WebStack, new_page: Any) -> None:
    page = new_page(480, 800)
    page.clock.install()  # the heartbeat's 25 s + 10 s pass at the test's command, not in real time
    sockets: list[Any] = []
    deaf: set[int] = set()  # sockets whose server side no longer reaches the page

    def route(ws: Any) -> None:
        server = ws.connect_to_server()
        n = len(sockets)
        sockets.append(ws)
        ws.on_message(lambda message: server.send(message))
        server.on_message(lambda message: None if n in deaf else ws.send(message))

    page.route_web_socket("**/api/v1/channels/web/ws", route)
    page.goto(f"{web_stack.url}/chat/embed")
    page.locator("#chat-text").fill("你好")
    page.locator("#chat-send").click()
    page.locator(".msg-bot").first.wait_for(timeout=60_000)
    page.wait_for_function("window.kefuChat && window.kefuChat.customerId()")
    page.clock.run_for(2_000)  # the socket opens once the first message brought a token
    assert len(sockets) == 1

    deaf.add(0)  # the connection dies without a close: pushes are lost, the browser is not told
    visitor = page.evaluate("localStorage.getItem('kefu.visitor_token')")
    sent = web_stack.http.post("/api/v1/channels/web/messages", json={"text": "运费谁出"},
                               headers={"Authorization": f"Bearer {visitor}"})  # the same shopper, another tab
    assert sent.status_code == 200, sent.text
    missed = sent.json()["replies"][0]["text"]
    page.clock.run_for(40_000)  # a ping, no pong within 10 s: a new socket, and the history re-read
    assert len(sockets) == 2
    page.locator(".msg-bot", has_text=missed[:12]).wait_for(timeout=15_000)
    assert not page.js_errors
