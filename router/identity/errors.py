"""Identity errors: English ``message`` for integrators (the JSON ``detail``), Chinese ``message_zh`` for the widget.

They derive from :class:`router.auth.AuthError`, so the app's one error handler (router/errors.py) turns them into
401 / 403 / 404 with ``{"detail", "code", "message"}``.
A wrong owner is a 404 on purpose: it does not confirm that the id exists.
"""

from __future__ import annotations

from router.auth import AuthError


class ShopperAuthError(AuthError):
    """Missing, unknown, forged or expired shopper credentials (HTTP 401)."""

    status = 401
    message_zh = "会话已失效，请刷新页面后重新开始咨询。"

    def __init__(self, message: str = "missing or invalid shopper credentials", message_zh: str | None = None) -> None:
        super().__init__(message)
        if message_zh is not None:
            self.message_zh = message_zh


class IdentityNotVerified(ShopperAuthError):
    """A claimed customer id without a valid identity hash (HTTP 401): never trusted."""

    message_zh = "无法验证您的登录身份，请重新登录商城后再咨询。"


class WrongChannelKey(ShopperAuthError):
    """A valid key, but of another channel (HTTP 403)."""

    status = 403
    message_zh = "接入密钥与渠道不匹配。"


class NotYours(AuthError):
    """The conversation or customer does not exist, or is not the caller's (HTTP 404, the same answer for both)."""

    status = 404
    message_zh = "没有找到这个会话。"

    def __init__(self, what: str = "conversation") -> None:
        super().__init__(f"{what} not found")


class ReservedCustomerId(AuthError):
    """Ids of anonymous visitors cannot be claimed (HTTP 403)."""

    status = 403
    message_zh = "该用户标识不可使用。"

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"ids starting with 'anon:' or 'erased:' are reserved ({customer_id!r})")
