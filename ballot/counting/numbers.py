"""Numbers people type (scores, weights, ratios, counts), read without letting the text decide
how much work the conversion costs.

`Fraction("1e10000000")` computes 10**10000000 while holding the GIL (15 s); `int()` of a long run
of digits is quadratic; both also accept forms nobody means (`1_000`, `１２`, ` NaN`). Every number
that arrives as text – a phone form, a JSON body, a meeting file, the clerk's item form – passes
through here: its length and form are checked first, and only a short plain number is converted.
Accepted: ASCII digits with an optional decimal point (`90`, `90.5`), where the caller allows a
fraction (`2/5`) and a percentage (`40%`), and a leading minus sign. Never an exponent, `+`,
underscores, other scripts' digits, NaN or infinity.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from .errors import MAX_ID, Refused

MAX_WHOLE_DIGITS = 12  # far beyond any count, score or weight the service uses
MAX_DECIMALS = 6
MAX_CHARS = 2 * MAX_WHOLE_DIGITS + MAX_DECIMALS + 4  # "-123….123456/…" at the longest; checked before any regex
_PLAIN = rf"[0-9]{{1,{MAX_WHOLE_DIGITS}}}(?:\.[0-9]{{1,{MAX_DECIMALS}}})?"
_DECIMAL = re.compile(rf"-?{_PLAIN}")
_FRACTION = re.compile(rf"-?[0-9]{{1,{MAX_WHOLE_DIGITS}}}/[0-9]{{1,{MAX_WHOLE_DIGITS}}}")
_PERCENT = re.compile(rf"-?{_PLAIN}%")
_INTEGER = re.compile(rf"-?[0-9]{{1,{MAX_WHOLE_DIGITS}}}")
_LIMIT = 10**MAX_WHOLE_DIGITS


class NumberError(Refused, ValueError):
    """Text that is not a short plain number; the message is Chinese and names the field."""


def shown(text: str, limit: int = 12) -> str:
    """User text quoted back in a message: short, and never a Python repr."""
    text = "".join(ch for ch in text if ch.isprintable())
    return text if len(text) <= limit else text[:limit] + "…"


def _text(raw, what: str, hint: str, error) -> str | None:
    """The text to check, or None when `raw` is already an exact number (int)."""
    if isinstance(raw, bool) or raw is None:
        raise error(f"{what}须为数字（{hint}）")
    if isinstance(raw, int):
        if abs(raw) >= _LIMIT:
            raise error(f"{what}过大（{hint}）")
        return None
    if isinstance(raw, float):  # TOML and JSON numbers: read through the shortest repr (0.5 → "0.5")
        if not math.isfinite(raw):
            raise error(f"{what}须为有限的数（{hint}）")
        return repr(raw)
    if isinstance(raw, Fraction):  # a value this program computed or stored
        return str(raw)
    if not isinstance(raw, str):
        raise error(f"{what}须为数字（{hint}）")
    return raw.strip()


def number(
    raw, what: str, *, fraction: bool = True, percent: bool = False, error: type[Exception] = NumberError
) -> Fraction:
    """An exact number from a plain decimal (`90.5`), and where allowed a fraction (`181/2`, also the
    stored form of a score) or a percentage (`40%` → 2/5). `error` is the caller's exception class."""
    forms = "90、90.5" + ("、2/5" if fraction else "") + ("或 40%" if percent else "")
    hint = f"请用半角数字写成 {forms} 这样的形式，不用科学记数法"
    text = _text(raw, what, hint, error)
    if text is None:
        return Fraction(raw)
    if len(text) <= MAX_CHARS:
        if _DECIMAL.fullmatch(text) or (fraction and _FRACTION.fullmatch(text)):
            try:
                return Fraction(text)
            except ZeroDivisionError:
                raise error(f"{what}“{shown(text)}”的分母不能为 0") from None
        if percent and _PERCENT.fullmatch(text):
            return Fraction(text[:-1]) / 100
    raise error(f"{what}“{shown(text)}”不是有效的数：{hint}")


def parse_int(raw, what: str, low: int, high: int, *, error: type[Exception] = NumberError) -> int:
    """A whole number within [low, high], from an int or from plain ASCII digits: the one parser of
    typed whole numbers (counts, seats, copies, ids); `error` is the caller's exception class."""
    hint = f"须为 {low} 到 {high} 之间的整数"
    text = _text(raw, what, hint, error)
    if text is None:
        value = raw
    elif len(text) <= MAX_WHOLE_DIGITS + 1 and _INTEGER.fullmatch(text):
        value = int(text)
    else:
        raise error(f"{what}{hint}（“{shown(text)}”不是半角数字写的整数）")
    if not low <= value <= high:
        raise error(f"{what}{hint}")
    return value


def valid_id(value) -> int | None:
    """A database id from a form or a caller (a number within the column), or None."""
    if isinstance(value, bool):
        return None
    if not isinstance(value, int):
        text = str(value if value is not None else "").strip()
        if not text.isdecimal() or not text.isascii() or len(text) > len(str(MAX_ID)):
            return None
        value = int(text)
    return value if 0 < value <= MAX_ID else None


def form_integer(text: str):
    """A form field that should hold a whole number: the int when it plainly is one, else the text
    unchanged, for the parser that receives it to refuse with its own message."""
    stripped = text.strip()
    if len(stripped) <= MAX_WHOLE_DIGITS and stripped.isascii() and stripped.isdigit():
        return int(stripped)
    return stripped
