"""FAQ import/export as CSV (UTF-8 with BOM, so Excel opens Chinese correctly) and XLSX (openpyxl).

One row per entry. ``paraphrases`` holds one paraphrase per line inside the cell; ``tags`` are separated by commas
(ASCII or full-width) or semicolons. ``version`` and ``updated_at`` are exported for reference and ignored on import.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font

from knowledge_base.corpus import FaqEntry
from router.admin.errors import ImportFormatError

COLUMNS = ("id", "category", "question", "paraphrases", "answer", "tags", "version", "updated_at")
REQUIRED = ("id", "category", "question", "answer")
TAG_SPLIT = re.compile(r"[,，;；、\n]+")
# a CSV cell starting with one of these would be run as a formula by spreadsheet programs
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _row_of(entry: FaqEntry) -> list[str]:
    return [
        entry.id, entry.category, entry.question, "\n".join(entry.paraphrases), entry.answer, ", ".join(entry.tags),
        str(entry.version), entry.updated_at.isoformat(),
    ]


def _safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def export_csv(entries: list[FaqEntry]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for e in entries:
        writer.writerow([_safe_cell(v) for v in _row_of(e)])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def export_xlsx(entries: list[FaqEntry]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "FAQ"
    ws.append(list(COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for e in entries:
        ws.append(_row_of(e))
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            if isinstance(cell.value, str) and cell.value.startswith(FORMULA_PREFIXES):
                cell.data_type = "s"  # stored as text, never evaluated
    for col, width in zip("ABCDEFGH", (22, 14, 30, 36, 60, 20, 8, 22), strict=True):
        ws.column_dimensions[col].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _clean(value: Any) -> str:
    if value is None:
        return ""
    text = str(value).strip()
    if text.startswith("'") and text[1:2] in FORMULA_PREFIXES:
        text = text[1:]
    return text


def _to_raw(row: dict[str, str]) -> dict[str, Any]:
    return {
        "id": row.get("id", ""),
        "category": row.get("category", ""),
        "question": row.get("question", ""),
        "paraphrases": [p.strip() for p in row.get("paraphrases", "").splitlines() if p.strip()],
        "answer": row.get("answer", ""),
        "tags": [t.strip() for t in TAG_SPLIT.split(row.get("tags", "")) if t.strip()],
    }


def _rows(header: list[str], body: list[list[Any]], filename: str | None) -> list[tuple[int, dict[str, Any]]]:
    names = [_clean(h).lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ImportFormatError(f"缺少必需的列：{', '.join(missing)}", filename=filename)
    out: list[tuple[int, dict[str, Any]]] = []
    for number, values in enumerate(body, start=2):  # row 1 is the header, as a spreadsheet numbers it
        cells = {name: _clean(values[i]) if i < len(values) else "" for i, name in enumerate(names) if name}
        if not any(cells.values()):
            continue
        out.append((number, _to_raw(cells)))
    return out


def read_table(data: bytes, *, filename: str) -> list[tuple[int, dict[str, Any]]]:
    """Parse an uploaded CSV or XLSX into (row number, raw entry mapping) pairs; nothing is validated yet."""
    name = filename.lower()
    if name.endswith(".xlsx"):
        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a damaged file
            raise ImportFormatError(f"无法读取 Excel 文件：{exc}", filename=filename) from None
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        wb.close()
    elif name.endswith(".csv"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")  # Excel on Chinese Windows saves CSV in GBK
            except UnicodeDecodeError:
                raise ImportFormatError("CSV 文件编码无法识别，请使用 UTF-8", filename=filename) from None
        rows = [list(r) for r in csv.reader(io.StringIO(text))]
    else:
        raise ImportFormatError("只支持 .csv 或 .xlsx 文件", filename=filename)
    if not rows:
        raise ImportFormatError("文件是空的", filename=filename)
    return _rows([_clean(h) for h in rows[0]], rows[1:], filename)
