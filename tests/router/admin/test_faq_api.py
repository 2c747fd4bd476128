"""The FAQ admin API through a real app: roles, edits with history, diff, rollback, duplicates, import/export,
"try a question" and publish with a real knowledge base re-indexed live."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from knowledge_base.service import KnowledgeBase
from router.admin.transfer import export_csv, read_table

pytestmark = pytest.mark.slow
API = "/api/v1/admin/faq"


def _entry(client: TestClient, headers: dict[str, str], entry_id: str) -> dict:
    res = client.get(f"{API}/entries/{entry_id}", headers=headers)
    assert res.status_code == 200, res.text
    return res.json()


def _editable(entry: dict) -> dict:
    return {k: entry[k] for k in ("category", "question", "paraphrases", "answer", "tags")}


def test_roles_agents_and_anonymous_cannot_touch_the_faq(client: TestClient, agent: dict[str, str]) -> None:
    assert client.get(f"{API}/entries").status_code == 401
    assert client.get(f"{API}/entries", headers=agent).status_code == 403
    body = {"category": "general", "question": "测试问题？", "answer": "测试答案。"}
    assert client.put(f"{API}/entries/refund_time", json=body, headers=agent).status_code == 403
    assert client.post(f"{API}/publish", headers=agent).status_code == 403


def test_list_search_and_filter(client: TestClient, editor: dict[str, str], kb: KnowledgeBase) -> None:
    everything = client.get(f"{API}/entries", headers=editor).json()
    assert everything["total"] == len(kb.store.entries()) == len(everything["entries"])
    assert "after_sales" in everything["categories"]
    found = client.get(f"{API}/entries", params={"q": "发票"}, headers=editor).json()["entries"]
    assert found and all("发票" in "".join([e["question"], e["answer"], *e["paraphrases"], *e["tags"]]) for e in found)
    logistics = client.get(f"{API}/entries", params={"category": "logistics"}, headers=editor).json()["entries"]
    assert logistics and {e["category"] for e in logistics} == {"logistics"}
    assert client.get(f"{API}/entries/no_such_entry", headers=editor).status_code == 404


def test_edit_answer_goes_live_and_history_diff_rollback(
    client: TestClient, editor: dict[str, str], kb: KnowledgeBase
) -> None:
    before = _entry(client, editor, "refund_time")
    new_answer = "您好，退款审核通过后 1-3 个工作日原路退回，请留意账户变动。"
    res = client.put(f"{API}/entries/refund_time", headers=editor,
                     json={**_editable(before), "answer": new_answer, "version": before["version"]})
    assert res.status_code == 200, res.text
    assert res.json()["entry"]["version"] == before["version"] + 1
    # the corpus in the database changed, with its version bumped
    on_disk = {e.id: e for e in kb.store.entries()}["refund_time"]
    assert on_disk.answer == new_answer and on_disk.version == before["version"] + 1

    published = client.post(f"{API}/publish", headers=editor).json()
    assert published["in_sync"] is True
    tried = client.post(f"{API}/try", json={"question": "退款多久能到账"}, headers=editor).json()
    assert tried["top"][0]["id"] == "refund_time" and tried["top"][0]["answer"] == new_answer
    assert len(tried["top"]) == 3 and tried["top"][0]["score"] >= tried["top"][1]["score"]
    assert kb.ask("退款多久能到账").hit.answer == new_answer  # type: ignore[union-attr]

    # a stale editor (old version) is refused instead of silently overwriting
    stale = client.put(f"{API}/entries/refund_time", headers=editor,
                       json={**_editable(before), "answer": "过期的编辑", "version": before["version"]})
    assert stale.status_code == 409 and stale.json()["code"] == "FaqVersionConflict"
    assert stale.json()["context"]["expected"] == before["version"] and "刷新" in stale.json()["message"]

    history = client.get(f"{API}/entries/refund_time/history", headers=editor).json()
    assert [r["action"] for r in history] == ["baseline", "update"]
    assert history[0]["entry"]["answer"] == before["answer"] and history[1]["user"] == "editor"
    diff = client.get(f"{API}/entries/refund_time/diff", params={"from_rev": 1, "to_rev": 2}, headers=editor).json()
    assert [d["field"] for d in diff] == ["answer"]
    inserted = "".join(c["text"] for c in diff[0]["changes"] if c["op"] == "insert")
    assert "1-3 个工作日" in inserted

    rolled = client.post(f"{API}/entries/refund_time/rollback", json={"rev": 1}, headers=editor)
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["entry"]["answer"] == before["answer"]
    assert rolled.json()["entry"]["version"] == before["version"] + 2
    assert client.get(f"{API}/entries/refund_time/diff", params={"from_rev": 1}, headers=editor).json() == []


def test_create_paraphrases_delete_and_restore(client: TestClient, editor: dict[str, str], kb: KnowledgeBase) -> None:
    body = {"id": "engraving_custom", "category": "product", "question": "可以给商品刻字吗？",
            "paraphrases": ["能定制刻字吗", "刻名字要加钱吗"],
            "answer": "您好，部分首饰和钢笔支持免费刻字，下单时在备注里写明内容即可。", "tags": ["定制"]}
    res = client.post(f"{API}/entries", json=body, headers=editor)
    assert res.status_code == 201, res.text
    assert client.post(f"{API}/entries", json=body, headers=editor).status_code == 409
    bad = client.post(f"{API}/entries", json={**body, "id": "Bad Id!"}, headers=editor)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "id"

    entry = _entry(client, editor, "engraving_custom")
    entry["paraphrases"].append("戒指内圈能刻英文名吗")
    res = client.put(f"{API}/entries/engraving_custom", json=_editable(entry), headers=editor)
    assert res.status_code == 200 and "戒指内圈能刻英文名吗" in res.json()["entry"]["paraphrases"]
    client.post(f"{API}/publish", headers=editor)
    assert kb.entry("engraving_custom") is not None
    assert kb.search("戒指内圈能刻英文名吗", 1)[0].id == "engraving_custom"

    assert client.delete(f"{API}/entries/engraving_custom", headers=editor).status_code == 204
    assert client.get(f"{API}/entries/engraving_custom", headers=editor).status_code == 404
    client.post(f"{API}/publish", headers=editor)
    assert kb.entry("engraving_custom") is None
    history = client.get(f"{API}/entries/engraving_custom/history", headers=editor).json()
    assert [r["action"] for r in history] == ["create", "update", "delete"]
    restored = client.post(f"{API}/entries/engraving_custom/rollback", json={"rev": 2}, headers=editor)
    assert restored.status_code == 200, restored.text
    assert "戒指内圈能刻英文名吗" in _entry(client, editor, "engraving_custom")["paraphrases"]
    assert client.post(f"{API}/entries/engraving_custom/rollback", json={"rev": 3}, headers=editor).status_code == 422


def test_near_duplicate_questions_are_flagged(client: TestClient, editor: dict[str, str]) -> None:
    other = _entry(client, editor, "refund_time")
    body = {"entry_id": "new_entry", "sentences": [other["question"], "你们卖不卖宠物狗粮"]}
    warnings = client.post(f"{API}/duplicates/check", headers=editor, json=body).json()
    assert any(w["other_id"] == "refund_time" and w["similarity"] >= 0.9 for w in warnings)
    assert not any(w["sentence"] == "你们卖不卖宠物狗粮" for w in warnings)
    # the entry's own sentences are not duplicates of itself
    own = client.post(f"{API}/duplicates/check", headers=editor,
                      json={"entry_id": "refund_time", "sentences": [other["question"]]}).json()
    assert not any(w["other_id"] == "refund_time" for w in own)
    for w in client.get(f"{API}/duplicates", headers=editor).json():
        assert w["entry_id"] != w["other_id"] and w["similarity"] >= 0.9


def test_export_then_import_csv_and_xlsx(client: TestClient, editor: dict[str, str], kb: KnowledgeBase) -> None:
    csv_res = client.get(f"{API}/export", params={"format": "csv"}, headers=editor)
    assert csv_res.status_code == 200 and csv_res.content.startswith("\ufeff".encode())
    rows = read_table(csv_res.content, filename="faq.csv")
    assert len(rows) == len(kb.store.entries())
    unchanged = client.post(f"{API}/import", headers=editor, files={"file": ("faq.csv", csv_res.content, "text/csv")})
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["created"] == [] and unchanged.json()["updated"] == []

    xlsx_res = client.get(f"{API}/export", params={"format": "xlsx"}, headers=editor)
    wb = load_workbook(io.BytesIO(xlsx_res.content))
    ws = wb.active
    assert ws is not None
    header = [c.value for c in ws[1]]
    edited_id = ws.cell(row=2, column=header.index("id") + 1).value
    ws.cell(row=2, column=header.index("answer") + 1).value = "您好，订单完成后在“我的订单”中申请即可，感谢您的耐心。"
    ws.append(["night_delivery_test", "logistics", "晚上能送货吗？", "晚上几点前能送到\n夜间配送有吗",
               "您好，部分城市支持夜间配送。", "配送，夜间"])
    buf = io.BytesIO()
    wb.save(buf)
    res = client.post(f"{API}/import", headers=editor, files={"file": ("faq.xlsx", buf.getvalue(), "application/x")})
    assert res.status_code == 200, res.text
    assert res.json()["created"] == ["night_delivery_test"]
    assert res.json()["updated"] == [edited_id]
    entries = {e.id: e for e in kb.store.entries()}
    assert entries["night_delivery_test"].paraphrases == ["晚上几点前能送到", "夜间配送有吗"]
    assert entries["night_delivery_test"].tags == ["配送", "夜间"]
    history = client.get(f"{API}/entries/night_delivery_test/history", headers=editor).json()
    assert history[-1]["action"] == "import" and history[-1]["note"] == "faq.xlsx"


def test_import_is_all_or_nothing(client: TestClient, editor: dict[str, str], kb: KnowledgeBase) -> None:
    before = kb.store.entries()
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["id", "category", "question", "paraphrases", "answer", "tags"])
    ws.append(["good_row", "general", "这是一个好问题吗？", "", "是的，这是好问题。", ""])
    ws.append(["bad_row", "general", "答案为空的问题？", "", "", ""])
    ws.append(["good_row", "general", "重复的 id？", "", "重复了。", ""])
    buf = io.BytesIO()
    wb.save(buf)
    res = client.post(f"{API}/import", headers=editor, files={"file": ("bad.xlsx", buf.getvalue(), "application/x")})
    assert res.status_code == 422
    errors = res.json()["errors"]
    assert {(e["row"], e["field"]) for e in errors} == {(3, "answer"), (4, "id")}
    assert kb.store.entries() == before
    wrong = client.post(f"{API}/import", headers=editor, files={"file": ("faq.txt", b"hello", "text/plain")})
    assert wrong.status_code == 422
    no_cols = client.post(f"{API}/import", headers=editor, files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")})
    assert no_cols.status_code == 422 and "缺少必需的列" in no_cols.json()["message"]


def test_csv_export_neutralises_formulas() -> None:
    from datetime import UTC, datetime

    from knowledge_base.corpus import FaqEntry

    entry = FaqEntry(id="formula_q", category="general", question="=HYPERLINK(\"http://x\")", answer="+1 答案",
                     updated_at=datetime.now(UTC))
    text = export_csv([entry]).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+1 答案" in text
    (_, raw), = read_table(export_csv([entry]), filename="x.csv")
    assert raw["question"].startswith("=HYPERLINK") and raw["answer"] == "+1 答案"
