"""Presence from the console connection, in a real Chromium against the real router (issue #19): two agents in two
browser contexts and shoppers. When agent A closes her tab, the offer pending for her goes to agent B within 5 s
after the grace; the conversation she held is re-queued after the longer grace, the shopper is told so, and B picks
it up with the transcript intact. The offer card shows the shopper's words, channel, wait and VIP; Enter accepts.

The Rasa server is deliberately down (a closed port): with an agent online the gateway hands every shopper message
to a human ("智能客服暂时有点忙 ... 正在为您转接人工客服"), which is all these tests need.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from router.auth import create_user
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from tests.e2e.helpers import credentials_env, shop_credentials, shopper_message
from tests.procs import free_port, start_router
from tests.router.web.conftest import CHROMIUM
from tests.router.web.helpers import PASSWORD, WebStack, login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]
GRACE_S = 2.0
HELD_GRACE_S = 8.0


@pytest.fixture(scope="module")
def presence_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run scripts/ensure_chromium.sh (make test does)")
    web_dir = tmp_path_factory.mktemp("presence")
    db_url = f"sqlite:///{web_dir / 'router.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    create_user(sessions, password=PASSWORD, username="xiaowang", display_name="小王", role="agent",
                skills={"general": 5, "after_sales": 5, "logistics": 5})
    create_user(sessions, password=PASSWORD, username="xiaoli", display_name="小李", role="agent",
                skills={"general": 3, "after_sales": 3, "logistics": 3})
    engine.dispose()
    credentials = shop_credentials(db_url)
    router = start_router(log_dir=web_dir, env={
        **credentials_env(credentials),
        "KEFU_ROUTER_DATABASE_URL": db_url, "KEFU_ROUTER_RASA_URL": f"http://127.0.0.1:{free_port()}",
        "KEFU_ROUTER_RASA_TIMEOUT_S": "2", "KEFU_ROUTER_OFFER_TIMEOUT_S": "120",
        "KEFU_ROUTER_OPERATIONS_BACKGROUND": "false",
        "KEFU_ROUTER_PRESENCE_GRACE_S": str(GRACE_S), "KEFU_ROUTER_PRESENCE_HELD_GRACE_S": str(HELD_GRACE_S),
        "KEFU_ROUTER_PRESENCE_CHECK_S": "0.2"})
    http = httpx.Client(base_url=router.url, timeout=60)
    try:
        yield WebStack(url=router.url, router=router, http=http, credentials=credentials)
    finally:
        http.close()
        router.stop()


def agent_console(page: Any, stack: WebStack, username: str) -> None:
    login(page, f"{stack.url}/agent", username)
    page.select_option("#status-select", "online")
    page.wait_for_selector("#ws-state.green")
    page.locator(".toast-ok", has_text="已上线").wait_for()
    page.locator("#presence.green", has_text="接待中").wait_for()


def test_closing_the_tab_reroutes_offers_and_requeues_held_conversations(
    presence_stack: WebStack, new_page: Any
) -> None:
    stack = presence_stack
    a_context_page = new_page(1400, 900)
    agent_console(a_context_page, stack, "xiaowang")
    b = new_page(1400, 900)
    agent_console(b, stack, "xiaoli")

    # shopper 1 (the chat page) asks; A, the better skilled, gets the offer: the card says what the shopper wrote
    shopper = new_page(1280, 800)
    shopper.goto(f"{stack.url}/chat/embed")
    shopper.locator("#chat-text").fill("我的快递三天没更新了，单号查不到，麻烦帮我看看")
    shopper.locator("#chat-send").click()
    a = a_context_page
    card = a.locator(".offer")
    card.wait_for(timeout=60_000)
    held_id = card.get_attribute("data-conversation-id")
    assert "我的快递三天没更新了" in (card.locator(".last-message").text_content() or "")
    assert "网页" in (card.text_content() or "") and "已等待" in (card.text_content() or "")
    a.locator("#load", has_text="待接入 1").wait_for()
    assert "接待量 0/3" in (a.locator("#load").text_content() or "")  # an offer is not load
    screenshot(a, "agent_offer_card")
    a.evaluate("() => document.activeElement && document.activeElement.blur()")
    a.keyboard.press("Enter")  # accept the first offer from the keyboard
    a.locator(f"#conversations li[data-conversation-id='{held_id}']").wait_for()
    a.locator("#load", has_text="接待量 1/3").wait_for()
    shopper.locator(".msg-system", has_text="小王").wait_for()
    a.fill("#reply-text", "您好，我是小王，马上帮您查快递")
    a.click("#reply-send")
    shopper.locator(".msg-agent .msg-text", has_text="马上帮您查快递").wait_for()

    # shopper 2 (a signed-in web shopper through the shop's API) gets an offer to A as well
    customer = f"presence-{uuid.uuid4().hex[:8]}"
    body, headers = shopper_message(stack.credentials, "web", customer, "我要退货，衣服尺码不对")
    assert stack.http.post("/api/v1/messages", json=body, headers=headers).status_code == 200
    a.locator(".offer").wait_for()
    pending_id = a.locator(".offer").get_attribute("data-conversation-id")
    assert pending_id != held_id and b.locator(".offer").count() == 0

    # A closes her tab: within the grace nothing moves; after it, B gets the pending offer within 5 s
    a.context.close()
    closed_at = time.monotonic()
    b_offer = b.locator(f".offer[data-conversation-id='{pending_id}']")
    b_offer.wait_for(timeout=(GRACE_S + 5.0) * 1000)
    moved_after = time.monotonic() - closed_at
    assert GRACE_S * 0.8 <= moved_after <= GRACE_S + 5.0, moved_after
    assert "我要退货" in (b_offer.locator(".last-message").text_content() or "")
    b_offer.locator("button.success").click()
    b.locator(f"#conversations li[data-conversation-id='{pending_id}']").wait_for()

    # A's held conversation is re-queued after the longer grace; the shopper is told; B takes it with its history
    held_offer = b.locator(f".offer[data-conversation-id='{held_id}']")
    held_offer.wait_for(timeout=(HELD_GRACE_S + 10.0) * 1000)
    assert time.monotonic() - closed_at >= HELD_GRACE_S * 0.8
    shopper.locator(".msg-system", has_text="连接中断").wait_for()
    held_offer.focus()
    b.keyboard.press("a")
    b.locator(f"#conversations li[data-conversation-id='{held_id}']").wait_for()
    b.locator(f"#conversations li[data-conversation-id='{held_id}']").click()
    b.locator("#transcript .line.customer .text", has_text="我的快递三天没更新了").wait_for()
    b.locator("#transcript .line.agent .text", has_text="马上帮您查快递").wait_for()
    shopper.locator(".msg-system", has_text="小李").wait_for()
    b.locator("#load", has_text="接待量 2/3").wait_for()
    screenshot(b, "agent_after_reroute")
    assert not b.js_errors and not shopper.js_errors


def test_a_stale_offer_shows_the_servers_message(presence_stack: WebStack, new_page: Any) -> None:
    """An offer withdrawn while the console still shows it (its push was lost on the way): accepting it answers 409
    and the console says why, in the server's words."""
    stack = presence_stack
    b = new_page(1400, 900)
    drop = {"on": False}

    def relay(ws: Any) -> None:  # the console's socket, through a relay that can lose the "offer ended" pushes
        server = ws.connect_to_server()
        ws.on_message(server.send)

        def to_page(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            if drop["on"] and json.loads(text).get("type", "").startswith("offer_"):
                return
            ws.send(message)

        server.on_message(to_page)

    b.route_web_socket("**/api/v1/agents/ws", relay)
    agent_console(b, stack, "xiaoli")
    customer = f"stale-{uuid.uuid4().hex[:8]}"
    body, headers = shopper_message(stack.credentials, "web", customer, "衣服洗了一次就掉色，想换货")
    assert stack.http.post("/api/v1/messages", json=body, headers=headers).status_code == 200
    card = b.locator(".offer", has_text="衣服洗了一次就掉色")
    card.wait_for(timeout=60_000)
    drop["on"] = True
    auth = {"Authorization": f"Bearer {stack.login('xiaoli')}"}
    offers = stack.http.get("/api/v1/agents/me/offers", headers=auth).json()
    (offer,) = [o for o in offers if "掉色" in (o.get("last_message") or "")]
    assert stack.http.post(f"/api/v1/agents/offers/{offer['id']}/reject", headers=auth).status_code == 200
    b.wait_for_timeout(500)
    assert card.count() == 1  # the console never heard of it
    card.locator("button.success").click()
    b.locator(".toast-error", has_text="该会话邀请已失效（已被接入、拒绝或超时）。").wait_for()
    assert card.count() == 0 and not b.js_errors
