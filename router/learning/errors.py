"""Domain errors of the learning loop; the app's one error handler (router/errors.py) answers them."""

from __future__ import annotations

from router.errors import KefuError


class LearningError(KefuError):
    message_zh = "学习建议操作未能完成，请稍后再试。"


class ProposalNotFound(LearningError):
    status = 404
    message_zh = "找不到该学习建议。"


class ProposalDecided(LearningError):
    status = 409
    message_zh = "该学习建议已被处理过，请刷新后查看。"


class InvalidProposalEdit(LearningError):
    status = 422
    message_zh = "无法采纳该建议：请检查 FAQ 编号、答案和相似问法后再试。"
