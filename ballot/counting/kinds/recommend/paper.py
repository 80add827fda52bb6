"""民主推荐 on paper: one key per listed candidate – 1 划了, 0 未划; then `+姓名,姓名` for names written
in (one person marked and written in, or written twice, is one recommendation)."""

from __future__ import annotations

from ..common import same_name_key
from ..sheets import Box, PaperError, Sheet, only


def boxes(config: dict) -> list[Box]:
    return [Box(c, (("1", "划了"), ("0", "未划"))) for c in config["candidates"]]


def sheet(kind, config: dict, keys: str, written: str) -> Sheet:
    only(keys, "01")
    names = [n for n in (" ".join(x.split()) for x in written.replace("，", ",").replace("、", ",").split(",")) if n]
    # as typed, names and all: what the two entries compare ("+" alone: a blank sheet with no list)
    canonical = keys + ("+" + ",".join(names) if names else "") or "+"
    if names and not config["write_ins"]:
        raise PaperError("本票没有另行推荐栏，不能用 + 输入姓名")
    # One person recommended twice is one recommendation (docs/rules.md#recommend: the limit is on persons, not marks): a
    # written-in name of a listed candidate counts for that candidate, whether or not it is also
    # marked, and a name written twice counts once; the places limit then applies to the persons.
    listed = {same_name_key(n): i for i, n in enumerate(config["candidates"])}
    chosen = {i for i, k in enumerate(keys) if k == "1"}
    others: dict[str, str] = {}
    for name in names:
        key = same_name_key(name)
        if key in listed:
            chosen.add(listed[key])
        else:
            others.setdefault(key, name)
    if len(chosen) + len(others) > config["seats"]:  # docs/rules.md#recommend: more than the posts → 无效
        return Sheet(canonical, False, {}, "overvote")
    try:
        choices = kind.sheet_choices(config, {"chosen": sorted(chosen), "written": list(others.values())})
    except PaperError as exc:  # the same rule as on phones: a name only, so no sheet carries a marker
        if "只能填写汉字姓名" not in str(exc):
            raise
        raise PaperError(f"{exc}；选票上写有姓名以外内容的，按无效票（*3 其他）录入") from None
    return Sheet(canonical, True, choices)


def instructions(config: dict) -> list[str]:
    lines = [f"推荐的在姓名下方空格内划○，连同另行推荐的人选，合计不得超过 {config['seats']} 名，超过的本票无效。"]
    if config["write_ins"]:
        lines.append("另行推荐的，请在“另行推荐人选”栏内写上姓名；同一人既划○又写姓名或写了两次的，只算推荐一次。")
    lines.append("不划、不写的视为弃权（空白票有效）；符号划在格外或无法辨认的，本票无效。")
    return lines


def form_view(config: dict, layout) -> dict:
    view = {"rows": layout.name_rows(config["candidates"])}
    view["write_in_rows"] = layout.even_rows(
        list(range(config["seats"])) if config["write_ins"] else [], layout.WRITE_INS_PER_ROW
    )
    lines = len(view["rows"]) + len(view["write_in_rows"])
    view["box_height"] = layout.box_height(lines)
    view["write_in_height"] = 13 if lines <= 6 else 11
    return view
