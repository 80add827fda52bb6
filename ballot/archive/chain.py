"""The audit log's hash chain, checked with no database (storage/audit.py writes the log).

Each entry's hash covers the previous entry's hash and its own canonical content, so removing
or editing an entry breaks the chain. Pure: the offline verifier (verify.py) uses it as is.
"""

from __future__ import annotations

import hashlib
import json

GENESIS = "0" * 64


def entry_hash(
    prev_hash: str, seq: int, at: str, actor: str, role: str, action: str, meeting_id, detail_json: str, unit_id=None
) -> str:
    fields = [seq, at, actor, role, action, meeting_id, detail_json]
    if unit_id is not None:  # entries from before units carry none and hash exactly as they did
        fields.append(unit_id)
    body = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def verify_export(lines: list[dict], head: str | None, count: int | None) -> tuple[bool, str]:
    """Check a meeting's exported entries with no database: each entry's hash recomputed from its
    own fields and its predecessor's hash; consecutive entries linked; the last one the signed head;
    as many entries as the signed report says. Gaps in `seq` are other meetings' entries."""
    prev_seq, prev_hash = None, None
    for i, line in enumerate(lines, start=1):
        try:
            seq, stated = int(line["seq"]), line["hash"]
            recomputed = entry_hash(
                line["prev_hash"],
                seq,
                line["at"],
                line["actor"],
                line["role"],
                line["action"],
                line["meeting_id"],
                line["detail_json"],
                line.get("unit_id"),  # absent in archives made before units
            )
            readable = json.loads(line["detail_json"]) == line["detail"]
        except (KeyError, TypeError, ValueError):
            return False, f"第 {i} 行格式不对"
        if recomputed != stated or not readable:
            return False, f"第 {i} 行（序号 {seq}）内容被改动"
        if prev_seq is not None and seq <= prev_seq:
            return False, f"第 {i} 行序号不递增"
        if prev_seq is not None and seq == prev_seq + 1 and line["prev_hash"] != prev_hash:
            return False, f"第 {i} 行（序号 {seq}）的前序哈希不符"
        prev_seq, prev_hash = seq, stated
    if (prev_hash or None) != head:
        return False, "最后一条记录的哈希与签名报告记载的不符"
    if count is not None and len(lines) != count:
        return False, f"共 {len(lines)} 条记录，签名报告记载 {count} 条：有记录被删除或添加"
    return True, f"共 {len(lines)} 条记录，每条哈希与签名报告记载的链首一致"
