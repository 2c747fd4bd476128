from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from knowledge_base.cli import app
from knowledge_base.settings import get_kb_settings

from .conftest import small_settings


@pytest.fixture()
def cli_env(small_corpus: Path, shared_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    s = small_settings(shared_home, small_corpus)
    monkeypatch.setenv("KEFU_KB_HOME", str(s.home))
    monkeypatch.setenv("KEFU_KB_CORPUS_DIR", str(s.corpus_dir))
    monkeypatch.delenv("KEFU_KB_NEGATIVES_FILE", raising=False)
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
