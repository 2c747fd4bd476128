"""Domain errors of tickets; the app's one error handler (router/errors.py) answers them with ``status``, the English
message and the Chinese ``message_zh`` the agent console shows."""

from __future__ import annotations

from router.errors import KefuError


class TicketError(KefuError):
    message_zh = "工单操作未能完成，请稍后再试。"


class TicketNotFound(TicketError):
    status = 404
    message_zh = "该工单不存在或您无权查看。"

    def __init__(self, ticket_id: int | str) -> None:
        super().__init__(f"ticket {ticket_id} not found", ticket_id=ticket_id)


class InvalidTransition(TicketError):
    status = 409
    message_zh = "工单当前的状态不能改为所选状态，请刷新后再试。"

    def __init__(self, ticket_id: int, current: str, target: str) -> None:
        super().__init__(f"ticket {ticket_id} cannot go from {current} to {target}", current=current, target=target)


class InvalidTicket(TicketError):
    status = 422
    message_zh = "工单内容有误（例如关联的会话或处理人不存在，或尚未指派处理人），请检查后再试。"


class NoEligibleAgent(TicketError):
    status = 409
    message_zh = "该类工单目前没有可以处理的客服。"

    def __init__(self, category: str) -> None:
        super().__init__(f"no active agent can take {category} tickets", category=category)


class NotAllowed(TicketError):
    status = 403
    message_zh = "只有处理人或主管可以修改该工单。"
