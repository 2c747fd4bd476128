"""The web pages in a real Chromium against the real stack: shopper chat widget, agent console, FAQ admin, dashboard."""

from __future__ import annotations

import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import expect

from knowledge_base.settings import PACKAGE_DIR
from tests.e2e.helpers import signed
from tests.router.web.helpers import PASSWORD, WebStack, eventually, login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]
REFUND_QUESTION = "退款多久能到账"
SEED_DIR = PACKAGE_DIR / "data"


def corpus_answer(stack: WebStack, entry_id: str) -> str:
    """The entry's answer in the live corpus (the database the bot answers from)."""
    res = stack.http.get(f"/api/v1/admin/faq/entries/{entry_id}",
                         headers={"Authorization": f"Bearer {stack.login('editor')}"})
    assert res.status_code == 200, res.text
    return str(res.json()["answer"])


def open_widget(page: Any, stack: WebStack) -> Any:
    """The demo shop page with the embedded widget; returns the chat iframe."""
    page.goto(f"{stack.url}/chat")
    page.click("#kefu-widget-button")
    page.wait_for_selector("#kefu-widget-frame", state="visible")
    frame = page.frame_locator("#kefu-widget-frame")
    frame.locator("#chat-text").wait_for()
    return frame


def chat_say(frame: Any, text: str) -> None:
    frame.locator("#chat-text").fill(text)
    frame.locator("#chat-send").click()


def go_online(page: Any, stack: WebStack, username: str = "xiaowang") -> None:
    login(page, f"{stack.url}/agent", username)
    page.select_option("#status-select", "online")
    page.wait_for_selector("#ws-state.green")
    page.locator(".toast-ok", has_text="已上线").wait_for()  # the status change went through


def go_offline(stack: WebStack, username: str = "xiaowang") -> None:
    token = stack.login(username)
    stack.http.put("/api/v1/agents/me/status", json={"status": "offline"}, headers={"Authorization": f"Bearer {token}"})


def test_shopper_asks_an_faq_and_keeps_the_conversation_after_reload(web_stack: WebStack, new_page: Any) -> None:
    page = new_page(1280, 800)
    frame = open_widget(page, web_stack)
    chat_say(frame, REFUND_QUESTION)
    answer = corpus_answer(web_stack, "refund_time")
    bot = frame.locator(".msg-bot .msg-text", has_text=answer[:20])
    bot.wait_for(timeout=60_000)
    assert frame.locator(".msg-me .msg-text").last.text_content() == REFUND_QUESTION
    screenshot(page, "chat_widget_shop")

    # a reload keeps the conversation: same customer, history fetched again
    page.reload()
    page.wait_for_selector("#kefu-widget-frame", state="visible")  # the widget remembers it was open
    frame = page.frame_locator("#kefu-widget-frame")
    frame.locator(".msg-bot .msg-text", has_text=answer[:20]).wait_for()
    assert frame.locator(".msg-me .msg-text", has_text=REFUND_QUESTION).count() == 1

    # mobile: the chat fills the screen
    phone = new_page(390, 780)
    frame = open_widget(phone, web_stack)
    box = phone.locator("#kefu-widget-frame").bounding_box()
    assert box is not None and box["width"] == 390
    chat_say(frame, "你好")
    frame.locator(".msg-bot").first.wait_for(timeout=60_000)
    screenshot(phone, "chat_widget_mobile")
    assert not page.js_errors and not phone.js_errors


def test_widget_embeds_in_another_sites_page(web_stack: WebStack, new_page: Any) -> None:
    """A merchant's page served by another server (another origin) embeds the widget with one script tag."""
    customer = f"shop-user-{uuid.uuid4().hex[:6]}"
    signature = signed(web_stack.credentials, customer)["identity_hash"]  # computed by the merchant's server
    html = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>别家小店</title></head>'
        f'<body><h1>别家小店</h1><script src="{web_stack.url}/widget.js" data-customer-id="{customer}" '
        f'data-identity-hash="{signature}" data-title="联系客服" data-position="left"></script></body></html>'
    ).encode()

    class MerchantPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    merchant = ThreadingHTTPServer(("127.0.0.1", 0), MerchantPage)
    threading.Thread(target=merchant.serve_forever, daemon=True).start()
    try:
        page = new_page(1280, 800)
        page.goto(f"http://127.0.0.1:{merchant.server_address[1]}/")
        button = page.locator("#kefu-widget-button")
        assert button.text_content() == "联系客服"
        button.click()
        frame = page.frame_locator("#kefu-widget-frame")
        chat_say(frame, "你好")
        frame.locator(".msg-bot").first.wait_for(timeout=60_000)
        state = web_stack.http.get(f"/api/v1/customers/{customer}/state", headers=web_stack.backend).json()
        assert state["conversation_id"]  # the merchant's own (signed) customer id was used
        assert not page.js_errors
    finally:
        merchant.shutdown()
        merchant.server_close()


