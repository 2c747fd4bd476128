from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from knowledge_base.cli import app
from knowledge_base.corpus import load_corpus, load_file, save_file
from knowledge_base.settings import get_kb_settings
from knowledge_base.sql_store import SqlCorpusStore
from knowledge_base.stores import open_store

from .conftest import small_settings


@pytest.fixture()
def cli_env(small_corpus: Path, shared_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    s = small_settings(shared_home, small_corpus)
    monkeypatch.setenv("KEFU_KB_HOME", str(s.home))
    monkeypatch.setenv("KEFU_KB_CORPUS_DIR", str(s.corpus_dir))
    monkeypatch.delenv("KEFU_KB_NEGATIVES_FILE", raising=False)
    monkeypatch.setenv("KEFU_KB_STORE", "yaml")
    get_kb_settings.cache_clear()
    yield small_corpus
    get_kb_settings.cache_clear()


def test_build_ask_eval_json(cli_env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["build"])
    assert r.exit_code == 0, r.output
    assert "8 entries" in r.output
    r = runner.invoke(app, ["ask", "发票怎么开", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out) == {"id", "score", "decision", "answer", "alternatives"}
    assert out["id"] == "invoice_apply" and out["decision"] in ("answer", "clarify") and out["answer"]
    r = runner.invoke(app, ["ask", "今天天气怎么样", "--json"])
    out = json.loads(r.stdout)
    assert out["decision"] == "decline" and out["id"] is None and out["answer"] is None
    tsv = tmp_path / "e.tsv"
    tsv.write_text("query\texpected\n密码忘了咋办\tpassword_reset\n快递到哪儿了\tlogistics_track\n讲个笑话\toff_topic\n",
                   encoding="utf-8")
    r = runner.invoke(app, ["eval", str(tsv), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("top1_accuracy", "top3_accuracy", "off_topic_decline_rate", "latency_ms_p50", "latency_ms_p99"):
        assert key in res
    assert res["n_in_scope"] == 2 and res["n_off_topic"] == 1


def test_cli_bad_input(cli_env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["eval", str(tmp_path / "missing.tsv")]).exit_code == 2
    bad = tmp_path / "bad.tsv"
    bad.write_text("q\tx\nfoo\tbar\n", encoding="utf-8")
    r = runner.invoke(app, ["eval", str(bad)])
    assert r.exit_code == 2 and "query" in r.output
    unknown = tmp_path / "unknown.tsv"
    unknown.write_text("query\texpected\nfoo\tno_such_id\n", encoding="utf-8")
    r = runner.invoke(app, ["eval", str(unknown)])
    assert r.exit_code == 2 and "no_such_id" in r.output
    assert runner.invoke(app, ["ask", "x", "--mode", "magic"]).exit_code == 2
    assert runner.invoke(app, ["ask", "  "]).exit_code == 2
    (cli_env / "a.yml").write_text("entries: [{id: BAD}]", encoding="utf-8")
    r = runner.invoke(app, ["build"])
    assert r.exit_code == 2 and "corpus error" in r.output


def test_build_export_import_with_the_database_store(cli_env: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`kefu kb build` seeds an empty database from the YAML corpus; export writes YAML, import brings an edited
    copy back (history noted), and the seed directory is only ever read."""
    monkeypatch.setenv("KEFU_KB_STORE", "sql")
    monkeypatch.setenv("KEFU_KB_DATABASE_URL", f"sqlite:///{tmp_path / 'kefu.db'}")
    get_kb_settings.cache_clear()
    seed = {p.name: p.read_bytes() for p in cli_env.glob("*.yml")}
    runner = CliRunner()
    r = runner.invoke(app, ["build"])
    assert r.exit_code == 0, r.output
    assert "8 entries" in r.output and "corpus sql:sqlite" in r.output
    out = tmp_path / "export"
    r = runner.invoke(app, ["export", str(out)])
    assert r.exit_code == 0 and "exported 8 entries" in r.output, r.output
    exported = load_corpus(out)
    assert sorted(e.id for e in exported) == sorted(e.id for e in load_corpus(cli_env))
    # edit one answer in the exported YAML and import it back
    coupon = next(e for e in exported if e.id == "coupon_use")
    path = next(p for p in out.glob("*.yml") if any(e.id == "coupon_use" for e in load_file(p)))
    new_answer = {"answer": "您好，优惠券在结算页自动使用（导入）。"}
    save_file(path, [e.model_copy(update=new_answer) if e.id == coupon.id else e for e in load_file(path)])
    r = runner.invoke(app, ["import", str(out), "--user", "ops"])
    assert r.exit_code == 0 and "created 0, updated 1, unchanged 7, deleted 0" in r.output, r.output
    store = open_store(get_kb_settings())
    assert isinstance(store, SqlCorpusStore)
    assert store.get("coupon_use").answer.endswith("（导入）。")  # type: ignore[union-attr]
    assert [(h.action, h.user) for h in store.history("coupon_use")] == [("baseline", "corpus"), ("import", "ops")]
    r = runner.invoke(app, ["ask", "优惠券怎么用", "--json"])
    assert json.loads(r.stdout)["answer"].endswith("（导入）。")
    # a broken import changes nothing; a missing source is a clear error
    (out / "bad.yml").write_text("entries: [{id: BAD}]", encoding="utf-8")
    r = runner.invoke(app, ["import", str(out)])
    assert r.exit_code == 2 and "corpus error" in r.output
    assert runner.invoke(app, ["import", str(tmp_path / "nope")]).exit_code == 2
    assert {p.name: p.read_bytes() for p in cli_env.glob("*.yml")} == seed
    store.close()
