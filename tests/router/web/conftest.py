"""Browser tests: the real stack (action server, Rasa server, router with gateway and web pages) on free loopback ports,
a private database holding the FAQ corpus (seeded from the repository's YAML), and Debian's Chromium driven by
Playwright."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.auth import create_user
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from shop.settings import DEFAULT_DB as DEMO_DB
from tests.e2e.helpers import credentials_env, shop_credentials
from tests.procs import APP_PY, RASA_MODEL, RASA_TOKEN, ROOT, kb_env, start_action_server, start_rasa, start_router
from tests.router.web.helpers import PASSWORD, WebStack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
USERS: list[dict[str, Any]] = [
    {"username": "xiaowang", "display_name": "小王", "role": "agent",
     "skills": {"general": 5, "after_sales": 5, "logistics": 5, "billing": 5, "product": 5, "vip": 5}},
    {"username": "xiaoli", "display_name": "小李", "role": "agent", "skills": {"after_sales": 5, "general": 2}},
    {"username": "editor", "display_name": "内容小周", "role": "content"},
    {"username": "boss", "display_name": "值班主管", "role": "supervisor", "skills": {"general": 3}},
]


@pytest.fixture(scope="module")
def web_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web")


@pytest.fixture(scope="module")
def web_stack(web_dir: Path) -> Iterator[WebStack]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run scripts/ensure_chromium.sh (make test does)")
    if not RASA_MODEL.exists():
        pytest.fail(f"no trained Rasa model at {RASA_MODEL}: run `make setup` (make test does)")
    orders_db = web_dir / "orders.db"
    if DEMO_DB.exists():
        shutil.copy(DEMO_DB, orders_db)
    else:
        subprocess.run([str(APP_PY), "-m", "router.cli", "demo", "seed", "--db", str(orders_db)], check=True, cwd=ROOT)
    # both processes answer from the corpus in the router's database; each re-indexes on its own when the admin
    # edits it (they poll the corpus revision: no Redis here)
    db_url = f"sqlite:///{web_dir / 'router.db'}"
    kb = {**kb_env(db_url), "KEFU_KB_RELOAD_POLL_S": "0.5"}
    actions = start_action_server(log_dir=web_dir, orders_db_url=f"sqlite:///{orders_db}", env=kb)
    rasa = None
    router = None
    try:
        rasa = start_rasa(log_dir=web_dir, action_url=actions.url)
        upgrade(db_url)
        engine = make_engine(db_url)
        sessions = make_session_factory(engine)
        for user in USERS:
            create_user(sessions, password=PASSWORD, **user)
        engine.dispose()
        credentials = shop_credentials(db_url)
        router = start_router(log_dir=web_dir, env={
            **credentials_env(credentials),
            "KEFU_ROUTER_DATABASE_URL": db_url, "KEFU_ROUTER_RASA_URL": rasa.url, "KEFU_ROUTER_RASA_TOKEN": RASA_TOKEN,
            "KEFU_ROUTER_RASA_TIMEOUT_S": "30", "KEFU_ROUTER_OFFER_TIMEOUT_S": "60",
            "KEFU_ACTIONS_ORDERS_DB_URL": f"sqlite:///{orders_db}", **kb,
        })
        http = httpx.Client(base_url=router.url, timeout=120)
        stack = WebStack(url=router.url, router=router, http=http, credentials=credentials)
        # load the router's knowledge base once (encoder + index) so the first page does not wait for it
        token = stack.login("editor")
        res = http.post("/api/v1/admin/faq/try", json={"question": "退款多久到账"},
                        headers={"Authorization": f"Bearer {token}"})
        assert res.status_code == 200, res.text
        yield stack
        http.close()
    finally:
        for proc in (router, rasa, actions):
            if proc is not None:
                proc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """A factory of pages, each in its own browser context (separate storage: a shopper, an agent, an editor)."""
    contexts = []

    def make(width: int = 1280, height: int = 800) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        return page

    yield make
    for context in contexts:
        context.close()