VAGUE_QUESTIONS = ["怎么退", "退一下", "钱怎么退回", "怎么弄", "那个东西怎么退啊"]


def test_quick_reply_buttons_for_an_unclear_question(web_stack: WebStack, new_page: Any) -> None:
    """"您是不是想问…": a vague question gets the top FAQ candidates as buttons; a click answers with that entry."""

    def with_buttons(question: str) -> list[dict[str, Any]]:
        res = web_stack.http.post("/api/v1/messages", json={"channel": "web", "text": question})  # a new visitor
        return [b for r in res.json()["replies"] for b in r["buttons"]]

    question = next((q for q in VAGUE_QUESTIONS if with_buttons(q)), None)
    assert question is not None, "none of the vague questions made the bot ask back with buttons"
    page = new_page(1280, 800)
    frame = open_widget(page, web_stack)
    chat_say(frame, question)
    buttons = frame.locator(".quick button")
    buttons.first.wait_for(timeout=60_000)
    asked = frame.locator(".msg-bot", has=frame.locator(".quick button")).first.text_content() or ""
    assert "您是不是想问" in asked
    title = buttons.first.text_content() or ""
    screenshot(page, "chat_quick_replies")
    bot_before = frame.locator(".msg-bot").count()
    buttons.first.click()
    # the shopper sees the title they clicked (not the payload), then the answer of that entry
    frame.locator(".msg-me .msg-text", has_text=title).wait_for()
    assert not any(t.startswith("/") for t in frame.locator(".msg-me .msg-text").all_text_contents())
    frame.locator(".msg-bot").nth(bot_before).wait_for(timeout=60_000)
    assert buttons.first.is_disabled()
    assert not page.js_errors


def test_shopper_to_agent_and_back_with_survey(web_stack: WebStack, new_page: Any) -> None:
    agent = new_page(1400, 900)
    go_online(agent, web_stack)
    shopper = new_page(1280, 800)
    shopper.goto(f"{web_stack.url}/chat/embed")  # an anonymous visitor (each page has its own storage)
    try:
        chat_say(shopper, "我要转人工客服")
        offer = agent.locator(".offer")
        offer.wait_for(timeout=60_000)
        # until the agent accepts, the shopper waits in the queue and sees the place and the estimated wait
        shopper.locator("#chat-queue-text", has_text="排队中").wait_for()
        assert shopper.locator("#chat-owner").get_attribute("data-owner") == "queue"
        screenshot(shopper, "chat_queue")
        assert int(agent.locator(".offer .count").text_content() or "0") > 0  # the countdown runs
        screenshot(agent, "agent_console_offer")
        offer.locator("button.success").click()
        shopper.locator(".msg-system", has_text="小王").wait_for()
        assert shopper.locator("#chat-owner").get_attribute("data-owner") == "agent"

        agent.fill("#reply-text", "您好，我是小王，请问订单有什么问题？")
        agent.click("#reply-send")
        shopper.locator(".msg-agent .msg-text", has_text="请问订单有什么问题").wait_for()
        chat_say(shopper, "我的快递三天没动了")
        agent.locator(".line.customer .text", has_text="我的快递三天没动了").wait_for()
        # suggested FAQ answers: one click puts the answer in the reply box
        agent.locator(".insert-faq").first.wait_for()
        suggested = agent.locator(".suggestion .a").first.text_content() or ""
        agent.locator(".insert-faq").first.click()
        assert agent.input_value("#reply-text") == suggested
        agent.click("#reply-send")
        shopper.locator(".msg-agent .msg-text", has_text=suggested[:15]).wait_for()
        # personal data is masked for the agent until "show" (audited on the server)
        chat_say(shopper, "我的电话是13812345678")
        agent.locator(".line.customer .text", has_text="138****5678").wait_for()
        assert agent.locator(".line.customer .text", has_text="13812345678").count() == 0
        agent.click("#reveal")
        agent.locator(".line.customer .text", has_text="13812345678").wait_for()
        agent.locator("#ctx-sentiment svg").wait_for()
        screenshot(agent, "agent_console_chat")

        agent.click("#close")
        shopper.locator("#chat-survey").wait_for(state="visible")
        shopper.locator("#survey-stars button").nth(4).click()
        shopper.fill("#survey-comment", "小王很耐心，谢谢")
        screenshot(shopper, "chat_survey")
        shopper.click("#survey-submit")
        shopper.locator(".msg-system", has_text="感谢您的评价").wait_for()
        assert shopper.locator("#chat-owner").get_attribute("data-owner") == "bot"
        assert not agent.js_errors and not shopper.js_errors
    finally:
        go_offline(web_stack)


