"""Team set-up through the API against a real migrated database and the app's real routing engine: new agents,
skill changes and disabling reach routing at once (no restart); roles are guarded; everything is audited."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from router.settings import Settings
from router.supervision.team import Hours, closed_hours_checker, describe_hours, is_open
from tests.router.ops_support import add_user, bearer, migrated, ops_app, running

SETTINGS = Settings(database_url="sqlite://", report_timezone="Asia/Shanghai")


@pytest.fixture
def team(tmp_path: Path):
    engine, sessions = migrated(tmp_path)
    sup = add_user(sessions, "sup", role="supervisor")
    admin = add_user(sessions, "root", role="admin")
    yield engine, sessions, bearer(SETTINGS, sup, "sup", "supervisor"), bearer(SETTINGS, admin, "root", "admin"), sup
    engine.dispose()


def login(client: Any, username: str, password: str) -> dict[str, str]:
    res = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


def test_a_new_agent_gets_a_matching_offer_without_a_restart(team) -> None:
    engine, sessions, sup, _admin, _sup_id = team
    with running(ops_app(SETTINGS, engine)) as client:
        res = client.post("/api/v1/team/members", headers=sup, json={
            "username": "xiaozhou", "display_name": "小周", "password": "zhou-pass-123",
            "skills": {"billing": 5, "general": 3}, "languages": ["zh", "en"], "capacity": {"chat": 2}})
        assert res.status_code == 201, res.text
        new = res.json()
        assert new["skills"] == {"billing": 5, "general": 3} and new["status"] == "offline"
        agent = login(client, "xiaozhou", "zhou-pass-123")
        assert client.put(
            "/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=agent
        ).status_code == 200
        queued = client.post("/api/v1/routing/handoffs", headers=sup, json={
            "conversation_id": "conv-billing-1", "customer_id": "shopper-1", "skill": "billing"})
        assert queued.status_code == 201, queued.text
        offers = client.get("/api/v1/agents/me/offers", headers=agent).json()
        assert [o["conversation_id"] for o in offers] == ["conv-billing-1"]
        # a skill change takes effect for the next decision: logistics now routes to them too
        patched = client.patch(f"/api/v1/team/members/{new['id']}", headers=sup,
                               json={"skills": {"billing": 5, "logistics": 4}})
        assert patched.status_code == 200 and patched.json()["skills"] == {"billing": 5, "logistics": 4}
        client.post("/api/v1/routing/handoffs", headers=sup, json={
            "conversation_id": "conv-logistics-1", "customer_id": "shopper-2", "skill": "logistics"})
        offers = client.get("/api/v1/agents/me/offers", headers=agent).json()
        assert {o["conversation_id"] for o in offers} == {"conv-billing-1", "conv-logistics-1"}
        # disabling takes them offline at once: their pending offers are withdrawn, logins and status changes refused
        off = client.patch(f"/api/v1/team/members/{new['id']}", headers=sup, json={"is_active": False})
        assert off.status_code == 200 and off.json()["status"] == "disabled"
        assert client.app.state.engine.get_agent(new["id"]).status.value == "offline"
        assert client.get("/api/v1/routing/offers", headers=sup).json() == []
        again = client.put("/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=agent)
        assert again.status_code == 404
        assert client.post("/api/v1/auth/login", json={"username": "xiaozhou", "password": "zhou-pass-123"}
                           ).status_code == 401
        audit = client.get("/api/v1/team/audit", headers=sup).json()
        assert [a["action"] for a in audit][:3] == ["member_updated", "member_updated", "member_created"]


def test_password_reset_roles_and_bad_input(team) -> None:
    engine, sessions, sup, admin, sup_id = team
    with running(ops_app(SETTINGS, engine)) as client:
        res = client.post("/api/v1/team/members", headers=sup, json={
            "username": "xiaoma", "display_name": "小马", "password": "ma-pass-1234"})
        uid = res.json()["id"]
        assert client.post(f"/api/v1/team/members/{uid}/password", headers=sup,
                           json={"password": "new-pass-5678"}).status_code == 204
        login(client, "xiaoma", "new-pass-5678")
        # supervisors may not make supervisors, nor demote themselves; admins may
        denied = client.patch(f"/api/v1/team/members/{uid}", headers=sup, json={"role": "supervisor"})
        assert denied.status_code == 403 and "管理员" in denied.json()["message"]
        assert client.patch(f"/api/v1/team/members/{sup_id}", headers=sup,
                            json={"is_active": False}).status_code == 403
        assert client.patch(f"/api/v1/team/members/{uid}", headers=admin,
                            json={"role": "supervisor"}).json()["role"] == "supervisor"
        taken = client.post("/api/v1/team/members", headers=sup, json={
            "username": "xiaoma", "display_name": "另一个", "password": "ma-pass-1234"})
        assert taken.status_code == 409 and "用户名" in taken.json()["message"]
        for bad in ({"skills": {"cooking": 3}}, {"skills": {"billing": 9}}, {"capacity": {"chat": 99}},
                    {"languages": []}, {"nickname": "x"}):
            res = client.patch(f"/api/v1/team/members/{uid}", headers=admin, json=bad)
            assert res.status_code == 422, (bad, res.text)
        assert client.patch("/api/v1/team/members/99999", headers=sup, json={}).status_code == 404
        # found by the OpenAPI fuzzer: an id beyond SQLite's integers was a 500
        assert client.patch(f"/api/v1/team/members/{2**63}", headers=sup, json={}).status_code == 422
        agent = login(client, "xiaoma", "new-pass-5678")  # now a supervisor: may read, but the agent role may not
        assert client.get("/api/v1/team/members", headers=agent).status_code == 200
        plain = add_user(sessions, "plain")
        assert client.get("/api/v1/team/members",
                          headers=bearer(SETTINGS, plain, "plain", "agent")).status_code == 403


def test_working_hours_per_skill_group(team) -> None:
    engine, sessions, sup, _admin, _sup_id = team
    with running(ops_app(SETTINGS, engine)) as client:
        res = client.put("/api/v1/team/hours/billing", headers=sup,
                         json={"days": [0, 1, 2, 3, 4], "opens": "09:00", "closes": "18:00"})
        assert res.status_code == 200, res.text
        assert client.get("/api/v1/team/hours", headers=sup).json() == [res.json()]
        assert client.put("/api/v1/team/hours/cooking", headers=sup,
                          json={"days": [0], "opens": "09:00", "closes": "18:00"}).status_code == 422
        assert client.put("/api/v1/team/hours/billing", headers=sup,
                          json={"days": [7], "opens": "25:00", "closes": "18:00"}).status_code == 422
    # Monday 2026-12-07 10:00 in Shanghai = 02:00 UTC
    monday_10 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    saturday_10 = datetime(2026, 12, 12, 2, 0, tzinfo=UTC)
    assert closed_hours_checker(sessions, "Asia/Shanghai", lambda: monday_10)("billing") is None
    assert closed_hours_checker(sessions, "Asia/Shanghai", lambda: saturday_10)("billing") == "周一至周五 09:00-18:00"
    assert closed_hours_checker(sessions, "Asia/Shanghai", lambda: saturday_10)("logistics") is None  # no hours


def test_overnight_hours() -> None:
    night = Hours(skill="vip", days=[4], opens="20:00", closes="02:00")  # Friday night shift
    tz = "UTC"
    assert is_open(night, datetime(2026, 12, 11, 21, 0, tzinfo=UTC), tz)  # Friday 21:00
    assert is_open(night, datetime(2026, 12, 12, 1, 0, tzinfo=UTC), tz)  # Saturday 01:00 (Friday's shift)
    assert not is_open(night, datetime(2026, 12, 12, 3, 0, tzinfo=UTC), tz)
    assert not is_open(night, datetime(2026, 12, 11, 1, 0, tzinfo=UTC), tz)  # Friday 01:00 is Thursday's shift
    assert describe_hours(Hours(skill="x", days=list(range(7)), opens="09:00", closes="22:00")) == "每天 09:00-22:00"
    assert describe_hours(Hours(skill="x", days=[5, 6], opens="10:00", closes="16:00")) == "周六、周日 10:00-16:00"
