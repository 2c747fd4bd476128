from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from router.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()
DEV = Path(__file__).resolve().parents[3] / "router" / "eval" / "sentiment_dev.tsv"


def test_default_command_scores_text(model_path: Path) -> None:
    result = runner.invoke(app, ["sentiment", "我要投诉你们", "--json", "--model", str(model_path)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["label"] == "angry"
    assert {"label", "score"} <= set(payload) and 0.0 <= payload["score"] <= 1.0


def test_options_before_text_and_explicit_score(model_path: Path) -> None:
    first = runner.invoke(app, ["sentiment", "--json", "请问退款多久到账", "--model", str(model_path)])
    explicit = runner.invoke(app, ["sentiment", "score", "请问退款多久到账", "--json", "--model", str(model_path)])
    assert first.exit_code == 0 and explicit.exit_code == 0, first.output + explicit.output
    assert json.loads(first.stdout) == json.loads(explicit.stdout)
    assert json.loads(first.stdout)["label"] == "neutral"


def test_plain_output_and_explain(model_path: Path) -> None:
    result = runner.invoke(app, ["sentiment", "骗子！！！", "--explain", "--model", str(model_path)])
    assert result.exit_code == 0
    assert "label: angry" in result.stdout and "lexicon:骗子" in result.stdout


def test_eval_json(model_path: Path) -> None:
    result = runner.invoke(app, ["sentiment", "eval", str(DEV), "--json", "--model", str(model_path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert {"angry_recall", "false_alarm_rate", "accuracy", "n"} <= set(metrics)
    assert metrics["n"] >= 200


def test_eval_bad_file(model_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\n你好\tfurious\n", encoding="utf-8")
    result = runner.invoke(app, ["sentiment", "eval", str(bad), "--model", str(model_path)])
    assert result.exit_code == 2
    assert "furious" in result.stderr


def test_missing_model_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sentiment", "你好", "--model", str(tmp_path / "none.joblib")])
    assert result.exit_code == 2
    assert "kefu sentiment train" in result.stderr


def test_train_without_data_fails_clearly(tmp_path: Path) -> None:
    out = tmp_path / "m.joblib"
    result = runner.invoke(app, ["sentiment", "train", "--out", str(out), "--datasets", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "data set not found" in result.stderr and "KEFU_DATASETS" in result.stderr
    assert not out.exists()


def test_help_lists_subcommands() -> None:
    result = runner.invoke(app, ["sentiment", "--help"])
    assert result.exit_code == 0
    assert "score" in result.stdout and "eval" in result.stdout and "train" in result.stdout
