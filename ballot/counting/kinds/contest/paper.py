"""差额票决 on paper: one key per candidate, post after post – 1 划了, 0 未划; more marks than seats → 无效."""

from __future__ import annotations

from ..sheets import Box, Sheet, only


def boxes(config: dict) -> list[Box]:
    return [Box(f"{p['post']}：{c}", (("1", "划了"), ("0", "未划"))) for p in config["posts"] for c in p["candidates"]]


def sheet(kind, config: dict, keys: str) -> Sheet:
    only(keys, "01")
    marks, at = [], 0
    for post in config["posts"]:
        n = len(post["candidates"])
        marks.append([i for i, k in enumerate(keys[at : at + n]) if k == "1"])
        at += n
    if any(len(m) > p["seats"] for m, p in zip(marks, config["posts"], strict=True)):
        return Sheet(keys, False, {}, "overvote")
    return Sheet(keys, True, kind.sheet_choices(config, {"marks": marks}))


def instructions(config: dict) -> list[str]:
    seats = "、".join(f"“{p['post']}”最多划 {p['seats']} 人" for p in config["posts"])
    return [
        "同意的在姓名下方空格内划○，不同意或弃权的不划。",
        f"{seats}；多划的本票无效；符号划在格外或无法辨认的，本票无效。",
    ]


def form_view(config: dict, layout) -> dict:
    at, posts = 0, []
    for post in config["posts"]:
        posts.append({**post, "rows": layout.name_rows(post["candidates"], at)})
        at += len(post["candidates"])
    return {"posts": posts, "box_height": layout.box_height(sum(len(p["rows"]) for p in posts) + len(posts) // 2)}
