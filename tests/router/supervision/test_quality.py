"""Quality inspection on the hand-computed day: flagged and sampled reviews with pre-scores, a completed review's
total in the agent's performance, appeals, settings (forbidden phrases), roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from router.settings import Settings
from tests.router.ops_support import add_user, bearer, migrated, ops_app, running
from tests.router.reports.seeded_day import write_day

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: the whole day ends on 2026-11-23
SETTINGS = Settings(database_url="sqlite://", report_timezone="Asia/Shanghai", service_level_s=20.0)
FULL = {"greeting": 100, "response": 100, "accuracy": 60, "empathy": 50, "resolution": 40, "compliance": 100}


@pytest.fixture
def day(tmp_path: Path):
    engine, sessions = migrated(tmp_path)
    amy = add_user(sessions, "amy", skills={"general": 4})
    bob = add_user(sessions, "bob", skills={"general": 4})
    sup = add_user(sessions, "sup", role="supervisor", status="offline")
    ids = write_day(sessions, T0, {"a": amy, "b": bob})
    yield engine, ids, amy, bob, sup
    engine.dispose()


def test_flagged_and_sampled_reviews_scores_and_appeal(day) -> None:
    engine, ids, amy, bob, sup = day
    boss = bearer(SETTINGS, sup, "sup", "supervisor")
    with running(ops_app(SETTINGS, engine)) as client:
        queue = client.get("/api/v1/quality/reviews", params={"day": "2026-11-23"}, headers=boss).json()
        by_conv = {r["conversation_id"]: r for r in queue}
        # c6 was rated 2 (for bob, who closed it after amy's transfer): flagged; c5 (amy, rated 5): sampled,
        # 10 % of amy's one unflagged conversation rounds up to one
        assert set(by_conv) == {ids["c5"], ids["c6"]}
        c6 = by_conv[ids["c6"]]
        assert (c6["agent_id"], c6["reason"], c6["flags"]) == (bob, "flagged", ["wait_over_sla", "csat_low"])
        # bob greeted, replied 20 s after accepting (target 30 s), used no forbidden phrase
        assert c6["pre_scores"] == {"greeting": 100.0, "response": 100.0, "compliance": 100.0}
        assert by_conv[ids["c5"]]["reason"] == "sampled" and by_conv[ids["c5"]]["agent_id"] == amy
        # building again adds nothing
        assert len(client.get("/api/v1/quality/reviews", params={"day": "2026-11-23"}, headers=boss).json()) == 2

        incomplete = client.post(f"/api/v1/quality/reviews/{c6['id']}", headers=boss, json={"scores": {"accuracy": 50}})
        assert incomplete.status_code == 422 and "missing" in incomplete.json()["detail"]
        done = client.post(f"/api/v1/quality/reviews/{c6['id']}", headers=boss,
                           json={"scores": FULL, "comment": "答复正确，但未主动安抚顾客"})
        assert done.status_code == 200, done.text
        # weights 10/15/30/20/15/10: (1000 + 1500 + 1800 + 1000 + 600 + 1000) / 100
        assert done.json()["total"] == 69.0

        perf = client.get("/api/v1/reports/agents", params={"since": T0.isoformat(),
                                                             "until": (T0 + timedelta(days=1)).isoformat()},
                          headers=bearer(SETTINGS, bob, "bob", "agent")).json()
        assert perf["totals"][0]["quality_score"] == 69.0 and perf["totals"][0]["reviews"] == 1

        agent = bearer(SETTINGS, bob, "bob", "agent")
        mine = client.get("/api/v1/quality/my-reviews", headers=agent).json()
        assert [r["comment"] for r in mine] == ["答复正确，但未主动安抚顾客"]
        assert client.get("/api/v1/quality/my-reviews", headers=bearer(SETTINGS, amy, "amy", "agent")).json() == []
        appealed = client.post(f"/api/v1/quality/my-reviews/{c6['id']}/appeal", headers=agent,
                               json={"text": "顾客的问题已在转接前由物流确认"})
        assert appealed.status_code == 200 and appealed.json()["status"] == "appealed"
        again = client.post(f"/api/v1/quality/my-reviews/{c6['id']}/appeal", headers=agent, json={"text": "再申诉"})
        assert again.status_code == 422
        others = client.post(f"/api/v1/quality/my-reviews/{c6['id']}/appeal",
                             headers=bearer(SETTINGS, amy, "amy", "agent"), json={"text": "x"})
        assert others.status_code == 404
        answered = client.post(f"/api/v1/quality/reviews/{c6['id']}", headers=boss,
                               json={"scores": {**FULL, "resolution": 100}, "comment": "申诉成立，已调整"})
        assert answered.json()["status"] == "completed" and answered.json()["total"] == 78.0
        assert answered.json()["appeal_reply"] == "申诉成立，已调整"
        assert client.get("/api/v1/quality/reviews", headers=agent).status_code == 403
        assert client.post(f"/api/v1/quality/reviews/{2**63}", headers=boss, json={"scores": FULL}).status_code == 422


def test_settings_rubric_and_forbidden_phrases(day) -> None:
    engine, ids, _amy, bob, sup = day
    boss = bearer(SETTINGS, sup, "sup", "supervisor")
    with running(ops_app(SETTINGS, engine)) as client:
        cfg = client.get("/api/v1/quality/settings", headers=boss).json()
        cfg.update(forbidden_phrases=["为您处理"], sample_rate=0.0)
        assert client.put("/api/v1/quality/settings", headers=boss, json=cfg).status_code == 200
        assert client.put("/api/v1/quality/settings", headers=boss,
                          json={**cfg, "sample_rate": 2}).status_code == 422
        queue = client.get("/api/v1/quality/reviews", params={"day": "2026-11-23"}, headers=boss).json()
        assert [r["conversation_id"] for r in queue] == [ids["c6"]]  # nothing sampled at rate 0
        assert "forbidden" in queue[0]["flags"] and queue[0]["pre_scores"]["compliance"] == 0.0
        items = [{"key": "accuracy", "label": "解答准确", "weight": 70},
                 {"key": "politeness", "label": "礼貌用语", "weight": 30, "auto": "greeting"}]
        assert client.put("/api/v1/quality/rubric", headers=boss, json=items).status_code == 200
        assert [i["key"] for i in client.get("/api/v1/quality/rubric", headers=boss).json()] == ["accuracy",
                                                                                                  "politeness"]
        done = client.post(f"/api/v1/quality/reviews/{queue[0]['id']}", headers=boss,
                           json={"scores": {"accuracy": 80, "politeness": 100}})
        assert done.json()["total"] == 86.0
        dup = [{"key": "a1", "label": "x", "weight": 1}, {"key": "a1", "label": "y", "weight": 1}]
        assert client.put("/api/v1/quality/rubric", headers=boss, json=dup).status_code == 422
