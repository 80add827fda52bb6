"""3,000 slips to one PDF: seconds and peak RSS (this process and its QR pool).

    .venv/bin/python bench/slips.py [--count 3000]

Floor, measured in the same run: the same PDF with every QR replaced by a plain square
(layout, fonts and file writing only), so the ratio shows what the QR codes cost.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path
from unittest import mock

from ballot.documents import slips
from ballot.voting.codes import new_code


def run(codes, sheet, path):
    start = time.perf_counter()
    with open(path, "wb") as out:
        pages = slips.render_slips(sheet, codes, out)
    return time.perf_counter() - start, pages


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=3000)
    args = ap.parse_args()
    codes = [new_code() for _ in range(args.count)]
    sheet = slips.SlipSheet(
        "××县2026年度领导干部大会民主推荐", "参会领导干部", "2026-11-25", "http://192.168.1.10:8000", "County-Hall-5G"
    )
    tmp = Path(tempfile.mkdtemp(prefix="ballot-slips-"))
    square = [[True] * 29 for _ in range(29)]
    with mock.patch.object(slips, "qr_matrices", lambda urls: iter([square] * len(urls))):
        floor_s, _ = run(codes, sheet, tmp / "floor.pdf")
    seconds, pages = run(codes, sheet, tmp / "slips.pdf")
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    size = (tmp / "slips.pdf").stat().st_size / 1e6
    print(
        f"{args.count} slips, {pages} pages, {size:.1f} MB: {seconds:.1f} s "
        f"(floor without QR codes {floor_s:.1f} s; ratio {seconds / floor_s:.1f}×)"
    )
    print(f"peak RSS: {rss_self:.0f} MB main process, {rss_children:.0f} MB largest QR worker")


if __name__ == "__main__":
    main()
