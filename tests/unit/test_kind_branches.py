"""A ballot kind's rules live in its own folder (ballot/counting/kinds/<kind>/): code elsewhere asks
the kind (`kind.paper_boxes(…)`, `kind.supports_next_round`), never which kind it is. This test
reads the source (nothing is executed) and lists every line outside the kinds that branches on a
kind, so a new rule lands in the kind's folder rather than in an `if` somewhere else.
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ballot"
KINDS = PACKAGE / "counting" / "kinds"
BRANCH = re.compile(r"kind ==|kind !=|kind in \(|\.kind ==|hasattr\(kind")

# Lines that match but are not about ballot kinds: (path under ballot/, the line stripped) → why.
NOT_BALLOT_KINDS = {
    ("voting/sealing.py", 'if self.failure.kind == "busy":'): "a storage failure's kind",
    ("voting/sealing.py", 'if storage_failure(exc).kind != "busy" or attempt == 19:'): "a storage failure's kind",
}


def kind_branches() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if KINDS in path.parents:
            continue
        where = path.relative_to(PACKAGE).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if BRANCH.search(line) and (where, line.strip()) not in NOT_BALLOT_KINDS:
                found.append(f"ballot/{where}:{number}: {line.strip()}")
    return found


def test_no_branch_on_the_ballot_kind_outside_the_kinds():
    found = kind_branches()
    assert not found, "move these into the kind (a method or attribute on kinds/base.py's Kind):\n" + "\n".join(found)


def test_the_allowed_lines_still_exist():
    """An entry of NOT_BALLOT_KINDS whose line is gone is stale: remove it."""
    for where, line in NOT_BALLOT_KINDS:
        text = (PACKAGE / where).read_text(encoding="utf-8")
        assert line in {x.strip() for x in text.splitlines()}, (where, line)
