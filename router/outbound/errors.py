"""Domain errors of outbound delivery; the app's one error handler (router/errors.py) answers them."""

from __future__ import annotations

from router.errors import KefuError


class OutboundError(KefuError):
    message_zh = "投递设置操作未能完成，请稍后再试。"


class UnsafeUrl(OutboundError):
    """A callback URL the router refuses to call (scheme, credentials, private address)."""

    status = 422
    message_zh = "回调地址不可用：请使用可公网访问的 https 地址，且地址中不要包含账号密码。"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"callback URL refused: {reason}", reason=reason)
        self.url = url
        self.reason = reason


class UnknownChannel(OutboundError):
    status = 404
    message_zh = "找不到该渠道的回调设置或投递记录。"


class NotRetryable(OutboundError):
    """Only a dead-lettered delivery can be sent again."""

    status = 409
    message_zh = "只有投递失败（死信）的消息可以重新投递。"


class DeliveryNotFound(OutboundError):
    status = 404
    message_zh = "找不到该投递记录。"

    def __init__(self, outbound_id: int) -> None:
        super().__init__("no such delivery", outbound_id=outbound_id)
