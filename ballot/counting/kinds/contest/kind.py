"""差额票决 (docs/rules.md#contest): posts with more candidates than seats; each member marks at most `seats`
candidates per post.

A candidate wins only with the most votes among those whose 同意 meets the rule (default:
超过应到会成员半数), within the seats. A tie at the last seat, or no one with the majority, leaves
the seat unfilled; the result then proposes the candidates of the next round (the tied ones;
else the unelected with the most votes, ⌈1.5 × unfilled seats⌉ of them, ties at the cut-off kept),
which the chair confirms or edits. Candidates are listed in 姓氏笔画 order (差额人选按姓氏笔画排列).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Mapping, Sequence

from ... import numbers
from ...rules import DENOMINATORS, Threshold, percent
from ..approval.kind import committee_count, parse_rule, quorum_problems, quorum_result
from ..base import BallotData, CastError, Counts, Kind, KindConfigError, count_warnings, counted, order_of, people_order
from ..common import MAX_PEOPLE, clean_name, ordered, parse_names
from ..sheets import Box, Sheet
from . import form as form_fields
from . import paper, tables

MAX_POSTS = 20
NEXT_ROUND_RATIO = Fraction(3, 2)


class ContestKind(Kind):
    key = "contest"
    tables_module = tables
    form_module = form_fields
    label = "差额票决（多个人选竞一个或几个职位）"
    supports_next_round = True
    paper_form_name = "差额选票"

    def paper_boxes(self, config: dict) -> list[Box]:
        return paper.boxes(config)

    def sheet_from_keys(self, config: dict, keys: str, written: str) -> Sheet:
        return paper.sheet(self, config, keys)

    def paper_instructions(self, config: dict) -> list[str]:
        return paper.instructions(config)

    def paper_form_view(self, config: dict, layout) -> dict:
        return paper.form_view(config, layout)

    def parse_config(self, raw: Mapping, *, single_given_first: bool = True) -> dict:
        posts_raw = raw.get("posts")
        if not isinstance(posts_raw, list) or not posts_raw:
            raise KindConfigError("请至少填写一个职位（posts），每个职位写明名额和人选")
        if len(posts_raw) > MAX_POSTS:
            raise KindConfigError(f"职位不能超过 {MAX_POSTS} 个")
        order = people_order(raw.get("order"), single_given_first)
        posts, seen = [], set()
        for entry in posts_raw:
            if not isinstance(entry, Mapping):
                raise KindConfigError("职位须写成 {post = …, seats = …, candidates = [...]}")
            post = clean_name(entry.get("post"), "职位")
            if post in seen:
                raise KindConfigError(f"职位“{post}”重复出现")
            seen.add(post)
            seats = entry.get("seats", 1)
            if not isinstance(seats, int) or isinstance(seats, bool) or not 1 <= seats <= 50:
                raise KindConfigError(f"职位“{post}”的名额须为 1 到 50 的整数")
            names = parse_names(entry.get("candidates"), f"“{post}”的人选")
            if len(names) <= seats:
                raise KindConfigError(f"职位“{post}”有 {seats} 个名额，人选须多于名额才是差额（现有 {len(names)} 名）")
            posts.append({"post": post, "seats": seats, "candidates": ordered(names, order, single_given_first)})
        round_no = raw.get("round", 1)
        if not isinstance(round_no, int) or isinstance(round_no, bool) or not 1 <= round_no <= 20:
            raise KindConfigError("轮次（round）须为 1 到 20 的整数")
        return {
            "posts": posts,
            "rule": parse_rule(raw.get("rule")),
            "order": order,
            "single_given_first": single_given_first,
            "round": round_no,
            "previous_item": raw.get("previous_item") if isinstance(raw.get("previous_item"), int) else None,
        }

    def people(self, config: dict) -> list[str]:
        return [n for p in config["posts"] for n in p["candidates"]]

    def reorder(self, config: dict, *, single_given_first: bool) -> dict:
        if order_of(config)["key"] != "strokes":
            return config
        order = people_order("strokes", single_given_first)
        posts = [{**p, "candidates": ordered(p["candidates"], order, single_given_first)} for p in config["posts"]]
        return {**config, "posts": posts, "order": order, "single_given_first": single_given_first}

    def form_field_names(self, config: dict) -> list[str]:
        return [f"p{i}" for i in range(len(config["posts"]))]

    def parse_cast(self, config: dict, form: Mapping[str, list[str]]) -> dict:
        allowed = set(self.form_field_names(config))
        if any(f[:1] == "p" and f[1:].isdigit() and f not in allowed for f in form):
            raise CastError("表单内容与本议题不符，请返回重新填写")
        marks = []
        for i, post in enumerate(config["posts"]):
            values = form.get(f"p{i}", [])
            try:  # a candidate's index: a few ASCII digits, never "１２" or "1_0" or a long run
                chosen = sorted({numbers.parse_int(v, "人选", 0, MAX_PEOPLE - 1) for v in values})
            except numbers.NumberError:
                raise CastError("表单内容无效，请返回重新填写") from None
            if len(chosen) != len(values):
                raise CastError("同一人选不能重复选择")
            marks.append(chosen)
        return self.check_choices(config, {"marks": marks})

    def check_choices(self, config: dict, choices) -> dict:
        marks = choices.get("marks") if isinstance(choices, dict) else None
        if not isinstance(marks, list) or len(marks) != len(config["posts"]):
            raise CastError("选票内容无效，请返回重新填写")
        for post, chosen in zip(config["posts"], marks, strict=True):
            if not isinstance(chosen, list) or any(
                not isinstance(i, int) or not 0 <= i < len(post["candidates"]) for i in chosen
            ):
                raise CastError("选票内容无效，请返回重新填写")
            if len(set(chosen)) != len(chosen):
                raise CastError("同一人选不能重复选择")
            if len(chosen) > post["seats"]:
                raise CastError(f"“{post['post']}”只能选 {post['seats']} 名，现选了 {len(chosen)} 名，请减少后再提交")
        return {"marks": [sorted(c) for c in marks]}

    def review(self, config: dict, choices: dict) -> list[tuple[str, str]]:
        lines = []
        for post, chosen in zip(config["posts"], choices["marks"], strict=True):
            names = "、".join(post["candidates"][i] for i in chosen) or "（未选）"
            lines.append((f"{post['post']}（{post['seats']} 名）", names))
        return lines

    def open_problems(self, config: dict, counts: Counts) -> list[str]:
        return quorum_problems(config["rule"], counts)

    def tally(self, config: dict, ballots: Sequence[BallotData], counts: Counts) -> dict:
        valid_ballots, passing, base, minimum = committee_count(config["rule"], ballots, counts)
        posts_out = []
        for index, post in enumerate(config["posts"]):
            votes = [0] * len(post["candidates"])
            for ballot in valid_ballots:
                for i in ballot.choices["marks"][index]:
                    votes[i] += 1
            posts_out.append(self._post_result(post, votes, passing, base))
        warnings = count_warnings(counts, ballots)
        base_label = DENOMINATORS[passing.denominator]
        base_text = f"{base_label} {base}" if base is not None else f"{base_label}未录入"
        rule_line = f"依据：{passing.words('得票')}（{base_text}"
        rule_line += f"，至少需 {minimum} 票）" if minimum is not None else "）"
        rule_line += "，在名额内按得票多少确定；末位票数相同或无人过半数的名额本轮空缺"
        return {
            "kind": self.key,
            "order_text": order_of(config)["text"],
            "round": config.get("round", 1),
            "counts": counted(counts, ballots),
            "denominator": passing.denominator,
            "denominator_label": base_label,
            "denominator_value": base,
            "minimum": minimum,
            "rule_label": config["rule"]["label"],
            "rule_line": rule_line,
            "basis": config["rule"]["basis"],
            "quorum": quorum_result(config["rule"], counts),
            "posts": posts_out if not warnings else [self._void(p) for p in posts_out],
            "finalised": not warnings,
            "warnings": warnings,
            "rounding": "百分比按精确分数四舍五入（ROUND_HALF_UP）保留两位小数，仅用于显示；是否过半数按精确分数判断",
        }

    def _post_result(self, post: dict, votes: list[int], passing: Threshold, base: int | None) -> dict:
        names = post["candidates"]
        rows = []
        for name, n in zip(names, votes, strict=True):
            rate = Fraction(n, base) if base else None
            rows.append(
                {
                    "name": name,
                    "votes": n,
                    "rate": str(rate) if rate is not None else None,
                    "rate_display": percent(rate),
                    "majority": bool(passing.met(n, base)),
                }
            )
        seats = post["seats"]
        eligible = sorted((r for r in rows if r["majority"]), key=lambda r: -r["votes"])
        winners, tied = [], []
        if len(eligible) <= seats:
            winners = eligible
        else:
            cut = eligible[seats - 1]["votes"]
            if eligible[seats]["votes"] == cut:  # a tie decides the last seat: those tied do not win
                winners = [r for r in eligible if r["votes"] > cut]
                tied = [r for r in eligible if r["votes"] == cut]
            else:
                winners = eligible[:seats]
        won = {r["name"] for r in winners}
        for row in rows:
            row["elected"] = row["name"] in won
        unfilled = seats - len(winners)
        proposal, reason = [], ""
        if unfilled:
            if tied:
                proposal = [r["name"] for r in tied]
                reason = f"第 {len(winners) + 1} 个名额得票相同，下一轮由得票相同的人选参加"
            else:
                others = sorted((r for r in rows if not r["elected"]), key=lambda r: -r["votes"])
                places = math.ceil(NEXT_ROUND_RATIO * unfilled)
                if len(others) > places:
                    cut = others[places - 1]["votes"]
                    others = [r for r in others if r["votes"] >= cut]  # ties at the cut-off all kept
                proposal = [r["name"] for r in others]
                reason = (
                    f"{unfilled} 个名额无人得票过半数，下一轮建议由未当选人选中得票最多的 "
                    f"⌈1.5 × {unfilled}⌉ = {places} 名参加（末位得票相同者一并列入）"
                )
        return {
            "post": post["post"],
            "seats": seats,
            "rows": rows,
            "elected": [r["name"] for r in sorted(winners, key=lambda r: names.index(r["name"]))],
            "unfilled": unfilled,
            "tied": [r["name"] for r in tied],
            "next_round": {"candidates": [n for n in names if n in proposal], "reason": reason} if unfilled else None,
        }

    @staticmethod
    def _void(post: dict) -> dict:
        """A post of a vote that cannot be finalised: the counts stay visible, no one is elected."""
        rows = [{**r, "elected": False} for r in post["rows"]]
        return {**post, "rows": rows, "elected": [], "tied": [], "unfilled": post["seats"], "next_round": None}

    def next_round_candidates(self, proposal: dict) -> dict[str, list[str]]:
        return {p["post"]: list(p["candidates"]) for p in proposal["posts"]}

    def edit_next_round(self, proposal: dict, edited: dict[str, list[str]]) -> dict:
        if set(edited) != {p["post"] for p in proposal["posts"]}:
            raise KindConfigError("下一轮的职位须与本轮空缺的职位一致")
        posts = [
            {**post, "candidates": [n for n in (" ".join(x.split()) for x in edited[post["post"]]) if n]}
            for post in proposal["posts"]
        ]
        return {**proposal, "posts": posts}

    def next_round(self, config: dict, result: dict) -> dict | None:
        """The configuration of the next round, from this round's result (None if every seat filled)."""
        posts = [
            {"post": p["post"], "seats": p["unfilled"], "candidates": p["next_round"]["candidates"]}
            for p in result["posts"]
            if p["unfilled"]
        ]
        if not posts:
            return None
        return {
            "posts": posts,
            "rule": config["rule"],
            "order": order_of(config)["key"],
            "round": config.get("round", 1) + 1,
        }
