"""民主推荐 (docs/rules.md#recommend): each voter recommends at most N people, from a list and/or written in.

The result reports, it does not decide (不唯票): votes and 得票率 per person over the chosen
denominator (default 收回票数), ranks with ties shared, who meets an optional threshold, and the
考察对象 a ratio gives (⌈ratio × N⌉ places; a tie at the cut-off is reported, never broken).
Written-in names are counted as written; a write-in naming a listed candidate (same name after
spaces, full-width forms, · and 繁简 are normalised) counts for that candidate; other spellings
that normalise alike are proposed as merges, which count only once the clerk confirms them.

A write-in must not let a voter prove their vote (a buyer dictating "赵钱孙 7Q4K" and looking for
it in the result). So a write-in is only a name (Han characters and the ·  of ethnic names,
kept without spaces), and the result every public output shares (`tally`: pages, screen, API,
tally.json, report, results.xlsx) names a written-in person only under a spelling at least
WRITE_IN_PUBLIC_MIN ballots wrote exactly; everyone else written in is pooled as "其他（N 票）".
Counts stay exact: ranks, the threshold and the 考察对象 are computed over every person, a pooled
one included, and a pooled person who would be a 考察对象 is reported as a number, not a name.
The clerk sees every spelling (`write_in_review`) to merge them; the anonymous export carries
no write-in text on any ballot, only the public write-in totals apart (`export_write_ins`).
"""

from __future__ import annotations

import unicodedata
from fractions import Fraction
from typing import Mapping, Sequence

from ... import numbers
from ...rules import DENOMINATORS, RuleError, Threshold, parse_fraction, percent
from ..base import BallotData, CastError, Counts, Kind, KindConfigError, count_warnings, counted, order_of, people_order
from ..common import ceil_places, exact_fraction, ordered, parse_names, ranked, same_name_key
from ..sheets import Box, Sheet
from . import form as form_fields
from . import paper, tables

MAX_SEATS = 50
RATE_BASES = ("cast", "valid", "expected")

# k: the fewest ballots that must carry one exact spelling before it is published. The same k the
# project uses wherever a figure could single out a few voters (民主测评's minimum group, 5; a
# live batch, at least 5 ballots). Fixed, not configurable: a lower k would reopen the attack.
WRITE_IN_PUBLIC_MIN = 5
MAX_WRITE_IN = 20  # characters: the longest Han transliteration of an ethnic name is about 15
NAME_DOT = "·"
_DOTS = "·・‧•∙⋅･﹒．."  # what phones and IMEs type for the 间隔号 of ethnic names
# Han: 〇, CJK Extension A, the URO, compatibility ideographs, Extensions B–I and the compatibility
# supplement (rare name characters such as 𫖮 live there)
_HAN = ((0x3007, 0x3007), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x323AF))
WHY_NAMES_ONLY = "以免选票被做上记号、失去秘密性"


def _is_han(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in _HAN)


def write_in_name(raw: str) -> str:
    """A written-in name in the one form it is kept in (no spaces, one kind of ·), or CastError
    saying why it is not a name: anything else could be a marker that identifies the ballot."""
    if len(raw) > 4 * MAX_WRITE_IN:
        raise CastError(f"另行推荐的姓名最多 {MAX_WRITE_IN} 个字，请只填写姓名，{WHY_NAMES_ONLY}")
    # a Han name has no spaces, and two ways of writing one dot would only make two spellings
    name = "".join(NAME_DOT if ch in _DOTS else ch for ch in "".join(raw.split()))
    odd = [ch for ch in dict.fromkeys(name) if ch != NAME_DOT and not _is_han(ch)]
    if odd:
        # an invisible character (zero-width, variation selector, control) is named, not echoed
        shown = "、".join(f"“{ch}”" if unicodedata.category(ch)[0] in "LNPS" else "不可见字符" for ch in odd[:5])
        raise CastError(
            f"另行推荐只能填写汉字姓名（少数民族姓名可用间隔号“·”），不能含字母、数字或符号（这里有{shown}），"
            f"{WHY_NAMES_ONLY}"
        )
    if len(name) > MAX_WRITE_IN:
        raise CastError(f"另行推荐的姓名最多 {MAX_WRITE_IN} 个字，请只填写姓名，{WHY_NAMES_ONLY}")
    if name.startswith(NAME_DOT) or name.endswith(NAME_DOT) or NAME_DOT * 2 in name:
        raise CastError(f"间隔号“·”只能写在姓名中间、每处一个，{WHY_NAMES_ONLY}")
    return name


