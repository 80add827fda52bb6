"""民主推荐 (RULES §3): each voter recommends at most N people, from a list and/or written in.

The result reports, it does not decide (不唯票): votes and 得票率 per person over the chosen
denominator (default 收回票数), ranks with ties shared, who meets an optional threshold, and the
考察对象 a ratio gives (⌈ratio × N⌉ places; a tie at the cut-off is reported, never broken).
Written-in names are counted as written; a write-in naming a listed candidate (same name after
spaces, full-width forms, · and 繁简 are normalised) counts for that candidate; other spellings
that normalise alike are proposed as merges, which count only once the clerk confirms them.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Mapping, Sequence

from .. import numbers
from ..rules import DENOMINATORS, RuleError, Threshold, parse_fraction, percent
from .base import BallotData, CastError, Counts, Kind, KindConfigError, count_warnings, counted, order_of, people_order
from .common import ceil_places, clean_name, exact_fraction, ordered, parse_names, ranked, same_name_key

MAX_SEATS = 50
RATE_BASES = ("cast", "valid", "expected")


def _int(raw, what: str, low: int, high: int) -> int:
    return numbers.integer(raw, what, low, high, error=KindConfigError)


class RecommendKind(Kind):
    key = "recommend"
    label = "民主推荐（限额推荐，可另行推荐）"

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
            try:
                text = clean_name(text, "另行推荐人选")
            except KindConfigError as exc:
                raise CastError(str(exc)) from None
            key = same_name_key(text)
            if key in listed:  # a write-in naming a listed candidate counts for that candidate
                if listed[key] in indices:
                    raise CastError(f"“{text}”已在名单中选择，不能重复推荐")
                indices.append(listed[key])
                continue
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
        warnings = count_warnings(counts, ballots)  # why the result cannot be finalised yet, if it cannot
        sgf = config.get("single_given_first", True)
        cast = len(ballots)
        valid_ballots = [b for b in ballots if b.valid]
        valid = len(valid_ballots)
        base = {"cast": cast, "valid": valid, "expected": counts.expected}[config["denominator"]]
        votes = {name: 0 for name in config["candidates"]}
        spellings: dict[str, int] = {}  # written-in name as written -> votes
        blank = 0
        for ballot in valid_ballots:
            if not ballot.choices["chosen"] and not ballot.choices["written"]:
                blank += 1
            for i in ballot.choices["chosen"]:
                votes[config["candidates"][i]] += 1
            for name in ballot.choices["written"]:
                spellings[name] = spellings.get(name, 0) + 1
        # confirmed merges: a spelling counts for the name the clerk confirmed
        merged_into = {m["from"]: m["to"] for m in config.get("merges", [])}
        written: dict[str, dict] = {}
        for name, n in spellings.items():
            target = merged_into.get(name, name)
            if target in votes:
                votes[target] += n
                continue
            entry = written.setdefault(target, {"votes": 0, "spellings": []})
            entry["votes"] += n
            entry["spellings"].append(name)
        rows = [{"name": n, "votes": v, "written_in": False, "spellings": []} for n, v in votes.items()]
        rows += [
            {"name": n, "votes": e["votes"], "written_in": True, "spellings": sorted(e["spellings"])}
            for n, e in written.items()
        ]
        threshold = Threshold.from_dict(config["threshold"]) if config["threshold"] else None
        for row in rows:
            rate = Fraction(row["votes"], base) if base else None
            row["rate"] = str(rate) if rate is not None else None
            row["rate_display"] = percent(rate)
            row["meets_threshold"] = threshold.met(row["votes"], base) if threshold else None
        rows = ranked(rows, lambda r: r["votes"] if r["votes"] else None, lambda r: r["name"], sgf)
        shortlist = self._shortlist(config, rows)
        proposals = self._merge_proposals(config, spellings, merged_into)
        base_label = DENOMINATORS[config["denominator"]]
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
            "shortlist": shortlist,
            "merges": list(config.get("merges", [])),
            "merge_proposals": proposals,
            "rule_line": f"得票率 = 得票数 ÷ {base_label}（{base}）；每票推荐不超过 {config['seats']} 名；"
            f"空白票 {blank} 张计为弃权",
            "basis": "民主推荐结果是选拔任用的重要参考，不简单以票取人（RULES §3）",
            "warnings": warnings,
            "finalised": not warnings,
            "rounding": "得票率按精确分数四舍五入（ROUND_HALF_UP）保留两位小数，仅用于显示；名次相同者并列，按姓氏笔画排列",
        }

    def _shortlist(self, config: dict, rows: list[dict]) -> dict | None:
        if config["ratio"] is None:
            return None
        ratio = Fraction(config["ratio"])
        places = ceil_places(ratio, config["seats"])
        eligible = [r for r in rows if r["votes"] and r["meets_threshold"] is not False]
        chosen = [r["name"] for r in eligible if r["rank"] + _tied(eligible, r) - 1 <= places]
        tied = [r["name"] for r in eligible if r["rank"] <= places < r["rank"] + _tied(eligible, r) - 1]
        return {
            "ratio_text": f"1:{_ratio_text(ratio)}",
            "places": places,
            "names": chosen,
            "tied_at_cutoff": tied,
            "words": f"按 1:{_ratio_text(ratio)} 的比例确定考察对象 ⌈{_ratio_text(ratio)} × {config['seats']}⌉ = "
            f"{places} 名",
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


def _tied(rows: list[dict], row: dict) -> int:
    return sum(1 for r in rows if r["rank"] == row["rank"])


def _ratio_text(ratio: Fraction) -> str:
    return str(ratio.numerator) if ratio.denominator == 1 else f"{float(ratio):g}"
