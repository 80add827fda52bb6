"""Thresholds and quorums in the words Chinese rules use, compared exactly.

以上 / 以下 include the number itself, 超过 / 不满 exclude it (民法典 第1259条), so
"超过半数" is `votes > ½ × denominator` and "三分之二以上到会" is `present ≥ ⅔ × expected`.
All arithmetic is on integers and Fractions; nothing is rounded except for display.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from . import numbers
from .errors import Refused

# The denominators a rule may name (docs/rules.md#words).
DENOMINATORS = {
    "expected": "应到人数",
    "present": "实到人数",
    "cast": "收回票数",
    "valid": "有效票数",
}

COMPARATORS = {">": "超过", ">=": "以上（含本数）"}

_FRACTION_WORDS = {
    Fraction(1, 2): "半数",
    Fraction(2, 3): "三分之二",
    Fraction(3, 4): "四分之三",
    Fraction(4, 5): "五分之四",
    Fraction(1, 3): "三分之一",
}


class RuleError(Refused, ValueError):
    """A rule that cannot be applied; the message is Chinese and meant for the clerk."""


def parse_fraction(text) -> Fraction:
    value = numbers.number(text, "比例", error=RuleError)  # length and form checked before converting
    if not 0 < value <= 1:
        raise RuleError(f"比例“{text}”必须大于 0 且不超过 1")
    return value


def fraction_words(value: Fraction) -> str:
    return _FRACTION_WORDS.get(value, f"{value.numerator}/{value.denominator}")


@dataclass(frozen=True)
class Threshold:
    """`count op fraction × denominator`, e.g. 同意 > ½ × 应到."""

    op: str
    fraction: Fraction
    denominator: str

    def __post_init__(self):
        if self.op not in COMPARATORS:
            raise RuleError(f"比较方式“{self.op}”无效，只能是“超过”(>)或“以上”(>=)")
        if self.denominator not in DENOMINATORS:
            raise RuleError(f"分母“{self.denominator}”无效")

    def met(self, count: int, base: int | None) -> bool | None:
        """Exact comparison; None when the base is unknown (e.g. 实到 not yet entered)."""
        if base is None:
            return None
        if base <= 0:
            return False
        ratio = Fraction(count, base)
        return ratio > self.fraction if self.op == ">" else ratio >= self.fraction

    def minimum(self, base: int | None) -> int | None:
        """The smallest count that meets the threshold for this base."""
        if base is None or base <= 0:
            return None
        product = self.fraction * base
        if self.op == ">":
            return math.floor(product) + 1
        return math.ceil(product)

    def words(self, subject: str) -> str:
        frac = fraction_words(self.fraction)
        den = DENOMINATORS[self.denominator]
        if self.op == ">":
            return f"{subject}超过{den}的{frac}"
        return f"{subject}达到{den}的{frac}以上（含本数）"

    def to_dict(self) -> dict:
        return {"op": self.op, "fraction": str(self.fraction), "denominator": self.denominator}

    @classmethod
    def from_dict(cls, raw: dict) -> "Threshold":
        return cls(str(raw["op"]), parse_fraction(raw["fraction"]), str(raw["denominator"]))


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    quorum: Threshold | None
    passing: Threshold
    basis: str


# The presets of docs/rules.md#approval. Each preset names its comparator and denominator explicitly.
PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset(
            "appointment",
            "讨论决定干部任免（常委会/党组）",
            Threshold(">=", Fraction(2, 3), "expected"),
            Threshold(">", Fraction(1, 2), "expected"),
            "《党政领导干部选拔任用工作条例》：三分之二以上成员到会，以应到会成员超过半数同意形成决定",
        ),
        Preset(
            "general",
            "议事决策（一般事项）",
            Threshold(">=", Fraction(1, 2), "expected"),
            Threshold(">", Fraction(1, 2), "expected"),
            "议事规则：半数以上成员到会，以应到会成员超过半数同意形成决定",
        ),
        Preset(
            "grassroots_election",
            "基层党组织选举",
            Threshold(">", Fraction(4, 5), "expected"),
            Threshold(">", Fraction(1, 2), "present"),
            "基层组织选举工作条例：有选举权的到会人数超过应到会人数的五分之四，赞成票超过实到会有选举权人数的一半",
        ),
        Preset(
            "branch_vote",
            "支部党员大会表决",
            Threshold(">=", Fraction(1, 2), "expected"),
            Threshold(">", Fraction(1, 2), "expected"),
            "支部工作条例：有表决权的党员半数以上到会，赞成人数超过应到会有表决权党员的半数",
        ),
        Preset(
            "probationary",
            "接收预备党员",
            Threshold(">", Fraction(1, 2), "expected"),
            Threshold(">", Fraction(1, 2), "expected"),
            "发展党员工作细则：到会有表决权的正式党员超过应到会人数的半数，赞成人数超过应到会有表决权正式党员的半数",
        ),
    )
}


def percent(value: Fraction | None) -> str:
    """Display only: percentage to 2 decimals, ROUND_HALF_UP on the exact fraction."""
    if value is None:
        return "—"
    exact = Decimal(value.numerator) * 100 / Decimal(value.denominator)
    return f"{exact.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"
