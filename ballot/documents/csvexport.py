"""CSV written for spreadsheets (the codes list): a field that Excel or LibreOffice would read as a
formula (= + - @, tab, CR first) gets a leading apostrophe, and every field is quoted, as OWASP
recommends against CSV injection. A meeting title like =HYPERLINK(…) stays text."""

from __future__ import annotations

import csv
from typing import Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_field(value):
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_rows(fh, rows: Iterable[Iterable]) -> None:
    writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
    for row in rows:
        writer.writerow([safe_field(v) for v in row])
