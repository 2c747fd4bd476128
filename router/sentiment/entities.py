"""Entity masking: order numbers, phones, tracking numbers, prices, dates, URLs, codes and other digit/latin runs
become one placeholder character per kind before any model or rule sees the text (issue 16).

An entity never carries sentiment: ``20261101123456`` is an order number, not a complaint, whatever digits the
training reviews happened to contain. Masking runs inside :func:`router.sentiment.features.normalize`, so training
and scoring see the same text; the n-gram features then skip every n-gram that touches a placeholder
(:func:`router.sentiment.features.feature_counts`), so a placeholder has no weight in any model, and a message made
only of entities and punctuation is scored neutral without consulting a model.

>>> mask_entities("我的订单20261101123456什么时候发货")
'我的订单ⓞ什么时候发货'
>>> mask_entities("手机13812345678, 运单sf1234567890123")
'手机ⓟ, 运单ⓣ'
>>> mask_entities("¥99.5 的东西 2026-11-01 才到, 不发货我就打12315")
'ⓜ 的东西 ⓓ 才到, 不发货我就打12315'

The input is expected to be NFKC-normalised and lower-cased already (``normalize`` does that first).
"""

from __future__ import annotations

import re
import unicodedata

ORDER = "ⓞ"
PHONE = "ⓟ"
TRACKING = "ⓣ"
PRICE = "ⓜ"
DATE = "ⓓ"
URL = "ⓤ"
CODE = "ⓒ"
NUMBER = "ⓝ"
LATIN = "ⓛ"
PLACEHOLDERS = frozenset(ORDER + PHONE + TRACKING + PRICE + DATE + URL + CODE + NUMBER + LATIN)

# Numbers that are words: the complaint hotlines are a threat, not an entity (they are lexicon terms).
KEPT_NUMBERS = frozenset({"12315", "12345"})
# Latin words that carry sentiment rather than name a thing (chat abbreviations included); every other latin run is
# masked, as a brand, a size or a model name would otherwise pick up the weight of the reviews it appeared in.
KEPT_LATIN = frozenset(
    {"ok", "okay", "good", "nice", "bad", "sb", "tmd", "nmd", "nmb", "cnm", "mlgb", "wtf", "shit", "fuck", "fk"}
)

_D = r"(?<![0-9])"  # no digit before
_ND = r"(?![0-9])"  # no digit after
_CARRIER = r"(?:sf|yt|yto|zto|sto|jd|jt|ems|yd|yunda|db|dpk)"
_PATTERNS: tuple[tuple[str, str], ...] = (
    ("url", r"(?:https?://|www\.)[a-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+|[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+"),
    (
        "date",
        _D + r"(?:\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}(?:\s*[日号])?"
        r"|\d{4}\s*年\s*\d{1,2}\s*月|\d{1,2}\s*月\s*\d{1,2}\s*[日号]"
        r"|\d{1,2}\s*[:：]\s*\d{2}(?:\s*[:：]\s*\d{2})?)" + _ND,
    ),
    ("price", r"[¥$]\s*\d+(?:\.\d+)?|" + _D + r"\d+(?:\.\d+)?\s*(?:元|块钱|块|rmb|人民币|美元|毛钱)"),
    ("tracking", r"(?<![a-z])" + _CARRIER + r"\s*\d{8,}" + _ND + r"|(?<=运单号)\d{8,}|(?<=快递单号)\d{8,}"),
    (
        "phone",
        _D + r"(?:1[3-9]\d\s?-?\s?\d{4}\s?-?\s?\d{4}|0\d{2,3}\s?-\s?\d{7,8}|400\s?-?\s?\d{3}\s?-?\s?\d{4})" + _ND,
    ),
    ("order", _D + r"\d{12,}" + _ND),
    ("code", r"(?<![a-z0-9])(?:[a-z]+[-_]?[0-9]+|[0-9]+[a-z]+)[a-z0-9\-_]*"),
    ("number", _D + r"\d+(?:\.\d+)?" + _ND),
    ("latin", r"(?<![a-z])[a-z]+(?![a-z])"),
)
_PLACEHOLDER_OF = {
    "url": URL,
    "date": DATE,
    "price": PRICE,
    "tracking": TRACKING,
    "phone": PHONE,
    "order": ORDER,
    "code": CODE,
    "number": NUMBER,
    "latin": LATIN,
}
_ENTITY = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _PATTERNS))


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup or "number"
    text = match.group(0)
    if kind == "number" and text in KEPT_NUMBERS:
        return text
    if kind == "latin" and text in KEPT_LATIN:
        return text
    return _PLACEHOLDER_OF[kind]


def mask_entities(text: str) -> str:
    """Replace every entity of an NFKC-normalised, lower-cased text by its placeholder (see the module docstring)."""
    if not any(ch.isdigit() or ch.isascii() and ch.isalpha() for ch in text):
        return text
    return _ENTITY.sub(_replace, text)


def has_content(masked: str) -> bool:
    """True when a masked text has something to judge besides placeholders, digits, spaces and punctuation (a
    letter, a CJK character or an emoji). A number kept as a word (the hotline in "我要打12345投诉") is judged with
    the words around it; alone it is a reply to "请提供订单号" like any other number."""
    return any(
        ch not in PLACEHOLDERS and not ch.isdigit()
        and (ch.isalnum() or (ord(ch) > 0x2000 and unicodedata.category(ch)[0] not in "PZ"))
        for ch in masked
    )
