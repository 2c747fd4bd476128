"""An agent's ticket work in a real Chromium against the real router (gateway, routing, tickets, pages): a ticket
created from a live conversation, a public reply the shopper sees in the chat window, an internal note the shopper
never sees, resolved; canned replies picked with "/" in both reply boxes and managed in the console.

The Rasa server is deliberately down (a closed port): with an agent online the gateway hands the shopper to a human at
once, which is all this needs (as in test_supervisor.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from router.auth import create_user
from router.canned.demo import seed_demo_canned
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from tests.e2e.helpers import credentials_env, shop_credentials
from tests.procs import free_port, start_router
from tests.router.web.conftest import CHROMIUM, USERS
from tests.router.web.helpers import PASSWORD, WebStack, login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]
REFUND_SNIPPET = "退款已为您提交，审核通过后原路退回，一般 1-3 个工作日到账，请您留意。"  # the after-sales /tk demo


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run scripts/ensure_chromium.sh (make test does)")
    web_dir = tmp_path_factory.mktemp("agent-tickets")
    db_url = f"sqlite:///{web_dir / 'router.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    for user in USERS:
        create_user(sessions, password=PASSWORD, **user)
    seed_demo_canned(sessions)
    engine.dispose()
    credentials = shop_credentials(db_url)
    router = start_router(log_dir=web_dir, env={
        **credentials_env(credentials),
        "KEFU_ROUTER_DATABASE_URL": db_url, "KEFU_ROUTER_RASA_URL": f"http://127.0.0.1:{free_port()}",
        "KEFU_ROUTER_RASA_TIMEOUT_S": "2", "KEFU_ROUTER_OFFER_TIMEOUT_S": "120",
        "KEFU_ROUTER_OPERATIONS_BACKGROUND": "false"})
    http = httpx.Client(base_url=router.url, timeout=60)
    try:
        yield WebStack(url=router.url, router=router, http=http, credentials=credentials)
    finally:
        http.close()
        router.stop()


def quiet_screenshot(page: Any, name: str) -> None:
    """A screenshot for the docs without the toasts of the steps before it."""
    page.evaluate("() => document.querySelectorAll('.toast').forEach((t) => t.remove())")
    screenshot(page, name)


def slash(page: Any, box: str, typed: str, shortcut: str) -> None:
    """Type "/" and a few letters in ``box``; the matching snippet shows; Enter or Tab inserts it."""
    page.locator(box).press_sequentially(typed)
    page.locator(f"#canned-pop li[data-shortcut='{shortcut}']").wait_for()


def test_ticket_life_from_a_live_conversation_with_canned_replies(stack: WebStack, new_page: Any) -> None:
    agent = new_page(1400, 900)
    login(agent, f"{stack.url}/agent", "xiaowang")
    agent.select_option("#status-select", "online")
    agent.wait_for_selector("#ws-state.green")
    agent.locator(".toast-ok", has_text="已上线").wait_for()

    shopper = new_page(420, 760)
    shopper.goto(f"{stack.url}/chat/embed")  # an anonymous visitor
    shopper.locator("#chat-text").fill("我要退款，收到的杯子是碎的，我要找人工")
    shopper.locator("#chat-send").click()
    offer = agent.locator(".offer")
    offer.wait_for(timeout=60_000)
    conversation_id = offer.get_attribute("data-conversation-id")
    offer.locator("button.success").click()
    shopper.locator(".msg-system", has_text="小王").wait_for()

    # a team snippet through "/": only the matching ones are listed; Enter inserts, the shopper gets it
    agent.locator("#reply-text").click()
    slash(agent, "#reply-text", "/t", "tk")
    assert agent.locator("#canned-pop li[data-shortcut='thx']").count() == 1  # "/t" matches tk, th, thx
    agent.locator("#reply-text").press_sequentially("k")
    assert agent.locator("#canned-pop li").count() == 1
    agent.locator("#transcript .line.customer", has_text="杯子是碎的").wait_for()
    quiet_screenshot(agent, "agent_canned_slash")
    agent.locator("#reply-text").press("Enter")
    assert agent.locator("#canned-pop").is_hidden()
    assert agent.input_value("#reply-text") == REFUND_SNIPPET
    agent.click("#reply-send")
    shopper.locator(".msg-agent .msg-text", has_text="原路退回").wait_for()

    # the refund needs the warehouse: a ticket from this conversation
    agent.click("#ticket-from-conv")
    agent.fill("#tc-subject", "退款需仓库确认退货入库")
    agent.fill("#tc-description", "顾客收到的杯子破损，已同意退款；请仓库确认退货入库后再退款。")
    agent.select_option("#tc-category", "after_sales")
    agent.select_option("#tc-assign", "me")
    quiet_screenshot(agent, "agent_ticket_create")
    agent.click("#tc-submit")
    created = agent.locator(".toast-ok", has_text="已创建")
    created.wait_for()
    ref = (created.text_content() or "").split()[1]
    assert ref.startswith("T"), created.text_content()
    agent.click("#close")  # the chat ends; the ticket carries on
    agent.locator("#transcript .line.system .text", has_text="会话已结束").wait_for()

    # the 工单 tab: mine, open; the detail shows the source conversation and a running first-response timer
    agent.click("#tickets-tab")
    item = agent.locator(f"#tickets-body li[data-ref='{ref}']")
    item.wait_for()
    assert "售后" in (item.text_content() or "") and "首次响应剩余" in (item.text_content() or "")
    item.click()
    agent.locator("#t-transcript .line.customer .text", has_text="杯子是碎的").wait_for()
    assert agent.locator("#t-ref").text_content() == ref
    assert "首次响应剩余" in (agent.locator("#t-sla").text_content() or "")

    # an internal note: kept in the history, never sent to the shopper
    agent.check("#t-kind-note")
    agent.fill("#t-reply-text", "已联系仓库，等待入库确认")
    agent.click("#t-reply-send")
    agent.locator("#t-history .comment.note .text", has_text="等待入库确认").wait_for()

    # a public reply, started from a snippet in the ticket's reply box (Tab inserts), reaches the shopper's window
    agent.check("#t-kind-public")
    agent.locator("#t-reply-text").click()
    slash(agent, "#t-reply-text", "/wa", "wait")
    agent.locator("#t-reply-text").press("Tab")
    assert agent.input_value("#t-reply-text") == "好的，麻烦您稍等一下，我马上为您查询。"
    agent.fill("#t-reply-text", "您好，仓库已确认收到您退回的杯子，退款已提交，预计 1-3 个工作日原路到账。")
    agent.click("#t-reply-send")
    agent.locator(".toast-ok", has_text="回复已发送给顾客").wait_for()
    shopper.locator(".msg-agent .msg-text", has_text="仓库已确认收到").wait_for()
    assert ref in (shopper.locator(".msg-agent .msg-text", has_text="仓库已确认收到").text_content() or "")
    agent.locator("#t-transcript .line.agent .text", has_text="仓库已确认收到").wait_for()
    assert "解决剩余" in (agent.locator("#t-sla").text_content() or "")  # first response done
    quiet_screenshot(agent, "agent_ticket_detail")

    # resolved
    agent.select_option("#t-status-select", "resolved")
    agent.click("#t-status-save")
    agent.locator("#t-status", has_text="已解决").wait_for()
    agent.locator("#t-history .event", has_text="处理中 → 已解决").wait_for()

    token = stack.login("xiaowang")
    auth = {"Authorization": f"Bearer {token}"}
    ticket = stack.http.get(f"/api/v1/tickets/{ref}", headers=auth).json()
    assert ticket["status"] == "resolved" and ticket["conversation_id"] == conversation_id
    comments = [(e["data"]["public"], e["data"]["text"]) for e in ticket["history"] if e["type"] == "comment"]
    assert comments == [(False, "已联系仓库，等待入库确认"),
                        (True, "您好，仓库已确认收到您退回的杯子，退款已提交，预计 1-3 个工作日原路到账。")]
    visitor = shopper.evaluate("() => localStorage.getItem('kefu.visitor_token')")
    history = stack.http.get(f"/api/v1/conversations/{conversation_id}/history",
                             headers={"Authorization": f"Bearer {visitor}"}).json()
    texts = " ".join(m["text"] for m in history)
    assert "仓库已确认收到" in texts and "等待入库确认" not in texts
    assert shopper.locator("text=等待入库确认").count() == 0
    assert not agent.js_errors and not shopper.js_errors


def test_agent_manages_personal_canned_replies_and_sees_team_ones(stack: WebStack, new_page: Any) -> None:
    agent = new_page(1400, 900)
    login(agent, f"{stack.url}/agent", "xiaoli")  # after-sales and general: sees those teams' snippets
    agent.click("#canned-tab")
    agent.locator("#canned-body tr[data-shortcut='tk']").wait_for()
    assert agent.locator("#canned-body tr[data-shortcut='wl']").count() == 0  # logistics: not her group
    assert "由主管维护" in (agent.locator("#canned-body tr[data-shortcut='tk']").text_content() or "")
    agent.fill("#canned-shortcut", "bye")
    agent.fill("#canned-title", "道别")
    agent.fill("#canned-text", "感谢您的耐心，祝您购物愉快，再见！")
    agent.click("#canned-save")
    row = agent.locator("#canned-body tr[data-shortcut='bye']")
    row.wait_for()
    assert "个人" in (row.text_content() or "")
    row.locator("button", has_text="编辑").click()
    agent.fill("#canned-text", "感谢您的耐心等待，祝您购物愉快，再见！")
    agent.click("#canned-save")
    agent.locator("#canned-body tr[data-shortcut='bye'] .canned-text", has_text="耐心等待").wait_for()
    agent.fill("#canned-shortcut", "bye")
    agent.fill("#canned-title", "重复")
    agent.fill("#canned-text", "重复")
    agent.click("#canned-save")
    agent.locator(".toast-error", has_text="快捷码已被使用").wait_for()
    agent.click("#canned-cancel")
    quiet_screenshot(agent, "agent_canned_manage")
    agent.once("dialog", lambda dialog: dialog.accept())
    agent.locator("#canned-body tr[data-shortcut='bye'] button", has_text="删除").click()
    agent.locator(".toast-ok", has_text="快捷回复已删除").wait_for()
    expect(agent.locator("#canned-body tr[data-shortcut='bye']")).to_have_count(0)  # re-rendered after the toast

    # a supervisor adds a snippet for the after-sales group: 小李 gets it, to use but not to change
    boss = new_page(1400, 900)
    login(boss, f"{stack.url}/agent", "boss")
    boss.click("#canned-tab")
    boss.locator("#canned-body tr[data-shortcut='wl']").wait_for()  # supervisors see every group's
    boss.select_option("#canned-scope", "team:after_sales")
    boss.fill("#canned-shortcut", "hh")
    boss.fill("#canned-title", "换货")
    boss.fill("#canned-text", "已为您登记换货，新商品会在仓库收到退回件后 48 小时内发出，请您放心。")
    boss.click("#canned-save")
    boss.locator("#canned-body tr[data-shortcut='hh']", has_text="技能组：售后").wait_for()
    agent.click("#tickets-tab")
    agent.click("#canned-tab")
    team_row = agent.locator("#canned-body tr[data-shortcut='hh']")
    team_row.wait_for()
    assert "由主管维护" in (team_row.text_content() or "")
    assert not agent.js_errors and not boss.js_errors
