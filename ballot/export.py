"""The anonymous ballot export of an item, and the recount anyone can run from it.

The export holds the item's configuration, the counts that do not come from ballots (应到, 实到,
发出), and every ballot's group, validity and choices – no receipt, no id, no time – sorted
canonically so the file never reveals the order ballots arrived in. The ballots of a group too
small to be shown (RULES §4) are left out; only their number is given. `recount` tallies the
export with the same kind code the server uses.
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
    rows, left_out = [], {}
    for b in ballots:
        if b.group_id in withheld:
            left_out[str(b.group_id)] = left_out.get(str(b.group_id), 0) + 1
            continue
        row = {"group": b.group_id, "valid": b.valid, "choices": b.choices}
        if b.channel != "phone":  # paper: the channel and why a sheet is 无效 (phones never are)
            row.update(channel=b.channel, reason=b.reason)
        rows.append(row)
    rows.sort(key=_canonical)
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
        },
        "groups": [[gid, name] for gid, name in counts.groups],
        "withheld_groups": left_out,
        "ballots": rows,
    }


def recount(export: dict) -> dict:
    """The result, from the export alone (no server, no database)."""
    if export.get("format") != FORMAT:
        raise ValueError(f"不是本系统的选票导出文件（format 应为 {FORMAT}）")
    groups = tuple((int(gid), str(name)) for gid, name in export["groups"])
    counts = Counts(**export["counts"], groups=groups, closed_groups=frozenset(gid for gid, _ in groups))
    ballots = [
        BallotData(int(b["group"]), bool(b["valid"]), b["choices"], b.get("channel", "phone"), b.get("reason"))
        for b in export["ballots"]
    ]
    return get_kind(export["kind"]).tally(export["config"], ballots, counts)
