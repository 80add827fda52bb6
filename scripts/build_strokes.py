"""Regenerate ballot/counting/data/strokes.tsv, the stroke data behind 姓氏笔画 order.

Run once by a maintainer (the app itself needs neither Node nor network):

    apt-get install unicode-data        # Unihan, for the 通用规范汉字表 list and stroke counts
    python scripts/build_strokes.py     # fetches the npm/PyPI sources into build/stroke-sources/

Sources, in order of precedence (see ballot/counting/data/STROKES.md for versions and licences):
  m  ballot/counting/data/strokes_manual.tsv - sequences entered by hand, each citing its source
  o  cnchar-order 3.2.6 (MIT)       - stroke-form sequences of 6,939 simplified characters
  t  cnchar-trad 3.2.6 (MIT)        - the same for 2,611 traditional characters
  d  derived                        - a left|right or top/bottom character of 通用规范汉字表 missing
                                      above, composed from two parts that are themselves characters
                                      with data (decomposition: cjk-semantic-split 0.6.0, MIT),
                                      each part written as it is written in that position in at
                                      least two real characters; kept only if its stroke count
                                      equals Unihan kTotalStrokes. Checked on the characters that
                                      do have data: see the figures this script prints.
  u  Unihan kTotalStrokes only       - count known, sequence unknown: sorted after every known
                                      sequence of that count and reported as missing data.
"""

from __future__ import annotations

import bz2
import collections
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "stroke-sources"
OUT = ROOT / "ballot" / "counting" / "data" / "strokes.tsv"
SIMPLIFIED = ROOT / "ballot" / "counting" / "data" / "simplified.tsv"
MANUAL = ROOT / "ballot" / "counting" / "data" / "strokes_manual.tsv"
UNIHAN = Path("/usr/share/unicode")
NPM = {"cnchar-order": "3.2.6", "cnchar-trad": "3.2.6"}
DECOMP = ("cjk-semantic-split", "0.6.0")
RANKS = ("cn-sort", "0.14.0")  # MIT; its stroke order ranks 20,000+ characters (no sequences)

# cnchar's stroke letters, folded into the five classes of GB 13000.1 字序规范 (1 横 2 竖 3 撇 4 点 5 折).
STROKE_CLASS = {"j": "1", "i": "1", "f": "2", "g": "2", "s": "3", "k": "4", "d": "4", "l": "4"}
STROKE_CLASS.update(dict.fromkeys("cerpvaowqbhxuzntmy", "5"))


def classes(seq: str) -> str:
    return "".join(STROKE_CLASS[s] for s in seq)


def fetch_sources() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    for name, version in NPM.items():
        if not (CACHE / f"{name}-{version}.tgz").exists():
            subprocess.run(["npm", "pack", f"{name}@{version}", "--pack-destination", str(CACHE)], check=True)
    for name, version in (DECOMP, RANKS):
        if not list(CACHE.glob(f"{name.replace('-', '_')}-{version}-*.whl")):
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(CACHE), f"{name}=={version}"],
                check=True,
            )


