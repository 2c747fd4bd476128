"""The mini-program message push into the real app (signature check, replies out through WeChat once per MsgId),
the admin API (secret shown once, SSRF refusals) and the polling endpoint. Real app, real SQLite, Rasa down."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from router.app import create_app
from router.outbound.errors import UnsafeUrl
from router.outbound.urls import check_url
from router.outbound.wechat_push import push_signature
from tests.procs import free_port
from tests.router.ops_support import add_user, bearer, channel_key, migrated, rasa_down_settings, running
from tests.router.outbound.fake_wechat import APP_ID, APP_SECRET, FakeWeChat, FakeWeChatServer
from tests.router.sentiment.conftest import model_path  # noqa: F401  (the session's trained sentiment model)

pytestmark = pytest.mark.slow
TOKEN = "push-token-123"


def signed(timestamp: str = "1733472000", nonce: str = "n0nce") -> dict[str, str]:
    return {"signature": push_signature(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


def wait_for(predicate: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


def test_push_admin_and_polling(tmp_path: Path, model_path: Path) -> None:  # noqa: F811
    engine, sessions = migrated(tmp_path)
    with FakeWeChatServer(FakeWeChat(), free_port()) as wx:
        settings = rasa_down_settings(model_path).model_copy(
            update={
                "wechat_app_id": APP_ID,
                "wechat_app_secret": APP_SECRET,
                "wechat_token": TOKEN,
                "wechat_api_base": wx.url,
                "outbound_poll_s": 0.05,
            }
        )
        admin_id = add_user(sessions, "root", role="admin")
        agent_id = add_user(sessions, "amy", status="offline")
        admin = bearer(settings, admin_id, "root", "admin")
        agent = bearer(settings, agent_id, "amy", "agent")
        app = create_app(settings, db_engine=engine, with_gateway=True)
        with running(app) as client:
            # URL verification and signature check
            ok = client.get("/api/v1/channels/miniprogram/push", params={**signed(), "echostr": "abc123"})
            assert ok.status_code == 200 and ok.text == "abc123"
            bad = {**signed(), "signature": "0" * 40}
            assert client.get("/api/v1/channels/miniprogram/push", params={**bad, "echostr": "x"}).status_code == 403
            push = {
                "ToUserName": "gh_shop",
                "FromUserName": "o-push-user",
                "CreateTime": 1733472000,
                "MsgType": "text",
                "Content": "在吗？我的快递到哪了",
                "MsgId": 23456789012345678,
            }
            assert client.post("/api/v1/channels/miniprogram/push", params=bad, json=push).status_code == 403
            assert client.post("/api/v1/channels/miniprogram/push", params=signed(), content=b"junk").status_code == 400
            first = client.post("/api/v1/channels/miniprogram/push", params=signed(), json=push)
            assert first.status_code == 200 and first.text == "success"
            # Rasa is down and nobody is online: the polite reply reaches the shopper through WeChat
            wait_for(lambda: len(wx.fake.sent) == 1)
            assert wx.fake.sent[0]["touser"] == "o-push-user" and "抱歉" in wx.fake.sent[0]["text"]["content"]
            again = client.post("/api/v1/channels/miniprogram/push", params=signed(), json=push)  # WeChat's retry
            assert again.text == "success"
            time.sleep(0.5)
            assert len(wx.fake.sent) == 1  # stored once per MsgId, sent once
            event = {"FromUserName": "o-push-user", "MsgType": "event", "Event": "user_enter_tempsession"}
            assert client.post("/api/v1/channels/miniprogram/push", params=signed(), json=event).text == "success"

            # polling: the conversation's messages after an id, and where it stands
            backend = channel_key(client, "miniprogram")  # the shop's backend reads for its mini-program users
            assert client.get("/api/v1/customers/mp:o-push-user/state").status_code == 401
            state = client.get("/api/v1/customers/mp:o-push-user/state", headers=backend).json()
            conv_id = state["conversation_id"]
            assert client.get(f"/api/v1/conversations/{conv_id}/messages", params={"after": 0}).status_code == 401
            page = client.get(f"/api/v1/conversations/{conv_id}/messages", params={"after": 0}, headers=backend).json()
            assert [m["direction"] for m in page["messages"]] == ["in", "out"]
            assert page["messages"][0]["text"] == "在吗？我的快递到哪了" and page["state"]["owner"] == "bot"
            later = client.get(
                f"/api/v1/conversations/{conv_id}/messages", params={"after": page["next_after"]}, headers=backend
            ).json()
            assert later["messages"] == [] and later["next_after"] == page["next_after"]
            assert client.get("/api/v1/conversations/nope/messages", headers=backend).status_code == 404
            assert client.get(f"/api/v1/conversations/{conv_id}/messages", params={"after": -1},
                              headers=backend).status_code == 422

            # admin API: the secret once, refusals with reasons, agents kept out
            assert client.put(
                "/api/v1/admin/outbound/endpoints/app", json={"url": "http://127.0.0.1:9/x"}, headers=agent
            ).status_code == 403
            refused = client.put("/api/v1/admin/outbound/endpoints/app", json={"url": "ftp://shop/x"}, headers=admin)
            assert refused.status_code == 422 and "http" in refused.json()["detail"]
            made = client.put(
                "/api/v1/admin/outbound/endpoints/app", json={"url": "http://127.0.0.1:9/x"}, headers=admin
            )
            assert made.status_code == 200 and made.json()["secret"].startswith("whsec_")
            listed = client.get("/api/v1/admin/outbound/endpoints", headers=admin).json()
            assert "secret" not in listed[0] and made.json()["secret"] not in str(listed)
            rotated = client.post("/api/v1/admin/outbound/endpoints/app/rotate-secret", headers=admin).json()
            assert rotated["secret"] != made.json()["secret"]
            assert client.post("/api/v1/admin/outbound/messages/99999999999/retry", headers=admin).status_code == 404
            assert client.get("/api/v1/admin/outbound/messages?status=dead", headers=admin).json() == []
            assert client.get("/admin/outbound").status_code == 200
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1:8080/hook", "non-public"),
        ("https://10.1.2.3/hook", "non-public"),
        ("https://169.254.169.254/latest/meta-data", "non-public"),
        ("https://[::1]/hook", "non-public"),
        ("https://localhost/hook", "non-public"),
        ("http://93.184.216.34/hook", "https"),
        ("ftp://93.184.216.34/hook", "http and https"),
        ("https://user:pw@93.184.216.34/hook", "credentials"),
    ],
)
def test_private_and_odd_callback_urls_are_refused_outside_dev_mode(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl, match=reason):
        check_url(url, allow_private=False, require_https=True)


def test_public_https_url_is_accepted_and_dev_mode_allows_loopback() -> None:
    check_url("https://93.184.216.34/hook", allow_private=False, require_https=True)
    check_url("http://127.0.0.1:8080/hook", allow_private=True, require_https=False)


def test_malformed_urls_are_refused_even_in_dev_mode() -> None:
    for url in ("http://shop.example.com/a b", "http://shop.example.com/\x00", "http://[::1/x", "http://h:99999/"):
        with pytest.raises(UnsafeUrl):
            check_url(url, allow_private=True, require_https=False)