def test_agent_holds_several_conversations(web_stack: WebStack, new_page: Any) -> None:
    agent = new_page(1400, 900)
    go_online(agent, web_stack)
    customers = [f"multi-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    try:
        conversations = []
        for customer in customers:
            res = web_stack.http.post("/api/v1/messages", headers=web_stack.backend, json={
                "channel": "app", "customer_id": customer, "text": "我要找人工客服"})
            conversations.append(res.json()["conversation_id"])
            agent.locator(f".offer[data-conversation-id='{conversations[-1]}'] button.success").click(timeout=60_000)
        expect(agent.locator("#conversations li")).to_have_count(2)
        assert agent.locator("#conv-count").text_content() == "2"
        # reply in the second, then switch to the first: each reply reaches only its own shopper
        agent.locator(f"#conversations li[data-conversation-id='{conversations[1]}']").click()
        agent.fill("#reply-text", "第二位顾客您好")
        agent.click("#reply-send")
        agent.locator(".line.agent .text", has_text="第二位顾客您好").wait_for()
        agent.locator(f"#conversations li[data-conversation-id='{conversations[0]}']").click()
        expect(agent.locator(".line.agent .text", has_text="第二位顾客您好")).to_have_count(0)
        agent.fill("#reply-text", "第一位顾客您好")
        agent.click("#reply-send")
        agent.locator(".line.agent .text", has_text="第一位顾客您好").wait_for()

        def agent_lines(conversation_id: str) -> list[str]:
            rows = web_stack.http.get(f"/api/v1/conversations/{conversation_id}/history",
                                      headers=web_stack.backend).json()
            return [m["text"] for m in rows if m["sender"] == "agent"]

        assert agent_lines(conversations[0]) == ["第一位顾客您好"]
        assert agent_lines(conversations[1]) == ["第二位顾客您好"]
        for conversation_id in conversations:
            agent.locator(f"#conversations li[data-conversation-id='{conversation_id}']").click()
            agent.click("#close")
            agent.locator(f"#conversations li.closed[data-conversation-id='{conversation_id}']").wait_for()
        assert not agent.js_errors
    finally:
        go_offline(web_stack)


def test_agent_transfers_to_a_skill_with_a_note(web_stack: WebStack, new_page: Any) -> None:
    first = new_page(1400, 900)
    go_online(first, web_stack)
    shopper = new_page(1280, 800)
    shopper.goto(f"{web_stack.url}/chat/embed")  # an anonymous visitor (each page has its own storage)
    try:
        chat_say(shopper, "转人工")
        first.locator(".offer button.success").click(timeout=60_000)
        shopper.locator("#chat-owner[data-owner=agent]").wait_for()
        second = new_page(1400, 900)
        go_online(second, web_stack, "xiaoli")
        first.select_option("#transfer-skill", "after_sales")
        first.fill("#transfer-note", "顾客要办理退货，订单已核实")
        first.click("#transfer")
        offer = second.locator(".offer")
        offer.wait_for(timeout=60_000)
        assert "顾客要办理退货" in (offer.text_content() or "")
        offer.locator("button.success").click()
        second.locator("#conv-note", has_text="顾客要办理退货").wait_for()
        shopper.locator(".msg-system", has_text="小李").wait_for()
        assert first.locator("#conversations li.closed").count() == 1
        second.fill("#reply-text", "您好，我是小李，马上为您办理退货。")
        second.click("#reply-send")
        shopper.locator(".msg-agent .msg-text", has_text="我是小李").wait_for()
        second.click("#close")
        shopper.locator("#chat-survey").wait_for(state="visible")
        assert not first.js_errors and not second.js_errors and not shopper.js_errors
    finally:
        go_offline(web_stack)
        go_offline(web_stack, "xiaoli")


def test_markup_in_messages_is_shown_as_text(web_stack: WebStack, new_page: Any) -> None:
    agent = new_page(1400, 900)
    go_online(agent, web_stack)
    shopper = new_page(1280, 800)
    shopper.goto(f"{web_stack.url}/chat/embed")
    try:
        chat_say(shopper, "转人工")
        agent.locator(".offer button.success").click(timeout=60_000)
        shopper.locator("#chat-owner[data-owner=agent]").wait_for()
        script = "<script>window.__pwned = 1</script>"
        img = '<img src=x onerror="window.__pwned = 2">'
        chat_say(shopper, script)
        chat_say(shopper, img)
        agent.locator(".line.customer .text", has_text="window.__pwned = 2").wait_for()
        texts = agent.locator(".line.customer .text").all_text_contents()
        assert script in texts and img in texts
        assert agent.locator("#transcript img, #transcript script").count() == 0
        assert agent.evaluate("window.__pwned") is None
        # and the other way round: an agent's markup reaches the shopper as text
        agent.fill("#reply-text", '<b onmouseover="x">加粗</b><img src=x onerror="window.__pwned = 3">')
        agent.click("#reply-send")
        shopper.locator(".msg-agent .msg-text", has_text="<b onmouseover").wait_for()
        assert shopper.locator("#chat-log img, #chat-log b").count() == 0
        assert shopper.evaluate("window.__pwned") is None
        agent.click("#close")
    finally:
        go_offline(web_stack)


def test_content_staff_edit_reaches_shoppers_without_restart(web_stack: WebStack, new_page: Any) -> None:
    seed = {p: p.read_bytes() for p in sorted(SEED_DIR.glob("*.yml"))}
    editor = new_page(1400, 900)
    login(editor, f"{web_stack.url}/admin/faq", "editor")
    editor.fill("#search", "退款")
    editor.locator("#entries li[data-entry-id=refund_time]").click()
    editor.wait_for_selector("#editor:not([hidden])")
    new_answer = f"您好，退款审核通过后 1-3 个工作日原路退回（编号 {uuid.uuid4().hex[:6]}），请留意账户变动。"
    editor.fill("#f-answer", new_answer)
    editor.click("#save")
    editor.locator(".toast-ok", has_text="已保存").wait_for()
    editor.click("#publish")
    editor.locator(".toast-ok", has_text="发布成功").wait_for(timeout=120_000)
    editor.fill("#try-question", REFUND_QUESTION)
    editor.click("#try-form button[type=submit]")
    editor.locator(".try-hit").first.wait_for()
    assert editor.locator(".try-hit").count() == 3
    assert editor.locator(".try-hit").first.get_attribute("data-entry-id") == "refund_time"
    editor.locator("#history li").first.wait_for()
    editor.locator("#history li", has_text="初始版本").locator("button", has_text="与当前对比").click()
    editor.locator("#diff ins", has_text="1-3 个工作日").first.wait_for()
    screenshot(editor, "faq_admin")

    # the action server answering shoppers re-indexes from its own watcher of the corpus revision: no restart
    def bot_answer() -> bool:
        res = web_stack.http.post("/api/v1/messages", json={"channel": "web", "text": REFUND_QUESTION})
        return any(new_answer in r["text"] for r in res.json()["replies"])

    eventually(bot_answer, timeout=90, interval=2)
    shopper = new_page(1280, 800)
    frame = open_widget(shopper, web_stack)
    chat_say(frame, REFUND_QUESTION)
    frame.locator(".msg-bot .msg-text", has_text=new_answer).wait_for(timeout=60_000)
    assert not editor.js_errors and not shopper.js_errors
    assert {p: p.read_bytes() for p in sorted(SEED_DIR.glob("*.yml"))} == seed  # the tracked YAML is only the seed


def test_faq_admin_shows_markup_as_text(web_stack: WebStack, new_page: Any) -> None:
    token = web_stack.login("editor")
    question = '<img src=x onerror="window.__pwned = 4">能开发票吗'
    res = web_stack.http.post("/api/v1/admin/faq/entries", headers={"Authorization": f"Bearer {token}"}, json={
        "id": f"markup_{uuid.uuid4().hex[:6]}", "category": "billing", "question": question,
        "paraphrases": ["<script>window.__pwned = 5</script>"], "answer": "<b>可以</b>，订单完成后申请。"})
    assert res.status_code == 201, res.text
    page = new_page(1400, 900)
    login(page, f"{web_stack.url}/admin/faq", "editor")
    page.fill("#search", "onerror")
    item = page.locator("#entries li", has_text=question)
    item.click()
    expect(page.locator("#f-answer")).to_have_value("<b>可以</b>，订单完成后申请。")
    expect(page.locator("#f-paraphrases")).to_have_value("<script>window.__pwned = 5</script>")
    expect(page.locator("#editor-title")).to_have_text(f"编辑：{question}")
    assert page.locator("#entries img, #editor-title img, #entries script").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_agents_cannot_use_the_faq_admin(web_stack: WebStack, new_page: Any) -> None:
    page = new_page()
    page.goto(f"{web_stack.url}/admin/faq")
    page.fill("#username", "xiaowang")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.locator("#login-error", has_text="无权").wait_for()
    assert page.locator("#app").is_hidden()
    token = web_stack.login("xiaowang")
    res = web_stack.http.get("/api/v1/admin/faq/entries", headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 403


def test_supervisor_dashboard(web_stack: WebStack, new_page: Any) -> None:
    page = new_page(1400, 1000)
    login(page, f"{web_stack.url}/dashboard", "boss")
    page.locator(".card[data-kpi=机器人解决率]").wait_for()
    conversations = page.locator(".card[data-kpi=会话总数] .value").text_content()
    assert conversations is not None and conversations.isdigit()
    page.locator("#chart-volume svg").wait_for()
    page.locator("#agents-table tr[data-agent-id]").first.wait_for()
    assert page.locator("#agents-table", has_text="小王").count() == 1
    page.locator("#queue-table tfoot").wait_for()
    screenshot(page, "dashboard")
    assert not page.js_errors


def test_agent_console_shows_whether_app_messages_reached_the_shopper(
    web_stack: WebStack, web_dir: Any, new_page: Any
) -> None:
    """An app shopper's callback: the agent sees 已送达 under a delivered reply and 未送达 + reason under a refused
    one; the admin page lists the refused one as a dead letter (issue #20)."""
    from router.auth import create_user
    from router.db import make_engine, make_session_factory
    from tests.procs import free_port
    from tests.router.outbound.callback_server import CallbackServer, Receiver

    engine = make_engine(f"sqlite:///{web_dir / 'router.db'}")
    sessions = make_session_factory(engine)
    create_user(sessions, username="webadmin", display_name="管理员", role="admin", password=PASSWORD)
    engine.dispose()
    receiver = Receiver()
    server = CallbackServer(receiver, free_port()).start()
    admin = {"Authorization": f"Bearer {web_stack.login('webadmin')}"}
    agent = new_page(1400, 900)
    go_online(agent, web_stack)
    try:
        res = web_stack.http.put("/api/v1/admin/outbound/endpoints/app", json={"url": server.url}, headers=admin)
        assert res.status_code == 200, res.text
        receiver.secret = res.json()["secret"]
        customer = f"appcb-{uuid.uuid4().hex[:8]}"
        conv = web_stack.http.post(
            "/api/v1/channels/app/messages", json={"user_id": customer, "text": "我要找人工客服"},
            headers=web_stack.backend,
        ).json()["conversation_id"]
        agent.locator(f".offer[data-conversation-id='{conv}'] button.success").click(timeout=60_000)
        agent.locator(f"#conversations li[data-conversation-id='{conv}']").click()
        agent.fill("#reply-text", "您好，已收到您的问题")
        agent.click("#reply-send")
        agent.locator(".line.agent", has_text="您好，已收到您的问题").locator(".delivery-delivered").wait_for()
        receiver.mode, receiver.status = "status", 400
        agent.fill("#reply-text", "这条回调会拒收")
        agent.click("#reply-send")
        failed = agent.locator(".line.agent", has_text="这条回调会拒收").locator(".delivery-failed")
        failed.wait_for()
        assert "未送达" in (failed.text_content() or "") and "HTTP 400" in (failed.text_content() or "")
        agent.click("#close")
        assert not agent.js_errors

        page = new_page()
        login(page, f"{web_stack.url}/admin/outbound", "webadmin")
        page.locator("#endpoint", has_text=server.url).wait_for()
        page.locator("#dead tbody tr", has_text="HTTP 400").first.wait_for()
        assert not page.js_errors
    finally:
        web_stack.http.delete("/api/v1/admin/outbound/endpoints/app", headers=admin)
        server.stop()
        go_offline(web_stack)
