"""The repository documents itself: no tracked file points at material outside it, the README
stays short enough to read first, and every link or reference into docs/ lands on a real file and
section (a moved section would otherwise leave comments and pages pointing nowhere)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_LIMIT = 8 * 1024

# Spelled in pieces so this file does not match itself.
OUTSIDE = ["RULES" + ".md", "RULES" + " §", "DESIGN" + ".md", ".." + "/shared"]

MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# "docs/rules.md#contest", or several sections of one page: "docs/rules.md#words, #approval"
DOCS_REFERENCE = re.compile(r"docs/([\w.-]+\.md)((?:#[\w-]+)(?:, #[\w-]+)*)?")
EXPLICIT_ANCHOR = re.compile(r"""<a id=["']([\w-]+)["']""")
HEADING = re.compile(r"(?m)^#{1,6} (.+)$")


def tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name and (ROOT / name).is_file()]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # binary: fonts, images


def anchors_of(page: Path) -> set[str]:
    """Explicit <a id="…"> anchors, and GitHub's slugs of the headings."""
    text = page.read_text(encoding="utf-8")
    slugs = set(EXPLICIT_ANCHOR.findall(text))
    for title in HEADING.findall(text):
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        slugs.add(slug)
    return slugs


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_no_tracked_file_points_outside_the_repository():
    offenders = []
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        for needle in OUTSIDE:
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []


def test_readme_is_short():
    size = (ROOT / "README.md").stat().st_size
    assert size <= README_LIMIT, f"README.md is {size} bytes; move detail into docs/"


def test_relative_links_in_the_documentation_resolve():
    broken = []
    for page in doc_pages():
        for target in MARKDOWN_LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path_part, _, anchor = target.partition("#")
            destination = (page.parent / path_part).resolve() if path_part else page
            if not destination.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and destination.suffix == ".md" and anchor not in anchors_of(destination):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such section)")
    assert broken == []


def test_references_into_docs_name_real_pages_and_sections():
    broken = []
    anchors: dict[str, set[str]] = {}
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        for name, sections in DOCS_REFERENCE.findall(text):
            page = ROOT / "docs" / name
            if not page.exists():
                broken.append(f"{path.relative_to(ROOT)}: docs/{name}")
                continue
            known = anchors.setdefault(name, anchors_of(page))
            for section in re.findall(r"#([\w-]+)", sections):
                if section not in known:
                    broken.append(f"{path.relative_to(ROOT)}: docs/{name}#{section}")
    assert broken == []