def cn_sort_ranks() -> dict[str, int]:
    """cn-sort's stroke order: character -> rank (stroke_increment_level)."""
    wheel = next(CACHE.glob("cn_sort-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        words = json.loads(z.read("cn_sort/res/all_word.json"))["all_word"]
    return {w["chinese"]: int(w["stroke_increment_level"]) for w in words if len(w["chinese"]) == 1}


def place_by_rank(table, ranks) -> int:
    """Count-only characters that cn-sort ranks: placed after the character with a sequence and the
    same count that cn-sort puts just before them (or first of their count). Returns how many."""
    by_count = collections.defaultdict(list)
    for char, (seq, count, _) in table.items():
        if seq and char in ranks:
            by_count[count].append((ranks[char], char))
    for group in by_count.values():
        group.sort()
    placed = 0
    for char, (seq, count, source) in list(table.items()):
        if source != "u" or char not in ranks:
            continue
        before = [c for r, c in by_count.get(count, []) if r < ranks[char]]
        table[char] = ("", count, "r", f"{before[-1] if before else ''}:{ranks[char]}")
        placed += 1
    return placed


def npm_json_modules(name: str) -> list[dict]:
    """The JSON data modules webpack inlined as JSON.parse('…') into the package's bundle."""
    with tarfile.open(CACHE / f"{name}-{NPM[name]}.tgz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".min.js"))
        source = tar.extractfile(member).read().decode()
    modules = []
    for literal in re.findall(r"JSON\.parse\('((?:[^'\\]|\\.)*)'\)", source):
        text = literal.encode("latin-1", "backslashreplace").decode("unicode_escape")
        text = text.encode("utf-16", "surrogatepass").decode("utf-16")  # \uD8xx pairs -> astral chars
        modules.append(json.loads(text))
    return modules


def unihan(field: str) -> dict[str, str]:
    values = {}
    for path in UNIHAN.glob("Unihan_*.txt.bz2"):
        with bz2.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                if f"\t{field}\t" in line:
                    code, _, value = line.rstrip("\n").split("\t")
                    values[chr(int(code[2:], 16))] = value
    return values


def decompositions() -> dict[str, tuple[tuple[int, str], ...]]:
    wheel = next(CACHE.glob("cjk_semantic_split-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        text = z.read("chinese_decompose/data/decomp_zh-Hans-general.txt").decode()
    result = {}
    for line in text.splitlines():
        if "\t" in line and not line.startswith("#"):
            char, dsl = line.split("\t")
            parts = tuple((int(p), a) for p, a in re.findall(r"\[(\d+)\]:(\S+)", dsl))
            if parts[-2:] == ((90, "乌"), (40, "丶")):  # the data spells a right-hand 鸟 as 乌 around 丶
                parts = parts[:-2] + ((40, "鸟"),)
            result[char] = parts
    return result


LEFT, TOP, RIGHT, BOTTOM = {30, 50, 70}, {10, 50, 60}, {40, 60, 80}, {20, 70, 80}


class Composer:
    """Left|right and top/bottom characters composed from two parts that are characters with data."""

    def __init__(self, decomp, known):
        self.decomp, self.known = decomp, known
        self.whole = {}
        for char, parts in decomp.items():
            if char in known:
                self.whole.setdefault(tuple(a for _, a in parts), char)
        for char in known:
            self.whole.setdefault((char,), char)
        self.learn_components()
        self.variants = collections.defaultdict(collections.Counter)
        for char in known:
            for a, side_a, b, side_b, arrangement in self.splits(char, exclude_self=True):
                if arrangement != "outer first":
                    continue
                seq, la = known[char], len(self.sequence(a))
                if len(seq) == la + len(self.sequence(b)):
                    self.variants[(a, side_a)][seq[:la]] += 1
                    self.variants[(b, side_b)][seq[la:]] += 1

    def learn_components(self):
        """Sequences of components that are not characters (氵 扌 艹 …), learned from the characters that
        contain them: what is left of the character's sequence once the other parts are taken off.
        Kept only when at least three characters agree and no more than a fifth disagree."""
        votes = collections.defaultdict(collections.Counter)
        for char, parts in self.decomp.items():
            if char not in self.known or any(p >= 90 for p, _ in parts):
                continue
            for i, (_, atom) in enumerate(parts):
                others = parts[:i] + parts[i + 1 :]
                if atom in self.known or any(a not in self.known for _, a in others):
                    continue
                before = "".join(self.known[a] for _, a in parts[:i])
                after = "".join(self.known[a] for _, a in parts[i + 1 :])
                seq = self.known[char]
                if seq.startswith(before) and seq.endswith(after) and len(seq) > len(before) + len(after):
                    votes[atom][seq[len(before) : len(seq) - len(after)]] += 1
        self.components = {}
        for atom, counts in votes.items():
            best, n = counts.most_common(1)[0]
            if n >= 3 and n * 5 >= 4 * sum(counts.values()):
                self.components[atom] = best
                self.whole.setdefault((atom,), atom)

    def sequence(self, part):
        return self.known.get(part) or self.components[part]

    def splits(self, char, exclude_self):
        """(part, its position, part, its position, arrangement) for each way the character divides."""
        parts = self.decomp.get(char, ())
        if len(parts) >= 2 and parts[0][0] >= 90 and all(p < 90 for p, _ in parts[1:]):
            code, outer = parts[0]
            inner = self.whole.get(tuple(a for _, a in parts[1:]))
            arrangement = ENCLOSURES.get(code)
            if code == 99 and outer in WRITTEN_LAST:
                arrangement = "inner first"
            if arrangement and (outer,) in self.whole and inner and not (exclude_self and char == inner):
                yield outer, f"O{code}", inner, f"I{code}", arrangement
            return
        if any(p >= 90 for p, _ in parts):
            return  # an enclosure inside a part: not composed
        for k in range(1, len(parts)):
            first, second = parts[:k], parts[k:]
            pf, ps = {p for p, _ in first}, {p for p, _ in second}
            if pf <= LEFT and ps <= RIGHT:
                sides = ("L", "R")
            elif pf <= TOP and ps <= BOTTOM:
                sides = ("T", "B")
            else:
                continue
            a, b = self.whole.get(tuple(x for _, x in first)), self.whole.get(tuple(x for _, x in second))
            if a and b and not (exclude_self and char in (a, b)):
                yield a, sides[0], b, sides[1], "outer first"

    def part(self, char, side):
        counts = self.variants.get((char, side))
        if counts:
            best, n = counts.most_common(1)[0]
            if n >= 2:
                return best
        return self.sequence(char)

    def methods(self, char, exclude_self=False) -> dict[str, set[str]]:
        """Composed sequences by method: 'outer first' for left|right and top/bottom, else the
        enclosure's arrangement and the enclosing part ('enclosure first 广'), each judged on its own."""
        result = collections.defaultdict(set)
        for a, sa, b, sb, arrangement in self.splits(char, exclude_self):
            method = arrangement if arrangement == "outer first" else f"{arrangement} {a}"
            result[method].add(ARRANGE[arrangement](self.part(a, sa), self.part(b, sb)))
        return result

    def compose(self, char, exclude_self=False, methods=None) -> set[str]:
        found = self.methods(char, exclude_self)
        return {x for method, seqs in found.items() if methods is None or method in methods for x in seqs}


# How an enclosure is written around what it encloses (position codes of cjk-semantic-split).
ENCLOSURES = {
    95: "enclosure first",  # 厂 广 尸 疒 虍: 原 病
    93: "enclosure first",  # 冂 门 門: 同 问
    97: "enclosure first",  # 勹 气: 句 氧
    99: "enclosure first",  # 走 是 鬼 麦: 赵 题 魅 (but 辶 廴 last, below)
    90: "closed last",  # 囗: 丨𠃍, inside, then the closing 一
    92: "open left",  # 匚: 一, inside, then 𠃊
    91: "inner first",  # 凵: 凶
}
WRITTEN_LAST = {"辶", "廴", "⻌", "⻍"}
ARRANGE = {
    "outer first": lambda outer, inner: outer + inner,  # left|right, top/bottom
    "enclosure first": lambda outer, inner: outer + inner,
    "inner first": lambda outer, inner: inner + outer,
    "closed last": lambda outer, inner: outer[:2] + inner + outer[2:],
    "open left": lambda outer, inner: outer[:1] + inner + outer[1:],
}


def read_manual() -> dict[str, tuple[str, str]]:
    entries = {}
    for line in MANUAL.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            char, seq, source = line.split("\t")
            entries[char] = (seq, source)
    return entries


# Systematic errors in a source, corrected wherever the wrong run occurs (each has a test).
CORRECTIONS = {
    "cnchar-trad": [
        # 門 is 丨𠃍一一丨𠃌一一 (竖 横折 横 横 竖 横折钩 横 横; GB 13000.1 字符集汉字笔顺规范, and the
        # traditional form of 门 in 通用规范汉字表 附件1); cnchar-trad 3.2.6 starts it with 横折 in all
        # 74 characters that contain it (門 問 間 閻 關 閔 …).
        ("cjjffrjj", "fcjjfrjj"),
    ],
}


def corrected(source: str, sequences: dict[str, str]) -> dict[str, str]:
    fixes = CORRECTIONS.get(source, [])
    result = {}
    for char, seq in sequences.items():
        for wrong, right in fixes:
            seq = seq.replace(wrong, right)
        result[char] = seq
    return result


# Components whose traditional form is not a kTraditionalVariant of the component itself.
TRADITIONAL_COMPONENTS = {"讠": "言", "钅": "金", "纟": "糹", "饣": "飠"}


def traditional_forms(tgh, variants) -> dict[str, str]:
    """Traditional form -> its simplified character, for the characters of 通用规范汉字表."""
    result = {}
    for simplified in tgh:
        for trad in variants.get(simplified, "").split():
            trad = chr(int(trad[2:], 16))
            if trad != simplified:
                result.setdefault(trad, simplified)
    return result


def traditional_decompositions(decomp, trad_of_simplified, variants) -> dict:
    """A traditional character's parts: its simplified form's parts, each in its traditional form
    (鸽 = 合 + 鸟 -> 鴿 = 合 + 鳥). Wrong guesses fail the stroke-count check later."""

    def traditional(part):
        if part in TRADITIONAL_COMPONENTS:
            return TRADITIONAL_COMPONENTS[part]
        forms = [chr(int(v[2:], 16)) for v in variants.get(part, "").split()]
        forms = [f for f in forms if f != part]
        return forms[0] if len(forms) == 1 else part

    result = {}
    for trad, simplified in trad_of_simplified.items():
        if simplified in decomp:
            result[trad] = tuple((p, traditional(a)) for p, a in decomp[simplified])
    return result


def main() -> None:
    fetch_sources()
    order = npm_json_modules("cnchar-order")[0]
    trad = next(m for m in npm_json_modules("cnchar-trad") if "皚" in m and isinstance(m["皚"], str))
    trad = corrected("cnchar-trad", trad)
    tgh = unihan("kTGH")
    total = {c: [int(n) for n in v.split()] for c, v in unihan("kTotalStrokes").items()}
    variants = unihan("kTraditionalVariant")
    manual = read_manual()
    print(f"cnchar-order {len(order)}, cnchar-trad {len(trad)}, 通用规范汉字表 {len(tgh)}, manual {len(manual)}")

    table: dict[str, tuple[str, int, str]] = {}  # char -> (sequence, count, source)
    for char, seq in trad.items():
        table[char] = (seq, len(seq), "t")
    for char, seq in order.items():
        table[char] = (seq, len(seq), "o")
    # A packaged sequence whose length Unihan contradicts is not trusted: count from Unihan, no sequence.
    mismatched = [c for c, (s, n, src) in table.items() if c in total and n not in total[c]]
    for char in mismatched:
        seq, count, source = table[char]
        table[char] = ("", total[char][0 if source == "o" else -1], "u")
    print(f"source sequences whose length Unihan contradicts (kept as count only): {''.join(mismatched)}")
    for char, (seq, _) in manual.items():
        table[char] = (seq, len(seq), "m")

    decomp = decompositions()
    trad_forms = traditional_forms(tgh, variants)
    decomp.update(traditional_decompositions(decomp, trad_forms, variants))
    composer = Composer(decomp, {c: s for c, (s, _, _) in table.items() if s})
    checked = collections.defaultdict(lambda: [0, 0])  # method -> [right, wrong]
    for char, (seq, _, source) in table.items():
        if source not in "ot" or not seq:
            continue
        for method, got in composer.methods(char, exclude_self=True).items():
            got = {x for x in got if len(x) == len(seq)}
            if len({classes(x) for x in got}) == 1:
                checked[method][classes(got.pop()) != classes(seq)] += 1

    def trustworthy(method, right, wrong):
        if method == "outer first":
            return right >= 20 and wrong * 50 <= right + wrong  # at least 98 % right
        return right >= 5 and wrong == 0  # an enclosure (广, 门, 囗 …): never wrong on five or more

    trusted = {m for m, (right, wrong) in checked.items() if trustworthy(m, right, wrong)}
    for method, (right, wrong) in sorted(checked.items(), key=lambda kv: -sum(kv[1])):
        if right + wrong >= 5:
            verdict = "used" if method in trusted else "not used"
            print(f"derivation '{method}' on characters with data: {right} right, {wrong} wrong - {verdict}")

    # every 通用规范汉字 and every traditional form of one gets at least Unihan's count
    wanted = sorted(tgh, key=lambda c: int(tgh[c].split(":")[1])) + sorted(trad_forms)
    derived = unknown = 0
    for char in wanted:
        if char in table and table[char][0]:
            continue
        counts = total.get(char)
        if not counts:
            continue
        count = counts[0] if char in tgh else counts[-1]
        got = {x for x in composer.compose(char, methods=trusted) if len(x) == count}
        if len({classes(x) for x in got}) == 1:
            table[char] = (min(got), count, "d")
            derived += 1
        elif char not in table:
            table[char] = ("", count, "u")
            unknown += 1
    print(f"通用规范汉字 and their traditional forms without source data: {derived} derived, {unknown} count only")

    placed = place_by_rank(table, cn_sort_ranks())
    print(f"count-only characters placed by cn-sort's stroke order: {placed}")

    lines = [
        "# 姓氏笔画 stroke data, generated by scripts/build_strokes.py; sources, versions, licences: STROKES.md",
        "# char<TAB>count<TAB>stroke letters (cnchar's; empty if unknown)<TAB>source (m manual, o cnchar-order,"
        " t cnchar-trad, d derived, r placed by cn-sort's rank, u count only)<TAB>for r: the character it follows"
        " (empty: first of its count) and cn-sort's rank",
    ]
    for char in sorted(table):
        seq, count, source, *place = table[char]
        lines.append("\t".join([char, str(count), seq, source, *place]))
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(table)} characters")

    # 繁 -> 简 for comparing written-in names (陳 = 陈): only where Unihan gives one simplified form
    pairs = {}
    for char, value in unihan("kSimplifiedVariant").items():
        forms = [chr(int(v[2:], 16)) for v in value.split()]
        forms = [f for f in forms if f != char]
        if len(forms) == 1:
            pairs[char] = forms[0]
    header = (
        "# traditional<TAB>simplified (Unihan kSimplifiedVariant, one form only); generated by scripts/build_strokes.py"
    )
    SIMPLIFIED.write_text(header + "\n" + "".join(f"{t}\t{s}\n" for t, s in sorted(pairs.items())), encoding="utf-8")
    print(f"wrote {SIMPLIFIED.relative_to(ROOT)}: {len(pairs)} pairs")


if __name__ == "__main__":
    main()
