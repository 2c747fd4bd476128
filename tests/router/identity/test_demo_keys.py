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
