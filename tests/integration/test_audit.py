"""The audit log is hash-chained and the database refuses to change it."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ballot.storage import audit
from ballot.storage.models import AuditEntry


def test_chain_verifies_and_detects_tampering(world):
    m = world.standard()
    world.present(m.groups[0].id, 11)
    world.open(m.items[0].id)
    with world.db.read() as s:
        entries = audit.entries(s)
        ok, summary = audit.verify_chain(entries)
        assert ok, summary
        actions = [e.action for e in entries]
        assert actions[:2] == ["meeting.create", "group.add"]
        assert "attendance.set" in actions and actions[-1] == "item.open"
        s.expunge_all()
    entries[1].detail_json = entries[1].detail_json.replace("11", "12")
    ok, summary = audit.verify_chain(entries)
    assert not ok and "第 2 条" in summary
    ok, summary = audit.verify_chain([entries[0]] + entries[2:])
    assert not ok


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"])
def test_database_refuses_update_and_delete(world, statement):
    world.standard()
    with pytest.raises(DBAPIError, match="append-only"):
        with world.db.write() as s:
            s.execute(text(statement))
    with world.db.read() as s:
        assert s.query(AuditEntry).filter(AuditEntry.actor == "x").count() == 0
        assert s.query(AuditEntry).count() > 0


def test_a_meetings_page_checks_its_part_of_the_chain(world):
    """The meeting's audit page checks the meeting's entries, their neighbours and the log's
    numbering (cost follows the meeting), says nothing of other meetings' entries, and still
    notices an edited entry of the meeting and a removed entry of another one."""
    from ballot.storage.migrations.triggers import drop_audit_triggers

    first = world.standard()
    world.present(first.groups[0].id, 11)
    second = world.standard()
    world.open(first.items[0].id)
    with world.db.read() as s:
        ok, summary = audit.verify_meeting(s, first.id)
        own = audit.entries(s, first.id)
        others = [e.seq for e in audit.entries(s) if e.meeting_id == second.id]
    assert ok and summary == f"本会议共 {len(own)} 条记录，哈希链完整"
    with world.db.write() as s:
        drop_audit_triggers(s.connection())
        s.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": others[-1]})
    with world.db.read() as s:
        assert not audit.verify_meeting(s, first.id)[0]  # a gap, or a broken link beside it
    with world.db.write() as s:
        s.execute(text("UPDATE audit_log SET detail_json = '{}' WHERE seq = :seq"), {"seq": own[-1].seq})
    with world.db.read() as s:
        ok, summary = audit.verify_meeting(s, first.id)
    assert not ok and f"第 {own[-1].seq} 条" in summary
