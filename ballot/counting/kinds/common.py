"""What several ballot kinds share: lists of names, exact weights, shared ranks, display rounding."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Mapping

from .. import numbers, strokes
from .base import KindConfigError

MAX_PEOPLE = 200
MAX_NAME = 50
SIMPLIFIED = Path(__file__).resolve().parent.parent / "data" / "simplified.tsv"


def clean_name(raw, what: str) -> str:
    name = " ".join(str(raw if raw is not None else "").split())
    if not name:
        raise KindConfigError(f"{what}姓名不能为空")
    if not name.isprintable():
        raise KindConfigError(f"{what}“{name!r}”含有不可见的控制字符")
    if len(name) > MAX_NAME:
        raise KindConfigError(f"{what}“{name[:MAX_NAME]}…”过长（最多 {MAX_NAME} 字）")
    return name


def parse_names(raw, what: str, *, allow_empty: bool = False) -> list[str]:
    if raw is None and allow_empty:
        return []
    if not isinstance(raw, (list, tuple)):
        raise KindConfigError(f"{what}须写成列表")
    if not raw and not allow_empty:
        raise KindConfigError(f"请至少填写一名{what}")
    if len(raw) > MAX_PEOPLE:
        raise KindConfigError(f"{what}不能超过 {MAX_PEOPLE} 名")
    names, seen = [], set()
    for entry in raw:
        name = clean_name(entry.get("name") if isinstance(entry, Mapping) else entry, what)
        key = same_name_key(name)
        if key in seen:
            raise KindConfigError(f"{what}“{name}”重复出现")
        seen.add(key)
        names.append(name)
    return names


def ordered(names: list[str], order: dict, single_given_first: bool) -> list[str]:
    if order["key"] == "strokes":
        return strokes.sort_names(names, single_given_first=single_given_first)
    return list(names)


@lru_cache(maxsize=1)
def _simplified() -> dict[str, str]:
    pairs = {}
    for line in SIMPLIFIED.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            trad, simp = line.split("\t")
            pairs[trad] = simp
    return pairs


def same_name_key(name: str) -> str:
    """Two spellings of one name compare equal: spaces, full-width forms, the · of ethnic names, 繁简."""
    table = _simplified()
    return "".join(table.get(ch, ch) for ch in strokes.normalise(name)).casefold()


def exact_fraction(raw, what: str) -> Fraction:
    """A number as written ("0.4", "2/5", 40%), exactly; a float is read through its shortest repr.
    Length and form are checked before converting (numbers.py): no exponents, no long digit runs."""
    return numbers.number(raw, what, percent=True, error=KindConfigError)


def parse_weights(raw, group_names: Iterable[str] | None, what: str = "权重") -> dict[str, Fraction]:
    """Weights per voter/judge group; they must sum to exactly 1."""
    if not isinstance(raw, Mapping) or not raw:
        raise KindConfigError(f"请为每个组填写{what}，写成 {{组名 = 权重}}")
    weights = {}
    for name, value in raw.items():
        weight = exact_fraction(value, f"“{name}”的{what}")
        if not 0 < weight <= 1:
            raise KindConfigError(f"“{name}”的{what}须大于 0 且不超过 1")
        weights[str(name)] = weight
    total = sum(weights.values())
    if total != 1:
        raise KindConfigError(f"各组{what}之和须恰好为 1，现为 {display_fraction(total)}")
    if group_names is not None:
        unknown = [n for n in weights if n not in set(group_names)]
        if unknown:
            raise KindConfigError(f"{what}中的组“{'、'.join(unknown)}”不是本会议的表决组")
    return weights


def stored_weights(raw) -> dict[str, str] | None:
    """Optional group weights of a configuration, checked (sum exactly 1), stored as strings."""
    if not raw:
        return None
    return {g: str(w) for g, w in parse_weights(raw, None).items()}


def check_weighted_groups(weights: dict | None, group_names: list[str], what: str) -> None:
    """Several voting groups need a weight each, and weights only for the item's groups."""
    if weights and set(weights) != set(group_names):
        raise KindConfigError(
            f"权重须恰好为参加{what}的每个组各设一个：参加的组是 {'、'.join(group_names)}，"
            f"设了权重的组是 {'、'.join(weights)}"
        )
    if len(group_names) > 1 and not weights:
        raise KindConfigError("多个组须设置各组权重（weights），权重之和为 1")


def display_fraction(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def fixed2(value: Fraction | None) -> str:
    """Display only: 2 decimals, ROUND_HALF_UP on the exact fraction (725/8 → 90.63)."""
    if value is None:
        return "—"
    rounded = math.floor(abs(value) * 100 + Fraction(1, 2))  # half away from zero
    return f"{'-' if value < 0 and rounded else ''}{Decimal(rounded).scaleb(-2):.2f}"


def ceil_places(ratio: Fraction, seats: int) -> int:
    """Places for a ratio such as 1:1.5 of N seats: ⌈1.5 × N⌉ (docs/rules.md#contest, #recommend)."""
    return math.ceil(ratio * seats)


def ranked(
    rows: list[dict], value: Callable[[dict], Fraction | int | None], name: Callable[[dict], str], single_given_first
) -> list[dict]:
    """Rows ordered by value (highest first), equal values sharing a rank (1, 2, 2, 4) and listed in
    姓氏笔画 order; rows without a value come last, unranked."""

    def key(row):
        v = value(row)
        return (v is None, -(v or 0), strokes.sort_key(name(row), single_given_first=single_given_first))

    result = sorted(rows, key=key)
    previous, rank = object(), 0
    for position, row in enumerate(result, start=1):
        v = value(row)
        if v is None:
            row["rank"] = None
            continue
        if v != previous:
            rank, previous = position, v
        row["rank"] = rank
    return result
