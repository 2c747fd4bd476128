"""The supervisor's workbench in a real Chromium against the real router (gateway, routing, pages): dashboard figures
equal a hand-computed day, team set-up reaches routing without a restart.

The Rasa server is deliberately down (a closed port): the supervisor's pages never need the bot, and with an agent
online the gateway hands every shopper message to a human ("智能客服暂时有点忙 ... 正在为您转接人工客服"), which is
what these tests need, without the minutes a Rasa start takes on a loaded machine.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from router.auth import create_user
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from router.routing.tables import User
from router.settings import Settings
from router.tickets.service import TicketService
from tests.e2e.helpers import credentials_env, shop_credentials, signed
from tests.procs import free_port, start_router
from tests.router.reports.seeded_day import EXPECTED, EXPECTED_AGENTS, write_day
from tests.router.web.conftest import CHROMIUM, USERS
from tests.router.web.helpers import PASSWORD, WebStack, login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def sup_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebStack, Path]]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run scripts/ensure_chromium.sh (make test does)")
    web_dir = tmp_path_factory.mktemp("supervisor")
    db_url = f"sqlite:///{web_dir / 'router.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    for user in USERS:
        create_user(sessions, password=PASSWORD, **user)
    engine.dispose()
    credentials = shop_credentials(db_url)
    router = start_router(log_dir=web_dir, env={
        **credentials_env(credentials),
        "KEFU_ROUTER_DATABASE_URL": db_url, "KEFU_ROUTER_RASA_URL": f"http://127.0.0.1:{free_port()}",
        "KEFU_ROUTER_RASA_TIMEOUT_S": "2", "KEFU_ROUTER_OFFER_TIMEOUT_S": "120",
        "KEFU_ROUTER_OPERATIONS_BACKGROUND": "false"})
    http = httpx.Client(base_url=router.url, timeout=60)
    try:
        yield WebStack(url=router.url, router=router, http=http, credentials=credentials), web_dir
    finally:
        http.close()
        router.stop()


def pct(v: float) -> str:
    return f"{v * 100:.1f}%"


REPORT_TZ = ZoneInfo(Settings().report_timezone)  # the stack's router reads the same settings
SEEDED_SPAN = timedelta(hours=2, minutes=10)  # the seeded day's events and the agent's hour online, from t0


def seeded_day_start(now: datetime) -> datetime:
    """Three hours ago, or earlier so that the whole seeded block falls on one local day of the report timezone
    (the per-agent table has a row per local day: a block across local midnight would be split over two rows)."""
    t0 = now - timedelta(hours=3)
    local = t0.astimezone(REPORT_TZ)
    next_midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), REPORT_TZ)
    if t0 + SEEDED_SPAN > next_midnight:
        t0 = next_midnight - SEEDED_SPAN - timedelta(minutes=5)
    return t0.astimezone(UTC)  # SQLite stores an aware value's wall-clock digits: everything written is UTC


def test_seeded_day_start_keeps_the_block_on_one_local_day() -> None:
    for hour in range(24):
        for minute in (0, 17, 45):
            now = datetime(2026, 12, 6, hour, minute, tzinfo=UTC)
            t0 = seeded_day_start(now)
            assert t0.astimezone(REPORT_TZ).date() == (t0 + SEEDED_SPAN).astimezone(REPORT_TZ).date()
            assert now - timedelta(hours=6) < t0 <= now - timedelta(hours=3)  # inside the dashboard's 24 h
            assert t0.utcoffset() == timedelta(0)


def test_dashboard_cards_equal_the_hand_computed_day(sup_stack: tuple[WebStack, Path], new_page: Any) -> None:
    """First in the module, so the stack holds only the seeded day."""
    web_stack, web_dir = sup_stack
    engine = make_engine(f"sqlite:///{web_dir / 'router.db'}")
    sessions = make_session_factory(engine)
    with sessions() as s:
        ids = dict(s.execute(select(User.username, User.id)).all())
    t0 = seeded_day_start(datetime.now(UTC))
    write_day(sessions, t0, {"a": ids["xiaowang"], "b": ids["xiaoli"]}, tickets=TicketService(session_factory=sessions))
    engine.dispose()
    page = new_page(1400, 1000)
    login(page, f"{web_stack.url}/dashboard", "boss")

    def card(label: str) -> tuple[str, str]:
        box = page.locator(f".card[data-kpi='{label}']")
        box.wait_for()
        return (box.locator(".value").text_content() or "", box.locator(".hint").text_content() or "")

    e = EXPECTED
    assert card("会话总数") == (str(e["conversations"]), f"已结束 {e['ended']} 个 · 进行中 {e['open']} 个")
    assert card("机器人解决率") == (pct(e["containment_rate"]),
                              f"已结束的 {e['ended']} 个会话中，{e['bot_resolved']} 个未转人工即结束")
    assert card("FAQ 回答率") == (pct(e["faq_answer_rate"]),
                               f"FAQ 判断 {e['faq_decisions']} 次，直接回答 {e['faq_answered']} 次")
    assert card("转人工率") == (pct(e["escalation_rate"]), f"{e['handoffs']} 个会话转人工（排队 {e['queued']} 个 · "
                                                       f"无人在线留言 {e['left_message']} 个）")
    assert card("首次响应时间")[0] == f"{round(e['first_response_s'])} 秒"
    assert card("平均应答速度")[0] == "23 秒"  # 22.5 s, rounded half up by the page
    assert card("服务水平（80/20）")[0] == pct(e["service_level"])
    assert card("放弃率") == (pct(e["abandonment_rate"]), f"排队的 {e['queued']} 个会话中 {e['abandoned']} 个离开")
    assert card("满意度") == (f"{e['csat_avg']:.2f} / 5", f"好评率 {pct(e['csat_share'])} · {e['surveys']} 份评价")
    assert card("工单")[0] == str(e["tickets"])
    # per-agent performance of the same day: 小王 handled c5 and c6 (AHT 170 s = 2 分 50 秒)
    # one row per agent and local day of the range: the seeded day's row (her login today may add a row of 0)
    seeded_date = t0.astimezone(REPORT_TZ).date().isoformat()
    row = page.locator(f"#perf-table tr[data-agent-id='{ids['xiaowang']}'][data-period='{seeded_date}']")
    row.wait_for()
    assert row.locator(".perf-handled").text_content() == str(EXPECTED_AGENTS["a"]["handled"])
    assert row.locator(".perf-aht").text_content() == "2 分 50 秒"
    screenshot(page, "dashboard")
    assert not page.js_errors


def test_the_supervisors_pages_link_to_each_other_without_a_second_sign_in(
    sup_stack: tuple[WebStack, Path], new_page: Any
) -> None:
    """Found through `make run` (2026-12-07): signed in on the dashboard, a supervisor who followed its link to
    实时监控与质检 or 团队设置 got the sign-in form again (each page kept its own sign-in)."""
    web_stack, _ = sup_stack
    page = new_page(1400, 1000)
    login(page, f"{web_stack.url}/dashboard", "boss")
    for link, path in (("实时监控与质检", "/supervisor"), ("团队设置", "/admin/team"), ("数据看板", "/dashboard")):
        page.get_by_role("link", name=link).click()
        page.wait_for_url(f"**{path}")
        page.wait_for_selector("#app:not([hidden])", timeout=10_000)
        assert page.locator("#login-form").is_hidden(), path


def test_supervisor_adds_an_agent_who_gets_a_matching_offer_without_restart(
    sup_stack: tuple[WebStack, Path], new_page: Any
) -> None:
    web_stack, _ = sup_stack
    sup = new_page(1400, 1000)
    login(sup, f"{web_stack.url}/admin/team", "boss")
    sup.locator("#members tr[data-username=xiaowang]").wait_for()
    username = f"xin{uuid.uuid4().hex[:6]}"
    sup.click("#new-member")
    sup.fill("#m-username", username)
    sup.fill("#m-name", "小新")
    sup.fill("#m-password", "xin-pass-2026")
    sup.select_option("#skill-general", "4")
    sup.select_option("#skill-billing", "5")
    sup.fill("#m-capacity", "2")
    sup.click("#m-save")
    sup.locator(".toast-ok", has_text="成员已创建").wait_for()
    row = sup.locator(f"#members tr[data-username={username}]")
    row.wait_for()
    assert "综合 4" in (row.text_content() or "") and "支付与发票 5" in (row.text_content() or "")
    sup.locator("#audit td", has_text="新增成员").first.wait_for()
    screenshot(sup, "team_setup")

    agent = new_page(1400, 900)
    agent.goto(f"{web_stack.url}/agent")
    agent.fill("#username", username)
    agent.fill("#password", "xin-pass-2026")
    agent.click("#login-form button[type=submit]")
    agent.wait_for_selector("#app:not([hidden])")
    agent.select_option("#status-select", "online")
    agent.locator(".toast-ok", has_text="已上线").wait_for()
    shopper_id = f"team-{uuid.uuid4().hex[:8]}"
    res = web_stack.http.post("/api/v1/messages", json={"channel": "web", "text": "我要找人工客服",
                                                        **signed(web_stack.credentials, shopper_id)})
    assert res.status_code == 200, res.text
    conversation_id = res.json()["conversation_id"]
    try:
        agent.locator(f".offer[data-conversation-id='{conversation_id}']").wait_for(timeout=60_000)
        # disabling in the browser takes the agent offline at once
        row.locator("button", has_text="编辑").click()
        sup.once("dialog", lambda dialog: dialog.accept())
        sup.click("#m-toggle")
        sup.locator(f"#members tr[data-username={username}] .badge", has_text="已停用").wait_for()
        token = web_stack.login("boss")
        offers = web_stack.http.get("/api/v1/routing/offers", headers={"Authorization": f"Bearer {token}"}).json()
        assert [o for o in offers if o["conversation_id"] == conversation_id] == []  # nobody else is online
        assert not sup.js_errors and not agent.js_errors
    finally:
        token = web_stack.login("boss")
        web_stack.http.post(f"/api/v1/routing/conversations/{conversation_id}/abandon",
                            headers={"Authorization": f"Bearer {token}"})


def agent_console(page: Any, stack: WebStack, username: str) -> None:
    login(page, f"{stack.url}/agent", username)
    page.select_option("#status-select", "online")
    page.wait_for_selector("#ws-state.green")
    page.locator(".toast-ok", has_text="已上线").wait_for()


def test_whisper_barge_in_and_reroute(sup_stack: tuple[WebStack, Path], new_page: Any) -> None:
    web_stack, _ = sup_stack
    agent = new_page(1400, 900)
    agent_console(agent, web_stack, "xiaowang")
    shopper = new_page(1280, 800)
    shopper.goto(f"{web_stack.url}/chat/embed")  # an anonymous visitor (its token in the page's localStorage)
    shopper.locator("#chat-text").fill("我要转人工客服")
    shopper.locator("#chat-send").click()
    offer = agent.locator(".offer")
    offer.wait_for(timeout=60_000)
    conversation_id = offer.get_attribute("data-conversation-id")
    offer.locator("button.success").click()
    shopper.locator(".msg-system", has_text="小王").wait_for()
    agent.fill("#reply-text", "您好，我是小王")
    agent.click("#reply-send")
    shopper.locator(".msg-agent .msg-text", has_text="您好，我是小王").wait_for()

    sup = new_page(1400, 1000)
    login(sup, f"{web_stack.url}/supervisor", "boss")
    row = sup.locator(f"#live-table tr[data-conversation-id='{conversation_id}']")
    row.wait_for()
    assert "客服接待" in (row.text_content() or "") and "小王" in (row.text_content() or "")
    row.locator("button", has_text="查看").click()
    sup.locator("#watch-transcript .line.agent .text", has_text="您好，我是小王").wait_for()
    # whisper: the agent sees it, the shopper never does (page and stored history)
    sup.fill("#whisper-text", "先核对订单号，再答复退款时效")
    sup.click("#whisper-form button[type=submit]")
    agent.locator(".line.whisper .text", has_text="先核对订单号").wait_for()
    sup.locator("#watch-transcript .line.whisper .text", has_text="先核对订单号").wait_for()
    screenshot(sup, "supervisor_live")
    shopper.wait_for_timeout(1000)
    assert shopper.locator("text=先核对订单号").count() == 0
    visitor = shopper.evaluate("() => localStorage.getItem('kefu.visitor_token')")
    history = web_stack.http.get(f"/api/v1/conversations/{conversation_id}/history",
                                 headers={"Authorization": f"Bearer {visitor}"}).json()
    assert all("先核对订单号" not in m["text"] for m in history)

    # barge-in: the supervisor, online in the agent console, takes the conversation over
    boss_console = new_page(1400, 900)
    agent_console(boss_console, web_stack, "boss")
    sup.click("#barge-in")
    sup.locator(".toast-ok", has_text="已接管").wait_for()
    boss_console.locator(f"#conversations li[data-conversation-id='{conversation_id}']").wait_for()
    agent.locator(f"#conversations li.closed[data-conversation-id='{conversation_id}']").wait_for()
    shopper.locator(".msg-system", has_text="值班主管").wait_for()

    # re-route: the supervisor sends it on to the after-sales group, where 小王 (after_sales 5) gets the offer
    sup.select_option("#reroute-skill", "after_sales")
    sup.click("#reroute")
    sup.locator(".toast-ok", has_text="已重新分配").wait_for()
    agent.locator(f".offer[data-conversation-id='{conversation_id}']").wait_for(timeout=60_000)

    token = web_stack.login("boss")
    audit = web_stack.http.get("/api/v1/team/audit", headers={"Authorization": f"Bearer {token}"}).json()
    actions = [a["action"] for a in audit if a["target"] == conversation_id]
    assert actions == ["reroute", "barge_in", "whisper"]
    assert not sup.js_errors and not agent.js_errors and not shopper.js_errors and not boss_console.js_errors
    for username in ("xiaowang", "boss"):
        t = web_stack.login(username)
        web_stack.http.put("/api/v1/agents/me/status", json={"status": "offline"},
                           headers={"Authorization": f"Bearer {t}"})


def test_flagged_conversation_reviewed_in_the_browser_reaches_the_agents_performance(
    sup_stack: tuple[WebStack, Path], new_page: Any
) -> None:
    web_stack, web_dir = sup_stack
    engine = make_engine(f"sqlite:///{web_dir / 'router.db'}")
    sessions = make_session_factory(engine)
    with sessions() as s:
        ids = dict(s.execute(select(User.username, User.id)).all())
    t0 = datetime.now(UTC) - timedelta(hours=2)
    day = write_day(sessions, t0, {"a": ids["xiaowang"], "b": ids["xiaoli"]})
    engine.dispose()
    token = web_stack.login("boss")
    c6_end = t0 + timedelta(minutes=25, seconds=60 + 30 + 360)  # when c6 ended: its review is in that day's queue
    local_day = c6_end.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    res = web_stack.http.get("/api/v1/quality/reviews", params={"day": local_day},
                             headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 200, res.text

    sup = new_page(1400, 1100)
    login(sup, f"{web_stack.url}/supervisor", "boss")
    sup.click(".tabs button[data-tab=quality]")
    row = sup.locator(f"#qa-queue tr[data-conversation-id='{day['c6']}']")  # rated 2: flagged
    row.wait_for()
    assert "满意度低" in (row.text_content() or "")
    assert row.locator(".qa-pre").text_content() == "规范问候 100，响应及时 100，合规用语 100"
    row.locator("button", has_text="评分").click()
    sup.locator("#qa-transcript .line.agent .text", has_text="我来继续为您处理").wait_for()
    assert sup.input_value("#qa-score-greeting") == "100"  # pre-scored: the reviewer confirms
    for key, value in (("accuracy", "60"), ("empathy", "50"), ("resolution", "40")):
        sup.fill(f"#qa-score-{key}", value)
    sup.fill("#qa-comment", "答复正确，但未主动安抚顾客")
    sup.click("#qa-submit")
    sup.locator(".toast-ok", has_text="总分 69.0").wait_for()
    screenshot(sup, "quality_review")

    dash = new_page(1400, 1000)
    login(dash, f"{web_stack.url}/dashboard", "boss")
    quality = dash.locator(f"#perf-table tr[data-agent-id='{ids['xiaoli']}'] .perf-quality")
    quality.first.wait_for()
    assert "69.0（1 次）" in [q.text_content() for q in quality.all()]

    agent = new_page(1280, 900)
    login(agent, f"{web_stack.url}/agent/reviews", "xiaoli")
    agent.locator(".review-comment", has_text="未主动安抚顾客").wait_for()
    assert agent.locator("#my-quality").text_content() == "69.0"
    assert not sup.js_errors and not dash.js_errors and not agent.js_errors
