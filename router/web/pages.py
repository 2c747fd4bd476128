"""The web pages served by the router: shopper chat widget (``/widget.js``, ``/chat/embed``, demo shop ``/chat``),
agent console (``/agent``), FAQ admin (``/admin/faq``) and KPI dashboard (``/dashboard``).

Pages are static HTML + plain JS/CSS from this package (no CDN, no build step): they talk to the JSON APIs with the
bearer token of the logged-in user. Every page gets a strict Content-Security-Policy (scripts and styles from this
origin only), so even a rendering mistake cannot run a shopper's ``<script>``.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from router.errors import KefuError
from router.identity.demo import WIDGET_TAG, demo_signed_widget
from router.web.persona import bot_name

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES = WEB_DIR / "templates"
STATIC = WEB_DIR / "static"
router = APIRouter(include_in_schema=False, tags=["web"])

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-src 'self'; frame-ancestors {ancestors}"
)
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
          ".png": "image/png", ".ico": "image/x-icon", ".txt": "text/plain; charset=utf-8"}


class StaticFileNotFound(KefuError):
    status = 404
    message_zh = "找不到该文件。"

    def __init__(self) -> None:
        super().__init__("not found")


def _headers(*, embeddable: bool = False) -> dict[str, str]:
    return {
        "Content-Security-Policy": _CSP.format(ancestors="*" if embeddable else "'self'"),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }


def _html(name: str) -> str:
    """A page of ``templates/``; ``{{bot_name}}`` in it becomes the bot's name (router/web/persona.py)."""
    return (TEMPLATES / name).read_text(encoding="utf-8").replace("{{bot_name}}", escape(bot_name()))


def _page(name: str, *, embeddable: bool = False) -> HTMLResponse:
    return HTMLResponse(_html(name), headers=_headers(embeddable=embeddable))


@router.get("/chat")
def demo_shop(request: Request, as_: Annotated[str | None, Query(alias="as")] = None) -> HTMLResponse:
    """A demo shop page with the chat widget embedded exactly as a merchant would embed it. In dev mode,
    ``/chat?as=c0001`` plays the shop's server: it signs that demo customer (identity hash) into the widget."""
    signed = demo_signed_widget(request.app, as_) if as_ else None
    if signed is None:
        return _page("shop.html")
    return HTMLResponse(_html("shop.html").replace(WIDGET_TAG, signed), headers=_headers())


@router.get("/chat/embed")
def chat_embed() -> HTMLResponse:
    """The chat itself, shown inside the widget's iframe on any shop page (hence embeddable anywhere)."""
    return _page("chat.html", embeddable=True)


# the browser asks every page's site for /favicon.ico: answer with the brand mark instead of a 404 in the console
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#1677ff"/>'
    '<text x="32" y="44" font-size="34" text-anchor="middle" fill="#fff" font-family="sans-serif">客</text></svg>'
)


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


@router.get("/widget.js")
def widget_js() -> FileResponse:
    """The embed script: ``<script src="https://kefu.example.com/widget.js" async></script>``."""
    return FileResponse(STATIC / "widget.js", media_type=_TYPES[".js"],
                        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"})


@router.get("/agent")
def agent_console() -> HTMLResponse:
    return _page("agent.html")


@router.get("/admin/faq")
def faq_admin() -> HTMLResponse:
    return _page("faq_admin.html")


@router.get("/dashboard")
def dashboard() -> HTMLResponse:
    return _page("dashboard.html")


@router.get("/agent/reviews")
def my_reviews() -> HTMLResponse:
    return _page("my_reviews.html")


@router.get("/supervisor")
def supervisor() -> HTMLResponse:
    return _page("supervisor.html")


@router.get("/admin/team")
def team() -> HTMLResponse:
    return _page("team.html")


@router.get("/admin")
def admin_home() -> RedirectResponse:
    return RedirectResponse("/admin/faq")


@router.get("/static/web/{path:path}")
def static_file(path: str) -> FileResponse:
    """Files of ``router/web/static`` (only those: no path may leave the directory)."""
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file() or target.suffix not in _TYPES:
        raise StaticFileNotFound()
    return FileResponse(target, media_type=_TYPES[target.suffix], headers={"Cache-Control": "no-cache",
                                                                            "X-Content-Type-Options": "nosniff"})
