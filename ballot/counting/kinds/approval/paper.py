"""逐人表态 on paper: one key per nominee – 1 同意, 2 不同意, 3 弃权, 0 未划 (弃权), x 同一人选划了多个符号."""

from __future__ import annotations

from ..sheets import Box, Sheet, only

KEYS = (("1", "同意"), ("2", "不同意"), ("3", "弃权"), ("0", "未划"), ("x", "多划"))


def boxes(config: dict) -> list[Box]:
    return [Box(n["name"], KEYS) for n in config["nominees"]]


def sheet(kind, config: dict, keys: str) -> Sheet:
    only(keys, "1230x")
    if "x" in keys:
        return Sheet(keys, False, {}, "overvote")
    votes = [{"1": "yes", "2": "no"}.get(k, "abstain") for k in keys]
    return Sheet(keys, True, kind.sheet_choices(config, {"votes": votes}))


def instructions(config: dict) -> list[str]:
    return [
        "请在每名人选右侧“同意”“不同意”“弃权”三格中选一格划○。",
        "不划的视为弃权；同一人选划两个以上○的，本票无效；符号划在格外或无法辨认的，本票无效。",
    ]
