"""Demo team snippets for `make run` (dev mode), written with the demo accounts when the table is empty."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from router.canned.models import CannedReply
from router.clock import utcnow
from router.db import session_scope

# (skill group, shortcut, title, text)
DEMO_CANNED: list[tuple[str, str, str, str]] = [
    ("general", "hi", "问候", "您好，很高兴为您服务，请问有什么可以帮您？"),
    ("general", "wait", "请稍候", "好的，麻烦您稍等一下，我马上为您查询。"),
    ("general", "thx", "结束语", "感谢您的耐心等待，祝您生活愉快！如还有其他问题，随时联系我们。"),
    ("after_sales", "tk", "退款时效", "退款已为您提交，审核通过后原路退回，一般 1-3 个工作日到账，请您留意。"),
    ("after_sales", "th", "退货流程", "您可以在「我的订单」中申请退货，审核通过后按页面提示寄回商品即可。"),
    ("logistics", "wl", "物流查询", "已为您联系快递核实物流进度，有结果会第一时间告诉您，给您带来不便非常抱歉。"),
    ("billing", "fp", "发票开具", "电子发票会在订单完成后 24 小时内发送到您的邮箱，也可以在订单详情中下载。"),
]


def seed_demo_canned(sessions: sessionmaker[Session]) -> int:
    """Write :data:`DEMO_CANNED` as team snippets unless there are snippets already; returns how many were added."""
    with session_scope(sessions) as s:
        if s.scalar(select(func.count()).select_from(CannedReply)):
            return 0
        now = utcnow()
        for skill, shortcut, title, text in DEMO_CANNED:
            s.add(
                CannedReply(
                    scope="team", skill=skill, owner_id=None, shortcut=shortcut, title=title, text=text,
                    created_by=None, created_at=now, updated_at=now,
                )
            )
    return len(DEMO_CANNED)
