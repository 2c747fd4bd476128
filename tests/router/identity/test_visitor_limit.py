"""New anonymous web visitors per client address are bounded (issue 17): each is a token and a customer row, so a
script posting without a token could fill the database. Returning visitors (their token) and signed-in shoppers are
not counted."""

from __future__ import annotations

from pathlib import Path

from router.identity import identity_hash
from tests.router.identity.conftest import SECRET, build_shop


def test_new_visitors_per_address_are_bounded_and_returning_ones_are_not(tmp_path: Path) -> None:
    shops = build_shop(tmp_path, visitor_new_per_ip=3, visitor_new_window_s=600.0)
    shop = next(shops)
    try:
        tokens = []
        for _ in range(3):
            res = shop.client.post("/api/v1/messages", json={"channel": "web", "text": "你好"})
            assert res.status_code == 200, res.text
            tokens.append(res.json()["visitor_token"])
        refused = shop.client.post("/api/v1/messages", json={"channel": "web", "text": "你好"})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0, refused.text
        assert "new visitors" in refused.json()["detail"]
        fallback = shop.client.post("/api/v1/channels/web/messages", json={"text": "你好"})
        assert fallback.status_code == 429  # the widget's REST fallback counts the same
        # a returning visitor and a signed-in shopper are not new visitors
        again = shop.client.post("/api/v1/messages", json={"channel": "web", "text": "还在吗"},
                                 headers={"Authorization": f"Bearer {tokens[0]}"})
        assert again.status_code == 200, again.text
        signed = {"customer_id": "c-limit", "identity_hash": identity_hash(SECRET, "c-limit")}
        member = shop.client.post("/api/v1/messages", json={"channel": "web", "text": "你好", **signed})
        assert member.status_code == 200, member.text
    finally:
        shops.close()
