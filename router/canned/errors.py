"""Domain errors of canned replies; the app's one error handler (router/errors.py) answers them."""

from __future__ import annotations

from router.errors import KefuError


class CannedError(KefuError):
    message_zh = "快捷回复操作未能完成，请稍后再试。"


class CannedNotFound(CannedError):
    status = 404
    message_zh = "找不到这条快捷回复。"

    def __init__(self, canned_id: int) -> None:
        super().__init__(f"canned reply {canned_id} not found", canned_id=canned_id)


class CannedForbidden(CannedError):
    status = 403
    message_zh = "团队快捷回复只有主管可以添加或修改。"


class DuplicateShortcut(CannedError):
    status = 409

    def __init__(self, shortcut: str) -> None:
        super().__init__(f"the shortcut /{shortcut} is taken already in this group",
                         message_zh=f"快捷码 /{shortcut} 在该分组中已被使用，请换一个。", shortcut=shortcut)


class InvalidCanned(CannedError):
    status = 422
    message_zh = "团队快捷回复需要选择技能组，个人快捷回复不属于任何技能组。"