def _int(raw, what: str, low: int, high: int) -> int:
    return numbers.parse_int(raw, what, low, high, error=KindConfigError)


class RecommendKind(Kind):
    key = "recommend"
    tables_module = tables
    form_module = form_fields
    label = "民主推荐（限额推荐，可另行推荐）"
    supports_merge = True
    supports_write_in_review = True
    sheet_write_ins = True
    paper_form_name = "推荐票"

    def paper_boxes(self, config: dict) -> list[Box]:
        return paper.boxes(config)

    def sheet_from_keys(self, config: dict, keys: str, written: str) -> Sheet:
        return paper.sheet(self, config, keys, written)

    def paper_instructions(self, config: dict) -> list[str]:
        return paper.instructions(config)

    def paper_form_view(self, config: dict, layout) -> dict:
        return paper.form_view(config, layout)

    def parse_config(self, raw: Mapping, *, single_given_first: bool = True) -> dict:
        seats = _int(raw.get("seats"), "推荐名额（职数）", 1, MAX_SEATS)
        candidates = parse_names(raw.get("candidates"), "候选人", allow_empty=True)
        write_ins = raw.get("write_ins", not candidates)
        if not isinstance(write_ins, bool):
            raise KindConfigError("write_ins（另行推荐）须为 true 或 false")
        if not candidates and not write_ins:
            raise KindConfigError("没有候选人名单时须允许另行推荐（非定位推荐/全额推荐）")
        denominator = str(raw.get("denominator", "cast"))
        if denominator not in RATE_BASES:
            raise KindConfigError("得票率分母只能是 cast（收回票数）、valid（有效票数）或 expected（应到人数）")
        threshold = None
        if raw.get("threshold") not in (None, ""):
            spec = raw["threshold"]
            if not isinstance(spec, Mapping):
                spec = {"op": ">=", "fraction": spec}
            try:
                threshold = Threshold(str(spec.get("op", ">=")), parse_fraction(spec.get("fraction")), denominator)
            except RuleError as exc:
                raise KindConfigError(f"得票率门槛：{exc}") from None
        ratio = None
        if raw.get("ratio") not in (None, ""):
            ratio = exact_fraction(raw["ratio"], "考察对象比例")
            if not 1 <= ratio <= 10:
                raise KindConfigError("考察对象比例须在 1 到 10 之间（如 1.5 表示 1:1.5）")
        order = people_order(raw.get("order"), single_given_first)
        config = {
            "seats": seats,
            "candidates": ordered(candidates, order, single_given_first),
            "write_ins": write_ins,
            "denominator": denominator,
            "threshold": threshold.to_dict() if threshold else None,
            "ratio": str(ratio) if ratio is not None else None,
            "order": order,
            "single_given_first": single_given_first,
            "merges": [],
        }
        return config

    def people(self, config: dict) -> list[str]:
        return list(config["candidates"])

    def reorder(self, config: dict, *, single_given_first: bool) -> dict:
        order = order_of(config)
        if order["key"] != "strokes":
            return {**config, "single_given_first": single_given_first}
        order = people_order("strokes", single_given_first)
        names = ordered(config["candidates"], order, single_given_first)
        return {**config, "candidates": names, "order": order, "single_given_first": single_given_first}

    def form_field_names(self, config: dict) -> list[str]:
        fields = [f"c{i}" for i in range(len(config["candidates"]))]
        if config["write_ins"]:
            fields += [f"w{i}" for i in range(config["seats"])]
        return fields

    def parse_cast(self, config: dict, form: Mapping[str, list[str]]) -> dict:
        allowed = set(self.form_field_names(config))
        if any(f[:1] in ("c", "w") and f[1:].isdigit() and f not in allowed for f in form):
            raise CastError("表单内容与本议题不符，请返回重新填写")
        chosen = [i for i in range(len(config["candidates"])) if form.get(f"c{i}")]
        written = []
        if config["write_ins"]:
            for i in range(config["seats"]):
                values = form.get(f"w{i}") or [""]
                text = " ".join(values[0].split())
                if text:
                    written.append(text)
        return self.check_choices(config, {"chosen": chosen, "written": written})

    def check_choices(self, config: dict, choices) -> dict:
        if not isinstance(choices, dict):
            raise CastError("选票内容无效，请返回重新填写")
        chosen, written = choices.get("chosen"), choices.get("written")
        if not isinstance(chosen, list) or not isinstance(written, list):
            raise CastError("选票内容无效，请返回重新填写")
        if any(not isinstance(i, int) or not 0 <= i < len(config["candidates"]) for i in chosen):
            raise CastError("选票内容无效，请返回重新填写")
        if written and not config["write_ins"]:
            raise CastError("本次推荐不能另行推荐")
        listed = {same_name_key(n): i for i, n in enumerate(config["candidates"])}
        indices, names, seen = sorted(set(chosen)), [], set()
        if len(indices) != len(chosen):
            raise CastError("同一人选不能重复推荐")
        for text in written:
            if not isinstance(text, str):
                raise CastError("选票内容无效，请返回重新填写")
            key = same_name_key(text) if len(text) <= 4 * MAX_WRITE_IN else None
            if key in listed:  # a write-in naming a listed candidate counts for that candidate
                if listed[key] in indices:
                    raise CastError(f"“{config['candidates'][listed[key]]}”已在名单中选择，不能重复推荐")
                indices.append(listed[key])
                continue
            text = write_in_name(text)
            if not text:
                raise CastError("另行推荐人选姓名不能为空")
            key = same_name_key(text)
            if key in seen:
                raise CastError(f"另行推荐的“{text}”重复填写")
            seen.add(key)
            names.append(text)
        total = len(indices) + len(names)
        if total > config["seats"]:
            raise CastError(f"推荐人数不能超过 {config['seats']} 名，现选了 {total} 名，请减少后再提交")
        return {"chosen": sorted(indices), "written": names}

    def review(self, config: dict, choices: dict) -> list[tuple[str, str]]:
        lines = [(config["candidates"][i], "推荐") for i in choices["chosen"]]
        lines += [(name, "另行推荐") for name in choices["written"]]
        return lines or [("（未推荐任何人）", "弃权")]

    def tally(self, config: dict, ballots: Sequence[BallotData], counts: Counts) -> dict:
        """The public result: a written-in spelling carried by fewer than k ballots is pooled."""
        valid = [b for b in ballots if b.valid]
        votes, persons, spellings, blank = self._marks(config, valid)
        people = self._people(persons, spellings, _merged_into(config))
        return self._result(config, ballots, counts, votes, people, blank, len(config.get("merges", [])), True)

    def write_in_review(self, config: dict, ballots: Sequence[BallotData], counts: Counts) -> dict:
        """For the clerk only, never published: the exact result with every written-in person
        named (and spelt as written), every spelling with its ballots, and the merges to confirm."""
        valid = [b for b in ballots if b.valid]
        votes, persons, spellings, blank = self._marks(config, valid)
        people = self._people(persons, spellings, _merged_into(config))
        merged_into = _merged_into(config)
        merges = len(config.get("merges", []))
        shown = {p["name"] for p in people if p["shown"]} | set(config["candidates"])
        return {
            "result": self._result(config, ballots, counts, votes, people, blank, merges, False),
            "spellings": [
                {"spelling": s, "ballots": n, "person": merged_into.get(s, s), "shown": merged_into.get(s, s) in shown}
                for s, n in sorted(spellings.items(), key=lambda x: (-x[1], x[0]))
            ],
            "merges": list(config.get("merges", [])),
            "merge_proposals": self._merge_proposals(config, spellings, merged_into),
            "public_min": WRITE_IN_PUBLIC_MIN,
        }

    def public_config(self, config: dict) -> dict:
        """The configuration as published: the confirmed merges name spellings as written, so only
        their number is kept (the export's write-in totals already have them applied)."""
        return {k: v for k, v in config.items() if k != "merges"}

    def exported_choices(self, config: dict, choices: dict) -> dict:
        """A ballot in the anonymous export: the listed candidates it counts for (a write-in merged
        into one of them included), and nothing of what it wrote in – not even how many names."""
        index = {name: i for i, name in enumerate(config["candidates"])}
        merged_into = _merged_into(config)
        chosen = set(choices["chosen"])
        chosen |= {index[merged_into[w]] for w in choices.get("written", []) if merged_into.get(w) in index}
        return {"chosen": sorted(chosen)}

    def export_extra(self, config: dict, ballots: Sequence[BallotData]) -> dict:
        """The write-ins, apart from the ballots they came on: each person published by name with
        their votes, the pooled persons' votes without names, and how many ballots marking nobody
        on the list wrote someone in (the recount needs it to tell them from blank ballots)."""
        valid = [b for b in ballots if b.valid]
        votes, persons, spellings, _ = self._marks(config, valid)
        people = self._people(persons, spellings, _merged_into(config))
        return {
            "write_ins": {
                "named": sorted([p["name"], p["votes"]] for p in people if p["shown"]),
                "others": sorted((p["votes"] for p in people if not p["shown"]), reverse=True),
                "written_only": sum(1 for b in valid if not self.exported_choices(config, b.choices)["chosen"])
                - sum(1 for b in valid if not b.choices["chosen"] and not b.choices["written"]),
                "merges": len(config.get("merges", [])),
            }
        }

    def recount(self, config: dict, ballots: Sequence[BallotData], counts: Counts, export: dict) -> dict:
        """The public result from the export: listed marks from the ballots, write-ins from their
        own part. Totals that cannot come from these ballots are refused (ValueError)."""
        part = export["write_ins"]
        named, others = part["named"], part["others"]
        written_only, merges = part["written_only"], part["merges"]
        numbers = [v for _, v in named] + list(others) + [written_only, merges]
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
            raise ValueError("选票导出中另行推荐的票数无效")
        if any(not isinstance(n, str) for n, _ in named) or len({n for n, _ in named}) != len(named):
            raise ValueError("选票导出中另行推荐的姓名无效")
        valid = [b for b in ballots if b.valid]
        votes, _, _, unmarked = self._marks(config, valid)  # exported ballots carry no write-ins
        places = sum(config["seats"] - len(b.choices["chosen"]) for b in valid)
        if (
            written_only > unmarked
            or sum(v for _, v in named) + sum(others) > places
            or any(v > len(valid) or v < 1 for v in [*(v for _, v in named), *others])
            or any(v < WRITE_IN_PUBLIC_MIN for _, v in named)
        ):
            raise ValueError("选票导出中另行推荐的票数与选票不符")
        people = [{"name": n, "votes": v, "spellings": [], "shown": True} for n, v in named]
        people += [{"name": None, "votes": v, "spellings": [], "shown": False} for v in others]
        return self._result(config, ballots, counts, votes, people, unmarked - written_only, merges, True)

    def _marks(self, config: dict, valid: Sequence[BallotData]):
        """Votes per listed candidate, ballots per written-in person (the clerk's merges applied;
        one ballot counts once for one person), ballots per spelling as written, and blank ballots."""
        merged_into = _merged_into(config)
        votes = {name: 0 for name in config["candidates"]}
        persons: dict[str, int] = {}
        spellings: dict[str, int] = {}
        blank = 0
        for ballot in valid:
            chosen, written = ballot.choices["chosen"], ballot.choices.get("written", [])
            if not chosen and not written:
                blank += 1
            named = {config["candidates"][i] for i in chosen}
            others = set()
            for spelling in written:
                spellings[spelling] = spellings.get(spelling, 0) + 1
                target = merged_into.get(spelling, spelling)
                (named if target in votes else others).add(target)
            for name in named:
                votes[name] += 1
            for name in others:
                persons[name] = persons.get(name, 0) + 1
        return votes, persons, spellings, blank

    @staticmethod
    def _people(persons: dict[str, int], spellings: dict[str, int], merged_into: dict[str, str]) -> list[dict]:
        """Written-in persons; `shown` when the spelling they are counted under is carried, exactly
        as written, by at least k ballots (so a variant merged into it never becomes a public name)."""
        return [
            {
                "name": name,
                "votes": n,
                "spellings": sorted(s for s in spellings if merged_into.get(s, s) == name),
                "shown": spellings.get(name, 0) >= WRITE_IN_PUBLIC_MIN,
            }
            for name, n in sorted(persons.items())
        ]

    def _result(self, config, ballots, counts, votes, people, blank: int, merges: int, public: bool) -> dict:
        warnings = count_warnings(counts, ballots)  # why the result cannot be finalised yet, if it cannot
        sgf = config.get("single_given_first", True)
        cast = len(ballots)
        valid = sum(1 for b in ballots if b.valid)
        base = {"cast": cast, "valid": valid, "expected": counts.expected}[config["denominator"]]
        rows = [{"name": n, "votes": v, "written_in": False} for n, v in votes.items()]
        for person in people:
            row = {"name": person["name"], "votes": person["votes"], "written_in": True}
            if public:
                row["pooled"] = not person["shown"]  # removed below, once ranks are known
            else:
                row.update(spellings=person["spellings"], shown=person["shown"])
            rows.append(row)
        threshold = Threshold.from_dict(config["threshold"]) if config["threshold"] else None
        for row in rows:
            rate = Fraction(row["votes"], base) if base else None
            row["rate"] = str(rate) if rate is not None else None
            row["rate_display"] = percent(rate)
            row["meets_threshold"] = threshold.met(row["votes"], base) if threshold else None
        # ranks over every person, pooled ones included: a pooled person's votes are exact too
        rows = ranked(rows, lambda r: r["votes"] if r["votes"] else None, lambda r: r["name"] or "", sgf)
        shortlist = self._shortlist(config, rows)
        pooled = [r for r in rows if r.get("pooled")]
        rows = [r for r in rows if not r.pop("pooled", False)]
        base_label = DENOMINATORS[config["denominator"]]
        k = WRITE_IN_PUBLIC_MIN
        return {
            "kind": self.key,
            "order_text": order_of(config)["text"],
            "counts": {**counted(counts, ballots), "blank": blank},
            "seats": config["seats"],
            "denominator": config["denominator"],
            "denominator_label": base_label,
            "denominator_value": base,
            "threshold_words": threshold.words("得票") if threshold else None,
            "rows": rows,
            "write_ins_pooled": {
                "persons": len(pooled),
                "votes": sum(r["votes"] for r in pooled),
                "label": f"其他（{sum(r['votes'] for r in pooled)} 票）",
                "meets_threshold": sum(1 for r in pooled if r["meets_threshold"]) if threshold else None,
            }
            if pooled
            else None,
            "write_in_min": k,
            "write_in_words": f"另行推荐的人选，须有至少 {k} 张选票写法完全相同才公布姓名，其余合计为“其他”；"
            "票数照实计算，名次、门槛和考察对象按每人的实际得票确定"
            if config["write_ins"]
            else None,
            "shortlist": shortlist,
            "merges_confirmed": merges,
            "rule_line": f"得票率 = 得票数 ÷ {base_label}（{base}）；每票推荐不超过 {config['seats']} 名；"
            f"空白票 {blank} 张计为弃权",
            "basis": "民主推荐结果是选拔任用的重要参考，不简单以票取人（《党政领导干部选拔任用工作条例》）",
            "warnings": warnings,
            "finalised": not warnings,
            "rounding": "得票率按精确分数四舍五入（ROUND_HALF_UP）保留两位小数，仅用于显示；名次相同者并列，按姓氏笔画排列",
        }

    def _shortlist(self, config: dict, rows: list[dict]) -> dict | None:
        """考察对象 by exact votes over every person; a pooled one is counted, never named."""
        if config["ratio"] is None:
            return None
        ratio = Fraction(config["ratio"])
        places = ceil_places(ratio, config["seats"])
        eligible = [r for r in rows if r["votes"] and r["meets_threshold"] is not False]
        chosen = [r for r in eligible if r["rank"] + _tied(eligible, r) - 1 <= places]
        tied = [r for r in eligible if r["rank"] <= places < r["rank"] + _tied(eligible, r) - 1]
        unnamed = sum(1 for r in chosen if r.get("pooled"))
        words = f"按 1:{_ratio_text(ratio)} 的比例确定考察对象 ⌈{_ratio_text(ratio)} × {config['seats']}⌉ = {places} 名"
        return {
            "ratio_text": f"1:{_ratio_text(ratio)}",
            "places": places,
            "names": [r["name"] for r in chosen if not r.get("pooled")],
            "tied_at_cutoff": [r["name"] for r in tied if not r.get("pooled")],
            "unnamed": unnamed,
            "tied_unnamed": sum(1 for r in tied if r.get("pooled")),
            "words": words,
            "unnamed_words": f"另有 {unnamed} 名另行推荐人选（写法相同的选票少于 {WRITE_IN_PUBLIC_MIN} 张，不公布姓名，由会务人员核对）"
            if unnamed
            else None,
        }

    def _merge_proposals(self, config: dict, spellings: dict[str, int], merged_into: dict[str, str]) -> list[dict]:
        """Spellings that normalise alike but are not yet merged (the clerk confirms each)."""
        groups: dict[str, list[str]] = {}
        for name in spellings:
            if name not in merged_into:
                groups.setdefault(same_name_key(name), []).append(name)
        proposals = []
        for names in groups.values():
            if len(names) > 1:
                names.sort(key=lambda n: (-spellings[n], n))
                proposals += [{"from": n, "to": names[0]} for n in names[1:]]
        return proposals

    def merge(self, config: dict, merges: list[dict], ballots: Sequence[BallotData]) -> dict:
        """The configuration with the clerk's confirmed merges of written-in spellings."""
        written = {n for b in ballots for n in b.choices.get("written", [])}
        targets = written | set(config["candidates"])
        checked, seen = [], set()
        for m in merges:
            source, target = str(m.get("from", "")), str(m.get("to", ""))
            if source in seen:
                raise KindConfigError(f"“{source}”已经合并过")
            seen.add(source)
            if source not in written:
                raise KindConfigError(f"“{source}”不是另行推荐中出现的写法")
            if target not in targets or target == source:
                raise KindConfigError(f"“{target}”不是可合并到的人选")
            checked.append({"from": source, "to": target})
        return {**config, "merges": checked}


def _merged_into(config: dict) -> dict[str, str]:
    """The clerk's confirmed merges: spelling as written -> the name it counts for."""
    return {m["from"]: m["to"] for m in config.get("merges", [])}


def _tied(rows: list[dict], row: dict) -> int:
    return sum(1 for r in rows if r["rank"] == row["rank"])


def _ratio_text(ratio: Fraction) -> str:
    return str(ratio.numerator) if ratio.denominator == 1 else f"{float(ratio):g}"
