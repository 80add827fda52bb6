"""Bench: sort 100,000 names in 姓氏笔画 order; load time and memory of the stroke data.

    .venv/bin/python bench/strokes.py

The floor is Python's own sort of the same names by code point (what `sorted(names)` does).
"""

from __future__ import annotations

import random
import resource
import subprocess
import sys
import time

N = 100_000
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
LOAD = """
import resource, time
t0 = time.perf_counter()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from ballot.counting import strokes
strokes.table()
strokes._han_keys()
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def names(rng: random.Random) -> list[str]:
    from ballot.counting import strokes

    common = [c for c, d in strokes.table().items() if d.source == "o"]
    result = []
    for _ in range(N):
        given = "".join(rng.choice(common) for _ in range(rng.choice((1, 2, 2, 2))))
        result.append(rng.choice(SURNAMES) + given)
    return result


def main() -> None:
    load_s, load_kib = map(
        float, subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, check=True).stdout.split()
    )
    print(f"stroke data: loaded in {load_s * 1000:.0f} ms (import + parse), +{load_kib / 1024:.1f} MiB RSS")
    from ballot.counting import strokes

    data = names(random.Random(2026))
    t0 = time.perf_counter()
    sorted(data)
    floor = time.perf_counter() - t0
    t0 = time.perf_counter()
    strokes.sort_names(data)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    strokes.sort_names(data, single_given_first=False)
    warm = time.perf_counter() - t0
    print(f"sort {N:,} names: {cold * 1000:.0f} ms (单名优先), {warm * 1000:.0f} ms (逐字比较)")
    print(f"floor, sorted() by code point: {floor * 1000:.0f} ms; ratio {cold / floor:.1f}")
    print(f"max RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
