"""The anonymous ballot export of an item, and the recount anyone can run from it.

The export holds the item's configuration, the counts that do not come from ballots (应到, 实到,
发出), and every ballot's validity and choices – no receipt, no id, no time – sorted canonically
so the file never reveals the order ballots arrived in. A ballot carries its group only for kinds
counted per group (民主测评, 评委打分), where the recount needs it; the ballots of a group too small
to be shown (docs/rules.md#evaluate, decided by the kind's `withheld_groups`, as the tally decides it) are left
out, valid and invalid alike, and only their number is given. For the other kinds the ballots carry
no group at all – a small group voting on an item with others cannot be picked out – and the export
gives each group's number of ballots per channel instead, which is all their count needs (docs/rules.md#counting
checks each group's numbers); their valid ballots carry no channel either (a group that alone
voted on paper would otherwise be singled out), only how many valid ballots came by each channel.
A ballot carries only what its kind lets it publish (`exported_choices`): a 民主推荐 ballot carries
the listed candidates it counts for and nothing it wrote in, so a written-in marker cannot find its
ballot; the write-ins come apart, as totals (`export_extra`). `recount` tallies the export with the
same kind code the server uses.
"""

from __future__ import annotations

import json
from typing import Iterable

from .kinds import BallotData, Counts, get_kind

FORMAT = "ballot-export/2"  # 2: no write-in text on any ballot; write-in totals apart
OLD_FORMATS = {"ballot-export/1": "另行推荐的姓名随每张选票导出的旧格式"}


def _canonical(ballot: dict) -> str:
    return json.dumps(ballot, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def ballot_export(
    title: str,
    kind: str,
    config: dict,
    ballots: Iterable[BallotData],
    counts: Counts,
    withheld_groups: Iterable[int] = (),
) -> dict:
    withheld = set(withheld_groups)
    rules = get_kind(kind)
    by_group = rules.per_group  # counted per group: the recount needs each ballot's group
    rows, left_out, totals, valid_channels, exported = [], {}, {}, {}, []
    for b in ballots:
        if b.group_id in withheld:
            left_out[str(b.group_id)] = left_out.get(str(b.group_id), 0) + 1
            continue
        exported.append(b)
        # an invalid sheet's reading counts for nothing; kept only where groups are shown anyway
        choices = rules.exported_choices(config, b.choices) if b.valid else (b.choices if by_group else {})
        row = {"valid": b.valid, "choices": choices}
        if by_group:
            row["group"] = b.group_id
        else:
            totals[(b.group_id, b.channel)] = totals.get((b.group_id, b.channel), 0) + 1
        if by_group or not b.valid:
            if b.channel != "phone":  # paper: the channel and why a sheet is 无效 (phones never are)
                row.update(channel=b.channel, reason=b.reason)
        else:  # a valid ballot's channel would single out a group that alone voted on paper
            valid_channels[b.channel] = valid_channels.get(b.channel, 0) + 1
        rows.append(row)
    rows.sort(key=_canonical)
    per_group_counts = {
        name: [list(pair) for pair in getattr(counts, name, ())]
        for name in ("group_present", "group_paper_issued")
        if getattr(counts, name, ())
    }
    return {
        "format": FORMAT,
        "title": title,
        "kind": kind,
        "config": rules.public_config(config),
        "counts": {
            "expected": counts.expected,
            "present": counts.present,
            "issued": counts.issued,
            **(
                {"paper_issued": counts.paper_issued, "paper_pending": counts.paper_pending}
                if counts.paper_issued is not None
                else {}
            ),
            **per_group_counts,
        },
        "groups": [[gid, name] for gid, name in counts.groups],
        "withheld_groups": left_out,
        **(
            {}
            if by_group
            else {
                "group_totals": [[gid, channel, n] for (gid, channel), n in sorted(totals.items())],
                "valid_channels": [[channel, n] for channel, n in sorted(valid_channels.items())],
            }
        ),
        "ballots": rows,
        **rules.export_extra(config, exported),
    }


def _counts_left(pairs, what: str) -> dict[str, list]:
    left: dict[str, list] = {}
    for *key, n in pairs:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"选票导出中{what}无效")
        left.setdefault(str(key[-1]), []).extend([key[0]] * n)
    return left


def _channels(export: dict) -> list[str]:
    """Each exported ballot's channel: its own (an invalid paper sheet, or a kind counted per
    group), or (a valid ballot of another kind) one consistent with `valid_channels` – which
    valid ballot came on paper changes no count, only how many did."""
    rows = export["ballots"]
    if "valid_channels" not in export:
        return [b.get("channel", "phone") for b in rows]
    left = [channel for channel, ids in _counts_left(export["valid_channels"], "各渠道票数").items() for _ in ids]
    channels = []
    for b in rows:
        if "channel" in b or not b["valid"]:
            channels.append(b.get("channel", "phone"))
        elif left:
            channels.append(left.pop())
        else:
            raise ValueError("选票导出中各渠道票数与选票不符")
    if left:
        raise ValueError("选票导出中各渠道票数与选票不符")
    return channels


def _group_ids(export: dict, channels: list[str]) -> list[int]:
    """Each exported ballot's group: its own, or (kinds not counted per group) one consistent with
    `group_totals` – which group a ballot is given does not change such a count, only how many
    ballots of each channel each group has does."""
    rows = export["ballots"]
    if "group_totals" not in export:
        return [int(b["group"]) for b in rows]
    left = {channel: [int(g) for g in ids] for channel, ids in _counts_left(export["group_totals"], "各组票数").items()}
    ids = []
    for channel in channels:
        queue = left.get(channel)
        if not queue:
            raise ValueError("选票导出中各组票数与选票不符")
        ids.append(queue.pop())
    if any(left.values()):
        raise ValueError("选票导出中各组票数与选票不符")
    return ids


def recount(export: dict) -> dict:
    """The result, from the export alone (no server, no database)."""
    if export.get("format") in OLD_FORMATS:
        raise ValueError(
            f"选票导出格式为 {export['format']}（{OLD_FORMATS[export['format']]}），本版本只重新计票 {FORMAT}："
            "请用生成它的 ballot 版本计票"
        )
    if export.get("format") != FORMAT:
        raise ValueError(f"不是本系统的选票导出文件（format 应为 {FORMAT}）")
    groups = tuple((int(gid), str(name)) for gid, name in export["groups"])
    stated = dict(export["counts"])
    for name in ("group_present", "group_paper_issued"):
        if name in stated:
            stated[name] = tuple((int(gid), int(n)) for gid, n in stated[name])
    counts = Counts(**stated, groups=groups, closed_groups=frozenset(gid for gid, _ in groups))
    channels = _channels(export)
    ballots = [
        BallotData(gid, bool(b["valid"]), b["choices"], channel, b.get("reason"))
        for gid, channel, b in zip(_group_ids(export, channels), channels, export["ballots"], strict=True)
    ]
    return get_kind(export["kind"]).recount(export["config"], ballots, counts, export)
