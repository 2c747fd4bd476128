"""The gateway's side of issue 22: one survey (typed digit or stars, a second rating updates), transcripts that show
what the shopper saw and clicked, suggestions from what the shopper asked, one wording for queue estimates, one
persona. Real app built by ``create_app``, real SQLite, the real knowledge base and sentiment model; the Rasa server is
down (a closed port): these paths are the gateway's own. The browser tests in tests/router/web/test_dialogue.py run
the same behaviours on the whole stack."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from router.app import create_app
from router.auth import create_user
from router.clock import utcnow
from router.conversations.models import Conversation, Customer, Message, Survey
from router.db import session_scope
from router.gateway.texts import format_eta, load_texts
from router.identity import identity_hash
from router.settings import Settings
from router.web.persona import bot_name
from tests.e2e.helpers import auth_frame
from tests.router.ops_support import TEST_WEB_SECRET, migrated, rasa_down_settings, running, web_token

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]
MODEL = Settings().sentiment_model_path  # the committed model (router/sentiment/model)
PASSWORD = "secret-pass-1"


@pytest.fixture()
def gateway(tmp_path: Path) -> Any:
    if not MODEL.is_file():
        pytest.fail(f"the sentiment model {MODEL} is missing (it is part of the repository)")
    engine, sessions = migrated(tmp_path)
    create_user(sessions, username="boss", password=PASSWORD, display_name="主管", role="supervisor",
                skills={"general": 3})
    app = create_app(rasa_down_settings(MODEL), db_engine=engine, with_gateway=True)
    with running(app) as client:
        yield client, sessions
    engine.dispose()


def closed_with_survey(sessions: sessionmaker[Session], customer: str) -> str:
    with session_scope(sessions) as s:
        s.add(Customer(id=customer))
        s.flush()
        conv = Conversation(customer_id=customer, channel="web", first_channel="web", owner="bot", status="closed",
                            survey_pending=True, closed_at=utcnow() - timedelta(minutes=1), agent_id=None)
        s.add(conv)
        s.flush()
        return conv.id


def say(client: TestClient, customer: str, text: str) -> dict[str, Any]:
    # a shopper the shop has signed in (customer_id + identity_hash)
    signed = {"customer_id": customer, "identity_hash": identity_hash(TEST_WEB_SECRET, customer)}
    res = client.post("/api/v1/messages", json={"channel": "web", "text": text, **signed})
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    return body


def rating(sessions: sessionmaker[Session], conv_id: str) -> tuple[int, str | None]:
    with session_scope(sessions) as s:
        survey = s.get(Survey, conv_id)
        assert survey is not None
        return survey.rating, survey.comment


# ---------------------------------------------------------------- one survey
def test_a_typed_rating_closes_the_survey_everywhere_and_a_second_rating_updates_it(gateway: Any) -> None:
    client, sessions = gateway
    conv_id = closed_with_survey(sessions, "u-rate")
    owner = web_token(client, "u-rate")
    with client.websocket_connect("/api/v1/channels/web/ws") as ws:
        ws.send_text(auth_frame(owner["Authorization"].removeprefix("Bearer ")))
        assert ws.receive_json()["type"] == "ready"
        body = say(client, "u-rate", "4 客服态度不错")
        assert "感谢您的评价" in body["replies"][0]["text"]
        events = [ws.receive_json(), ws.receive_json()]
    # the widget's stars close too: the same survey was answered
    assert [e["type"] for e in events] == ["reply", "survey_done"]
    assert rating(sessions, conv_id) == (4, "客服态度不错")
    # a second rating, typed: updated and said so (never thanked and dropped)
    again = say(client, "u-rate", "5")
    assert "更新为 5 分" in again["replies"][0]["text"]
    assert rating(sessions, conv_id) == (5, "客服态度不错")
    # and by stars: the same
    res = client.post(f"/api/v1/conversations/{conv_id}/survey", json={"rating": 3, "comment": "想了想还是一般"},
                      headers=owner)
    assert res.status_code == 200 and "更新为 3 分" in res.json()["replies"][0]["text"], res.text
    assert rating(sessions, conv_id) == (3, "想了想还是一般")
    # the thank-yous are in the history, so a reloaded widget shows them; the state says nothing is pending
    history = client.get(f"/api/v1/conversations/{conv_id}/history", headers=owner).json()
    assert "更新为 3 分" in history[-1]["text"]
    assert client.get("/api/v1/customers/u-rate/state", headers=owner).json()["survey_pending"] is False


def test_a_digit_long_after_the_rating_goes_to_the_bot(gateway: Any) -> None:
    client, sessions = gateway
    conv_id = closed_with_survey(sessions, "u-late")
    say(client, "u-late", "5")
    with session_scope(sessions) as s:
        survey = s.get(Survey, conv_id)
        assert survey is not None
        survey.created_at = utcnow() - timedelta(hours=1)
    later = say(client, "u-late", "4")
    assert later["conversation_id"] != conv_id  # a new conversation with the bot (here: down, a polite reply)
    assert rating(sessions, conv_id)[0] == 5


def test_a_number_outside_one_to_five_while_the_survey_waits_gets_the_scale_explained(gateway: Any) -> None:
    """Found using it: "10" typed into a pending survey opened a new conversation with the bot (chit-chat), and the
    rating typed next ("5 客服很耐心") was no longer taken, since a conversation was open."""
    client, sessions = gateway
    conv_id = closed_with_survey(sessions, "u-ten")
    hint = say(client, "u-ten", "10")
    assert hint["conversation_id"] == conv_id and "1-5" in hint["replies"][0]["text"], hint
    done = say(client, "u-ten", "5 客服很耐心")
    assert done["conversation_id"] == conv_id and "感谢您的评价" in done["replies"][0]["text"], done
    assert rating(sessions, conv_id) == (5, "客服很耐心")
    with session_scope(sessions) as s:  # both messages kept, in the closed conversation
        assert [m.text for m in s.query(Message).filter(Message.direction == "in")] == ["10", "5 客服很耐心"]
    # once the survey is answered, a number is the bot's again (a new conversation)
    assert say(client, "u-ten", "10")["conversation_id"] != conv_id
    assert rating(sessions, conv_id) == (5, "客服很耐心")


def test_the_stars_of_an_unknown_conversation_get_404(gateway: Any) -> None:
    client, _ = gateway
    res = client.post("/api/v1/conversations/nope/survey", json={"rating": 4}, headers=web_token(client, "u-nope"))
    assert res.status_code == 404 and res.json()["detail"]


# ---------------------------------------------------------------- transcripts and suggestions
def open_conversation(sessions: sessionmaker[Session], customer: str, lines: list[tuple[str, str, Any]]) -> str:
    with session_scope(sessions) as s:
        s.add(Customer(id=customer))
        s.flush()
        conv = Conversation(customer_id=customer, channel="web", first_channel="web", owner="bot", status="open")
        s.add(conv)
        s.flush()
        for direction, text, buttons in lines:
            s.add(Message(conversation_id=conv.id, customer_id=customer, direction=direction,
                          sender="customer" if direction == "in" else "bot", channel="web", text=text,
                          buttons=buttons, created_at=utcnow()))
            s.flush()
        return conv.id


CLARIFY = [{"title": "怎么开发票？", "payload": '/ask_faq{"faq_id": "invoice_apply"}'},
           {"title": "我要开发票", "payload": "/invoice_request"}]


def test_a_clicked_button_is_stored_as_the_title_the_shopper_saw(gateway: Any) -> None:
    client, sessions = gateway
    conv_id = open_conversation(sessions, "u-click", [("in", "发票", None), ("out", "您是不是想问：", CLARIFY)])
    say(client, "u-click", CLARIFY[0]["payload"])
    say(client, "u-click", "/not_a_button")
    history = client.get(f"/api/v1/conversations/{conv_id}/history", headers=web_token(client, "u-click")).json()
    shown = [m["text"] for m in history if m["direction"] == "in"]
    assert shown == ["发票", "怎么开发票？", "/not_a_button"]


def test_the_agent_sees_the_options_and_suggestions_from_the_latest_real_question(gateway: Any) -> None:
    client, sessions = gateway
    conv_id = open_conversation(sessions, "u-ctx", [
        ("in", "优惠券为什么用不了", None),
        ("out", "您是不是想问：", CLARIFY),
        ("in", "退款一般多久能到账", None),
        ("in", "我要转人工", None),
        ("in", "你好", None),
        ("in", "2026112400012345", None),
    ])
    token = client.post("/api/v1/auth/login", json={"username": "boss", "password": PASSWORD}).json()["access_token"]
    res = client.get(f"/api/v1/agents/conversations/{conv_id}/context", headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 200, res.text
    context = res.json()
    clarify = next(m for m in context["transcript"] if m["text"] == "您是不是想问：")
    assert clarify["buttons"] == ["怎么开发票？", "我要开发票"]
    suggestions = context["faq_suggestions"]
    assert suggestions[0]["id"] == "refund_time", suggestions
    assert suggestions[0]["question_asked"] == "退款一般多久能到账"
    assert "coupon_invalid" in [s["id"] for s in suggestions]  # the earlier question still gets its best entry
    assert {s["question_asked"] for s in suggestions} <= {"退款一般多久能到账", "优惠券为什么用不了"}


# ---------------------------------------------------------------- one wording, one persona
def test_queue_estimates_are_worded_one_way() -> None:
    assert [format_eta(None), format_eta(20), format_eta(180)] == ["几分钟", "1分钟以内", "约3分钟"]
    texts = load_texts()
    for key in ("queued", "queued_next", "still_queued", "still_queued_next"):
        assert "预计等待{eta}。" in texts[key], texts[key]
    common = (ROOT / "router" / "web" / "static" / "common.js").read_text(encoding="utf-8")
    assert '"1分钟以内"' in common and "`约${Math.round(seconds / 60)}分钟`" in common
    chat = (ROOT / "router" / "web" / "static" / "chat.js").read_text(encoding="utf-8")
    assert chat.count("预计等待${fmtEta(") == 2


def test_the_bot_has_one_name_in_its_replies_the_widget_and_the_console(gateway: Any) -> None:
    client, _ = gateway
    domain = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    name = domain["slots"]["bot_name"]["initial_value"]
    assert bot_name() == name
    replies = yaml.safe_dump(domain["responses"], allow_unicode=True)
    assert "{bot_name}" in replies
    # no other name hard-coded anywhere the shopper or the agent reads it
    other_names = re.compile(r"小可|小优|小智|小蜜")
    assert not other_names.search(replies)
    for page in ("/chat/embed", "/agent"):
        html = client.get(page).text
        assert f'data-bot-name="{name}"' in html and "{{bot_name}}" not in html
    assert f"智能客服{name}" in client.get("/chat/embed").text
    for script in ("chat.js", "agent.js", "widget.js"):
        assert not other_names.search((ROOT / "router" / "web" / "static" / script).read_text(encoding="utf-8"))


# ---------------------------------------------------------------- after "leave a message"
# the gateway hands an angry shopper over by itself (Rasa is down here); nobody is online: "leave a message"
UPSET = "你们到底怎么回事！包裹丢了一个星期都没人管，气死我了！"


def _tickets(sessions: sessionmaker[Session], customer: str) -> int:
    from sqlalchemy import func, select

    from router.tickets.models import Ticket

    with session_scope(sessions) as s:
        return int(s.scalar(select(func.count()).select_from(Ticket).where(Ticket.customer_id == customer)) or 0)


def test_after_the_leave_a_message_offer_a_greeting_or_a_change_of_mind_is_no_ticket(gateway: Any) -> None:
    """Found using `make run` as a shopper: nobody online, a handoff -> "leave a message"; the shopper came back a few
    minutes later and said "你好": it became ticket T...002 with the note "你好". "算了" would have been one too."""
    client, sessions = gateway
    texts = load_texts()
    offer = say(client, "u-leave", UPSET)
    assert any(texts["no_agent_online"][:10] in r["text"] for r in offer["replies"]), offer
    hello = say(client, "u-leave", "你好！")
    assert [r["text"] for r in hello["replies"]] == [texts["leave_message_greeting"]]
    assert _tickets(sessions, "u-leave") == 0
    # the offer stands: the real message becomes the ticket
    left = say(client, "u-leave", "我的快递三天没更新了，订单2026112400012345，电话13800138000")
    assert "工单号" in left["replies"][0]["text"] and _tickets(sessions, "u-leave") == 1

    offer = say(client, "u-mind", UPSET)
    assert any("不留言了" in r["text"] for r in offer["replies"])
    declined = say(client, "u-mind", "算了")
    assert [r["text"] for r in declined["replies"]] == [texts["leave_message_cancelled"]]
    assert _tickets(sessions, "u-mind") == 0
    with session_scope(sessions) as s:
        conv = s.get(Conversation, declined["conversation_id"])
        assert conv is not None and conv.handoff_reason is None and conv.status == "open"


def test_a_stale_leave_a_message_offer_lapses(gateway: Any) -> None:
    """Back after the window (half an hour by default), a message is a new question, not a note."""
    from sqlalchemy import update

    from router.conversations.models import ConversationEvent

    client, sessions = gateway
    offer = say(client, "u-later", UPSET)
    with session_scope(sessions) as s:
        s.execute(update(ConversationEvent).where(ConversationEvent.conversation_id == offer["conversation_id"],
                                                  ConversationEvent.type == "no_agent_online")
                  .values(created_at=utcnow() - timedelta(hours=2)))
    assert any("不留言了" in r["text"] for r in offer["replies"])
    later = say(client, "u-later", "退款多久能到账")
    assert not any("工单号" in r["text"] for r in later["replies"]), later
    assert _tickets(sessions, "u-later") == 0


# ---------------------------------------------------------------- the widget's heartbeat
def test_the_widget_socket_answers_a_ping_and_stores_nothing(gateway: Any) -> None:
    """The widget pings every 25 s (so a proxy never closes an idle socket, and a silently dead one is noticed):
    the answer is a pong, never an error frame or a stored message."""
    client, sessions = gateway
    owner = web_token(client, "u-ping")
    with client.websocket_connect("/api/v1/channels/web/ws") as ws:
        ws.send_text(auth_frame(owner["Authorization"].removeprefix("Bearer ")))
        assert ws.receive_json()["type"] == "ready"
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
        ws.send_json({"text": "你好", "client_msg_id": "after-ping"})
        assert [ws.receive_json()["type"] for _ in range(2)] == ["reply", "ack"]
    with session_scope(sessions) as s:
        assert [m.text for m in s.query(Message).filter(Message.direction == "in")] == ["你好"]
