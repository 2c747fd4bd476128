"""Domain errors of the reports; the app's one error handler (router/errors.py) answers them."""

from __future__ import annotations

from router.errors import KefuError


class InvalidRange(KefuError):
    """A report's time range that is empty, reversed or longer than a year."""

    status = 422
    message_zh = "时间范围无效。"
