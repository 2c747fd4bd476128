"""Dev defaults of `make run`: random demo keys written once to var/demo/channel_keys.json, and the demo shop page
that signs its demo customer (``/chat?as=c0001``); outside dev mode, neither."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from router.identity import identity_hash
from tests.router.identity.conftest import build_shop

pytestmark = pytest.mark.slow


def test_demo_keys_are_created_once_and_work(tmp_path: Path) -> None:
    path = tmp_path / "demo" / "channel_keys.json"
    shops = build_shop(tmp_path, rotate=False, demo_users=True, demo_keys_path=path, web_identity_secret=None)
    shop = next(shops)
    try:
        keys = json.loads(path.read_text(encoding="utf-8"))
        assert set(keys) == {"app", "miniprogram", "web_identity_secret"}
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len({keys["app"], keys["miniprogram"], keys["web_identity_secret"]}) == 3
        body = {"user_id": "c0001", "text": "你好"}
        ok = shop.client.post("/api/v1/channels/app/messages", json=body, headers={"X-Kefu-Channel-Key": keys["app"]})
        assert ok.status_code == 200, ok.text
        signed = {"customer_id": "c0001", "identity_hash": identity_hash(keys["web_identity_secret"], "c0001")}
        web = shop.client.post("/api/v1/messages", json={"channel": "web", "text": "查订单", **signed})
        assert web.status_code == 200 and web.json()["verified"] is True

        page = shop.client.get("/chat", params={"as": "c0001"})
        assert page.status_code == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]
        tag = re.search(r'<script src="/widget.js"[^>]*>', page.text)
        assert tag is not None
        assert 'data-customer-id="c0001"' in tag.group(0)
        assert f'data-identity-hash="{signed["identity_hash"]}"' in tag.group(0)
        for odd in ('"><script>alert(1)</script>', "a" * 65, "anon:x"):
            plain = shop.client.get("/chat", params={"as": odd})
            assert plain.status_code == 200 and "data-customer-id" not in plain.text and "alert(1)" not in plain.text
    finally:
        shops.close()
    # a second start (another database here) keeps the keys: they are written once
    (tmp_path / "second").mkdir()
    again = build_shop(
        tmp_path / "second", rotate=False, demo_users=True, demo_keys_path=path, web_identity_secret=None
    )
    next(again)
    try:
        assert json.loads(path.read_text(encoding="utf-8")) == keys
    finally:
        again.close()


def test_no_defaults_outside_dev_mode(tmp_path: Path) -> None:
    path = tmp_path / "channel_keys.json"
    shops = build_shop(
        tmp_path, env="prod", rasa_token="a-real-rasa-token", demo_keys_path=path, web_identity_secret=None
    )
    shop = next(shops)
    try:
        assert not path.exists()
        assert "data-identity-hash" not in shop.client.get("/chat", params={"as": "c0001"}).text
        claim = {"channel": "web", "text": "你好", "customer_id": "c0001", "identity_hash": "0" * 64}
        refused = shop.client.post("/api/v1/messages", json=claim)
        assert refused.status_code == 401 and "not configured" in refused.json()["detail"]
    finally:
        shops.close()


def test_every_staff_page_of_the_readme_has_a_demo_login_that_can_use_it(tmp_path: Path) -> None:
    """Found using `make run`: /admin/outbound (app callback settings, dead letters) is for admins, and no demo account
    was one: every demo login got "当前账号角色（主管）无权使用此页面"."""
    from fastapi.testclient import TestClient

    from router.app import create_app
    from router.migrate import upgrade
    from router.settings import Settings
    from tests.procs import free_port

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)  # an empty user table, as on a fresh `make run`
    settings = Settings(database_url=url, rasa_url=f"http://127.0.0.1:{free_port()}", demo_users=True,
                        demo_keys_path=tmp_path / "keys.json", operations_background=False)
    from router.demo.users import seed_demo_users_hook

    with TestClient(create_app(settings, with_gateway=True, on_startup=[seed_demo_users_hook])) as client:
        def bearer(username: str) -> dict[str, str]:
            res = client.post("/api/v1/auth/login", json={"username": username, "password": f"{username}-pass"})
            assert res.status_code == 200, (username, res.text)
            return {"Authorization": f"Bearer {res.json()['access_token']}"}

        # (page, an API its data comes from, the demo login the banner of `make run` names for it)
        for page, api, username in [
            ("/agent", "/api/v1/agents/me", "agent1"),
            ("/admin/faq", "/api/v1/admin/faq/entries", "content1"),
            ("/dashboard", "/api/v1/agents/queue", "supervisor1"),
            ("/admin/outbound", "/api/v1/admin/outbound/endpoints", "admin1"),
        ]:
            assert client.get(page).status_code == 200, page
            res = client.get(api, headers=bearer(username))
            assert res.status_code == 200, (page, api, username, res.status_code, res.text[:200])
