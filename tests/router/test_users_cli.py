"""``kefu user add``: the account exists in the database afterwards and can log in; bad input is refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from router.auth import AuthError, authenticate
from router.cli import app
from router.db import make_engine, make_session_factory
from router.settings import get_settings


@pytest.fixture()
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'users.db'}"
    monkeypatch.setenv("KEFU_ROUTER_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_add_user_then_login(db_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["user", "add", "zhao", "--role", "supervisor", "--skill", "vip=5", "--skill", "general=3",
              "--password-stdin"], input="a-long-secret\n",
    )
    assert result.exit_code == 0, result.output
    sessions = make_session_factory(make_engine(db_url))
    who = authenticate(sessions, "zhao", "a-long-secret")
    assert who.role == "supervisor"
    with pytest.raises(AuthError):
        authenticate(sessions, "zhao", "wrong-secret")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--skill", "vip"], "a-long-secret\n", "NAME=LEVEL"),
        (["--role", "boss"], "a-long-secret\n", "role must be one of"),
        ([], "short\n", "at least 8 characters"),
    ],
)
def test_bad_input_is_refused(db_url: str, args: list[str], stdin: str, message: str) -> None:
    result = CliRunner().invoke(app, ["user", "add", "qian", *args, "--password-stdin"], input=stdin)
    assert result.exit_code == 2 and message in result.output, result.output


def test_duplicate_user_is_refused(db_url: str) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["user", "add", "sun", "--password-stdin"], input="a-long-secret\n").exit_code == 0
    again = runner.invoke(app, ["user", "add", "sun", "--password-stdin"], input="a-long-secret\n")
    assert again.exit_code == 2 and "exists already" in again.output
