"""Domain errors of the FAQ admin (:mod:`router.admin.faq_service`); the app's one handler (router/errors.py) answers
them. The knowledge-base library raises its own errors (``knowledge_base.store``, ``CorpusError``): the FAQ admin
service translates them into these, since the library may not know the router."""

from __future__ import annotations

from router.errors import KefuError


class FaqError(KefuError):
    message_zh = "FAQ 操作未能完成，请稍后再试。"


class FaqEntryNotFound(FaqError):
    status = 404
    message_zh = "找不到该 FAQ 条目。"

    def __init__(self, entry_id: str) -> None:
        super().__init__(f"FAQ entry {entry_id} not found", entry_id=entry_id)
        self.entry_id = entry_id


class FaqRevisionNotFound(FaqError):
    status = 404
    message_zh = "找不到该版本记录。"

    def __init__(self, entry_id: str, rev: int) -> None:
        super().__init__(f"revision {rev} of entry {entry_id} not found", entry_id=entry_id, rev=rev)


class FaqEntryExists(FaqError):
    status = 409
    message_zh = "该 id 已存在"

    def __init__(self, entry_id: str) -> None:
        super().__init__(f"FAQ entry {entry_id} already exists", entry_id=entry_id)
        self.entry_id = entry_id


class FaqVersionConflict(FaqError):
    """Someone else saved the entry since the editor loaded it."""

    status = 409
    message_zh = "该条目已被他人修改，请刷新后再编辑"

    def __init__(self, entry_id: str, *, expected: int, current: int) -> None:
        super().__init__(f"FAQ entry {entry_id} is at version {current}, not {expected}",
                         entry_id=entry_id, expected=expected, current=current)


class InvalidEntry(FaqError):
    """One entry (or one row of an imported file) that the corpus would refuse; ``errors`` in the body says where."""

    status = 422

    def __init__(self, *, message: str, field: str | None, entry_id: str | None, row: int | None = None) -> None:
        where = "，".join(part for part in (f"第 {row} 行" if row else "", f"字段 {field}" if field else "") if part)
        super().__init__(message, message_zh=f"{message}（{where}）" if where else message,
                         field=field, entry_id=entry_id, row=row)
        self.field = field
        self.entry_id = entry_id
        self.row = row

    def item(self) -> dict[str, object]:
        return {"message": self.message, "field": self.field, "entry_id": self.entry_id, "row": self.row}

    def body(self) -> dict[str, object]:
        return {**super().body(), "errors": [self.item()]}


class ImportRejected(FaqError):
    """Some rows are invalid: nothing was imported (``errors`` in the body lists every one)."""

    status = 422

    def __init__(self, *, errors: list[InvalidEntry]) -> None:
        super().__init__(f"{len(errors)} invalid rows", invalid=len(errors),
                         message_zh=f"文件中有 {len(errors)} 处内容有误，没有导入任何条目。")
        self.errors = errors

    def body(self) -> dict[str, object]:
        return {**super().body(), "errors": [e.item() for e in self.errors]}


class ImportFormatError(FaqError):
    """The uploaded file cannot be read as an FAQ table at all (wrong type, missing columns); ``message`` is Chinese
    already, for the editor who uploaded it."""

    status = 422

    def __init__(self, message: str, *, filename: str | None = None) -> None:
        super().__init__(message, message_zh=message, filename=filename)
        self.filename = filename

    def body(self) -> dict[str, object]:
        return {**super().body(), "errors": [{"message": self.message, "file": self.filename}]}


class UploadTooLarge(FaqError):
    status = 413
    message_zh = "文件过大（上限 5 MB）"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than {limit} bytes", limit=limit)


class BrokenCorpus(FaqError):
    """The stored corpus does not load (a server-side fault, not the editor's)."""

    status = 500
    message_zh = "FAQ 语料无法加载，请联系管理员检查。"

    def __init__(self, message: str, *, file: str | None, entry: str | None, field: str | None) -> None:
        super().__init__(message, file=file, entry=entry, field=field)
