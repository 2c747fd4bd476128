"""``kefu user``: create accounts from the command line (the first supervisor of a new deployment, scripted set-ups).

The password is read from standard input (or typed at a prompt), never from the command line, where it would end up
in the shell history and the process list.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from router.auth import ROLES, UserExists, create_user
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from router.settings import get_settings

app = typer.Typer(help="Accounts of agents, content staff, supervisors and admins.", no_args_is_help=True)


def _skills(pairs: list[str]) -> dict[str, int]:
    skills: dict[str, int] = {}
    for pair in pairs:
        name, sep, level = pair.partition("=")
        if not sep or not name or not level.isdigit():
            raise typer.BadParameter(f"{pair!r}: write a skill as NAME=LEVEL, e.g. after_sales=5")
        skills[name] = int(level)
    return skills


@app.command("add")
def add(
    username: str,
    role: Annotated[str, typer.Option(help=f"one of {', '.join(ROLES)}")] = "agent",
    display_name: Annotated[str | None, typer.Option(help="the name shoppers and colleagues see")] = None,
    skill: Annotated[list[str] | None, typer.Option(help="NAME=LEVEL (1-5); repeat for more skills")] = None,
    capacity: Annotated[int, typer.Option(help="concurrent chats")] = 3,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Create a user in the router's database (migrating it first if it is new)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    url = get_settings().database_url
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    try:
        user_id = create_user(
            sessions, username=username, password=password, display_name=display_name, role=role,
            skills=_skills(skill or []), capacity={"chat": capacity},
        )
    except (ValueError, UserExists) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"created {role} {username} (id {user_id})")
