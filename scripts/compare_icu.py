"""Compare our 姓氏笔画 order with ICU's Chinese stroke collation (zh@collation=stroke).

    .venv/bin/python scripts/compare_icu.py

Prints, for every published list in tests/unit/data/stroke_lists (or the directory given), whether
each order reproduces it, and over the 8,105 characters of 通用规范汉字表 (those with data) how
often ICU's order of two characters differs from ours, split by cause.
"""

from __future__ import annotations

import random
import sys
from itertools import pairwise
from pathlib import Path

import icu

from ballot.counting import strokes

LISTS = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "tests/unit/data/stroke_lists"


def read_list(path: Path) -> tuple[list[str], str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    rule = next((line for line in lines if line.startswith("# rule:")), "")
    return [line for line in lines if line.strip() and not line.startswith("#")], rule


def main() -> None:
    collator = icu.Collator.createInstance(icu.Locale("zh@collation=stroke"))
    print(f"ICU {icu.ICU_VERSION}, Unicode {icu.UNICODE_VERSION}")
    for path in sorted(LISTS.glob("*.txt")):
        names, rule = read_list(path)
        shuffled = random.sample(names, len(names))
        ours = strokes.sort_names(shuffled, single_given_first="逐字" not in rule)
        theirs = sorted(shuffled, key=collator.getSortKey)
        print(
            f"{path.name}: ours {'reproduces' if ours == names else 'DIFFERS'}, ICU {'reproduces' if theirs == names else 'differs'}"
        )
        if theirs != names:
            first = next(i for i, (a, b) in enumerate(zip(theirs, names)) if a != b)
            print(f"    ICU puts {theirs[first]} where the list has {names[first]}")
    table = strokes.table()
    chars = [c for c, d in table.items() if d.classes and d.source in "mod"]
    ours = sorted(chars, key=strokes.char_key)
    theirs = sorted(chars, key=collator.getSortKey)
    position = {c: i for i, c in enumerate(theirs)}
    inversions_count = inversions_within = 0
    for a, b in pairwise(ours):
        if position[a] > position[b]:
            if table[a].count != table[b].count:
                inversions_count += 1
            else:
                inversions_within += 1
    index = icu.AlphabeticIndex(icu.Locale("zh@collation=stroke"))
    index.maxLabelCount = 1000
    buckets = index.buildImmutableIndex()
    labels = [buckets.getBucket(i)[0] for i in range(buckets.bucketCount)]  # '12劃' …
    other_count = [c for c in chars if labels[buckets.getBucketIndex(c)] != f"{table[c].count}劃"]
    print(
        f"ICU's stroke-count bucket differs from our (规范) count for {len(other_count)} of {len(chars)} characters,"
        f" e.g. {''.join(other_count[:30])}"
    )
    print(
        f"{len(chars)} simplified characters with sequences; neighbours in our order that ICU inverts: "
        f"{inversions_count} across stroke counts (ICU counts differently), {inversions_within} within a count "
        "(ICU orders characters of equal count by code point, not by stroke sequence)"
    )


if __name__ == "__main__":
    main()
