"""Canned replies through the real app: personal snippets per agent, team snippets per skill group managed by
supervisors, validation with reasons, and the demo snippets of `make run`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from router.canned.demo import DEMO_CANNED, seed_demo_canned
from router.settings import Settings
from tests.router.ops_support import add_user, bearer, migrated, ops_app, running

URL = "/api/v1/canned-replies"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]], Any]]:
    engine, sessions = migrated(tmp_path)
    users = {
        "amy": add_user(sessions, "amy", skills={"logistics": 4}),
        "bob": add_user(sessions, "bob", skills={"after_sales": 4, "general": 2}),
        "sue": add_user(sessions, "sue", role="supervisor", skills={"general": 1}),
        "cat": add_user(sessions, "cat", role="content"),
    }
    roles = {"amy": "agent", "bob": "agent", "sue": "supervisor", "cat": "content"}
    settings = Settings(database_url="sqlite://")
    headers = {name: bearer(settings, uid, name, roles[name]) for name, uid in users.items()}
    with running(ops_app(settings, engine)) as client:
        yield client, headers, sessions
    engine.dispose()


def _shortcuts(client: TestClient, headers: dict[str, str]) -> list[str]:
    res = client.get(URL, headers=headers)
    assert res.status_code == 200, res.text
    return [row["shortcut"] for row in res.json()]


def test_personal_snippets_belong_to_their_agent(api: Any) -> None:
    client, h, _ = api
    body = {"shortcut": "kd", "title": "快递核实", "text": "已为您联系快递核实。"}
    made = client.post(URL, headers=h["amy"], json=body)
    assert made.status_code == 201, made.text
    row = made.json()
    assert row["scope"] == "personal" and row["editable"] is True and row["skill"] is None
    assert _shortcuts(client, h["amy"]) == ["kd"] and _shortcuts(client, h["bob"]) == []
    # another agent's snippet does not exist for bob
    assert client.patch(f"{URL}/{row['id']}", headers=h["bob"], json={"title": "改"}).status_code == 404
    assert client.delete(f"{URL}/{row['id']}", headers=h["bob"]).status_code == 404
    changed = client.patch(f"{URL}/{row['id']}", headers=h["amy"], json={"text": "已为您联系快递，请稍候。"})
    assert changed.status_code == 200 and changed.json()["text"] == "已为您联系快递，请稍候。"
    dup = client.post(URL, headers=h["amy"], json={"shortcut": "kd", "title": "重复", "text": "重复"})
    assert dup.status_code == 409 and "/kd" in dup.json()["detail"] and "/kd" in dup.json()["message"]
    # the same shortcut is fine for another agent
    assert client.post(URL, headers=h["bob"], json=body).status_code == 201
    assert client.delete(f"{URL}/{row['id']}", headers=h["amy"]).status_code == 204
    assert _shortcuts(client, h["amy"]) == []


def test_team_snippets_are_managed_by_supervisors_and_seen_by_the_group(api: Any) -> None:
    client, h, _ = api
    body = {"scope": "team", "skill": "after_sales", "shortcut": "tk", "title": "退款时效",
            "text": "退款审核通过后原路退回，一般 1-3 个工作日到账。"}
    assert client.post(URL, headers=h["bob"], json=body).status_code == 403  # agents may not add team snippets
    made = client.post(URL, headers=h["sue"], json=body)
    assert made.status_code == 201, made.text
    tid = made.json()["id"]
    rows = client.get(URL, headers=h["bob"]).json()
    assert [(r["shortcut"], r["editable"]) for r in rows] == [("tk", False)]  # bob's group: used, not managed
    assert _shortcuts(client, h["amy"]) == []  # not amy's group
    assert _shortcuts(client, h["sue"]) == ["tk"]  # supervisors see every team's
    assert client.patch(f"{URL}/{tid}", headers=h["bob"], json={"title": "改"}).status_code == 403
    assert client.delete(f"{URL}/{tid}", headers=h["bob"]).status_code == 403
    renamed = client.patch(f"{URL}/{tid}", headers=h["sue"], json={"title": "退款到账时间"})
    assert renamed.status_code == 200 and renamed.json()["title"] == "退款到账时间"
    # personal snippets come first, then the team's
    client.post(URL, headers=h["bob"], json={"shortcut": "zz", "title": "我的", "text": "我的话术"})
    assert _shortcuts(client, h["bob"]) == ["zz", "tk"]
    assert client.delete(f"{URL}/{tid}", headers=h["sue"]).status_code == 204


def test_bad_snippets_are_refused_with_a_reason(api: Any) -> None:
    client, h, _ = api
    ok = {"shortcut": "hi", "title": "问候", "text": "您好"}
    for bad in ({**ok, "shortcut": "有 空格"}, {**ok, "shortcut": ""}, {**ok, "shortcut": "x" * 33},
                {**ok, "text": "   "}, {**ok, "text": "好" * 2001}, {**ok, "title": ""},
                {**ok, "scope": "team"}, {**ok, "skill": "warehouse"}, {**ok, "extra": 1}):
        res = client.post(URL, headers=h["sue"], json=bad)
        assert res.status_code == 422, (bad, res.text)
    assert "skill group" in client.post(URL, headers=h["sue"], json={**ok, "scope": "team"}).json()["detail"]
    assert client.post(URL, headers=h["amy"], json={**ok, "skill": "general"}).status_code == 422
    assert client.get(URL, headers=h["cat"]).status_code == 403  # content staff hold no conversations
    assert client.get(URL).status_code == 401
    assert client.patch(f"{URL}/999", headers=h["amy"], json={"title": "x"}).status_code == 404
    assert client.delete(f"{URL}/0", headers=h["amy"]).status_code == 422


def test_demo_snippets_are_polite_team_snippets(api: Any) -> None:
    client, h, sessions = api
    assert seed_demo_canned(sessions) == len(DEMO_CANNED)
    assert seed_demo_canned(sessions) == 0  # once
    bob = client.get(URL, headers=h["bob"]).json()
    assert {r["skill"] for r in bob} == {"after_sales", "general"}
    assert all(r["scope"] == "team" and ("您" in r["text"]) for r in bob)
