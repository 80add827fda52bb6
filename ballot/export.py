"""The anonymous ballot export of an item, and the recount anyone can run from it.

The export holds the item's configuration, the counts that do not come from ballots (应到, 实到,
发出), and every ballot's validity and choices – no receipt, no id, no time – sorted canonically
so the file never reveals the order ballots arrived in. A ballot carries its group only for kinds
counted per group (民主测评, 评委打分), where the recount needs it; the ballots of a group too small
to be shown (RULES §4, decided by the kind's `withheld_groups`, as the tally decides it) are left
out, valid and invalid alike, and only their number is given. For the other kinds the ballots carry
no group at all – a small group voting on an item with others cannot be picked out – and the export
gives each group's number of ballots per channel instead, which is all their count needs (RULES §7
checks each group's numbers). `recount` tallies the export with the same kind code the server uses.
"""

from __future__ import annotations

import json
from typing import Iterable

from .kinds import BallotData, Counts, get_kind

FORMAT = "ballot-export/1"


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
    by_group = get_kind(kind).per_group  # counted per group: the recount needs each ballot's group
    rows, left_out, totals = [], {}, {}
    for b in ballots:
        if b.group_id in withheld:
            left_out[str(b.group_id)] = left_out.get(str(b.group_id), 0) + 1
            continue
        row = {"valid": b.valid, "choices": b.choices}
        if by_group:
            row["group"] = b.group_id
        else:
            totals[(b.group_id, b.channel)] = totals.get((b.group_id, b.channel), 0) + 1
        if b.channel != "phone":  # paper: the channel and why a sheet is 无效 (phones never are)
            row.update(channel=b.channel, reason=b.reason)
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
        "config": config,
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
        **({} if by_group else {"group_totals": [[gid, channel, n] for (gid, channel), n in sorted(totals.items())]}),
        "ballots": rows,
    }


def _group_ids(export: dict) -> list[int]:
    """Each exported ballot's group: its own, or (kinds not counted per group) one consistent with
    `group_totals` – which group a ballot is given does not change such a count, only how many
    ballots of each channel each group has does."""
    rows = export["ballots"]
    if "group_totals" not in export:
        return [int(b["group"]) for b in rows]
    left: dict[str, list[int]] = {}
    for gid, channel, n in export["group_totals"]:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError("选票导出中各组票数无效")
        left.setdefault(str(channel), []).extend([int(gid)] * n)
    ids = []
    for b in rows:
        queue = left.get(b.get("channel", "phone"))
        if not queue:
            raise ValueError("选票导出中各组票数与选票不符")
        ids.append(queue.pop())
    if any(left.values()):
        raise ValueError("选票导出中各组票数与选票不符")
    return ids


def recount(export: dict) -> dict:
    """The result, from the export alone (no server, no database)."""
    if export.get("format") != FORMAT:
        raise ValueError(f"不是本系统的选票导出文件（format 应为 {FORMAT}）")
    groups = tuple((int(gid), str(name)) for gid, name in export["groups"])
    stated = dict(export["counts"])
    for name in ("group_present", "group_paper_issued"):
        if name in stated:
            stated[name] = tuple((int(gid), int(n)) for gid, n in stated[name])
    counts = Counts(**stated, groups=groups, closed_groups=frozenset(gid for gid, _ in groups))
    ballots = [
        BallotData(gid, bool(b["valid"]), b["choices"], b.get("channel", "phone"), b.get("reason"))
        for gid, b in zip(_group_ids(export), export["ballots"], strict=True)
    ]
    return get_kind(export["kind"]).tally(export["config"], ballots, counts)
