"""Statuses are StrEnums (storage/models.py) with CHECK constraints; pages compare with the enums
(given to every template), so a renamed status cannot leave a page silently comparing with a
string that no row holds any more."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
COMPARED_WITH_TEXT = re.compile(r"\.(status|state)\s*(==|!=|in)\s*[(\[]?\s*['\"]")


def test_no_template_compares_a_status_with_a_string():
    found = [
        f"{path.relative_to(TEMPLATES)}:{number}: {line.strip()[:100]}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if COMPARED_WITH_TEXT.search(line)
    ]
    assert found == []


def test_the_pattern_catches_the_forms_it_forbids():
    for line in ("{% if it.status == 'draft' %}", "{% if b.status != \"counted\" %}", "item.status in ('open', 'closed')"):
        assert COMPARED_WITH_TEXT.search(line), line
    assert not COMPARED_WITH_TEXT.search("{% if it.status == ItemStatus.DRAFT %}")
