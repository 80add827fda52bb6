"""Load a meeting from a TOML meeting file (format documented in examples/README.md).

The whole file is checked inside the caller's transaction: one error and nothing is created.
"""

from __future__ import annotations

import tomllib

from sqlalchemy.orm import Session

from ballot.counting.errors import OperationError
from ballot.counting.kinds import KINDS, KindConfigError
from ballot.storage import audit
from ballot.storage.models import Meeting

from .setup import add_group, add_item, create_meeting

MAX_FILE_BYTES = 512 * 1024


def decode(data: bytes) -> str:
    """An uploaded or named file's bytes as text: UTF-8 (with or without the BOM Notepad writes)."""
    if len(data) > MAX_FILE_BYTES:
        raise OperationError("会议文件过大（上限 512 KB）")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise OperationError("会议文件须为 UTF-8 编码的文本（可在记事本“另存为”中选择 UTF-8 编码）") from None


def parse(text: str) -> dict:
    if len(text.encode(errors="replace")) > MAX_FILE_BYTES:
        raise OperationError("会议文件过大（上限 512 KB）")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OperationError(f"会议文件不是有效的 TOML：{exc}") from None
    except RecursionError:  # tomllib recurses once per nested [ or {
        raise OperationError("会议文件的嵌套层数过多，不是有效的会议文件") from None
    except ValueError:  # an integer of thousands of digits (Python refuses to convert it)
        raise OperationError("会议文件中有过长的数字，不是有效的会议文件") from None
    return data


def check_structure(data) -> dict:
    """The shape shared by TOML files and the JSON API's request body."""
    if not isinstance(data, dict):
        raise OperationError("会议描述须为一个对象，含 meeting、groups、items")
    if not isinstance(data.get("meeting"), dict):
        raise OperationError("会议文件缺少 [meeting] 部分（会议名称、日期、地点）")
    if not isinstance(data.get("groups"), list) or not data["groups"]:
        raise OperationError("会议文件缺少 [[groups]]（至少一个表决组及其应到人数）")
    if not isinstance(data.get("items", []), list):
        raise OperationError("[[items]] 格式无效")
    return data


def _expand(it: dict, config: dict) -> list[tuple[str, dict]]:
    """评委打分 with `per_candidate = true` (当场亮分): one item per candidate, in the order given,
    sharing a series so their final scores rank together."""
    kind = KINDS.get(it["kind"]) if isinstance(it.get("kind"), str) else None
    if kind is None or not kind.supports_series or not it.get("per_candidate"):
        return [(it.get("title"), config)]
    try:
        return kind.series_items(str(it.get("title") or "").strip(), config)
    except KindConfigError as exc:
        raise OperationError(str(exc)) from None


def load(session: Session, actor: audit.Actor, text: str, unit_id: int | None = None) -> Meeting:
    return load_data(session, actor, parse(text), unit_id)


def load_data(session: Session, actor: audit.Actor, data, unit_id: int | None = None) -> Meeting:
    data = check_structure(data)
    m = data["meeting"]
    meeting = create_meeting(
        session, actor, m.get("title"), m.get("date", ""), m.get("location", ""), m.get("same_surname"), unit_id
    )
    by_name = {}
    for n, g in enumerate(data["groups"], start=1):
        if not isinstance(g, dict):
            raise OperationError(f"第 {n} 个表决组格式无效")
        try:
            group = add_group(session, actor, meeting, g.get("name"), g.get("expected"))
        except OperationError as exc:
            raise OperationError(f"第 {n} 个表决组：{exc}") from None
        by_name[group.name] = group.id
    for n, it in enumerate(data.get("items", []), start=1):
        if not isinstance(it, dict):
            raise OperationError(f"第 {n} 个议题格式无效")
        names = it.get("groups") or list(by_name)
        if not isinstance(names, list):
            names = [names]
        unknown = [str(x) for x in names if not isinstance(x, str) or x not in by_name]
        try:
            if unknown:
                raise OperationError(f"表决组“{'、'.join(unknown)}”未在 [[groups]] 中定义")
            config = {k: v for k, v in it.items() if k not in ("title", "kind", "groups", "per_candidate")}
            for title, part in _expand(it, config):
                add_item(session, actor, meeting, title, it.get("kind", "approval"), part, [by_name[x] for x in names])
        except OperationError as exc:
            raise OperationError(f"第 {n} 个议题：{exc}") from None
    session.refresh(meeting)
    return meeting
