"""The packages are layers: every import of the project points down (or sideways within a layer).

Counting is pure and imports nothing of the project outside itself; the offline verifier reads
only counting, signing and the audit chain, so an auditor can read it alone. The imports are
read with ast, nothing is executed.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ballot"

# lowest first; a module may import its own layer and the ones before it
LAYERS = [
    ("counting", ["ballot.counting"]),
    # what everything stands on, and the pieces of the offline check (pure, no database)
    (
        "foundation",
        [
            "ballot",
            "ballot.clock",
            "ballot.config",
            "ballot.assets",
            "ballot.publicurl",
            "ballot.archive.signing",
            "ballot.archive.chain",
            "ballot.archive.verify",
        ],
    ),
    ("storage", ["ballot.storage"]),
    ("voting", ["ballot.voting"]),
    ("meetings", ["ballot.meetings"]),
    ("paper, live", ["ballot.paper", "ballot.live"]),
    ("documents", ["ballot.documents"]),
    ("archive", ["ballot.archive"]),
    ("entry points", ["ballot.web", "ballot.cli", "ballot.serve", "ballot.httpworker"]),
]
VERIFIER = "ballot.archive.verify"
VERIFIER_MAY = ("ballot.counting", "ballot.archive.signing", "ballot.archive.chain")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "versions" not in p.relative_to(PACKAGE).parts}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_of(name: str) -> int:
    """The layer of the longest prefix that names it (ballot.archive.verify before ballot.archive)."""
    best, level = "", None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if _within(name, prefix) and len(prefix) > len(best):
                best, level = prefix, i
    assert level is not None, f"{name} is in no layer: add it to LAYERS"
    return level


def imports_of(name: str) -> set[str]:
    """The project modules `name` imports (a package's submodule when `from pkg import sub`)."""
    path = MODULES[name]
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if _within(a.name, "ballot")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not _within(target, "ballot"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    return found


def test_every_module_is_in_a_layer():
    for name in MODULES:
        layer_of(name)


def test_every_import_of_the_project_names_a_module():
    """A relative import left pointing at an old place fails here, before any test imports it."""
    missing = [
        f"{name} imports {target}"
        for name in sorted(MODULES)
        for target in sorted(imports_of(name))
        if target not in MODULES
    ]
    assert not missing, "\n".join(missing)


def test_imports_point_down():
    upward = [
        f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for name in sorted(MODULES)
        for target in sorted(imports_of(name))
        if layer_of(target) > layer_of(name)
    ]
    assert not upward, "\n".join(upward)


def test_counting_imports_only_itself():
    outside = [
        f"{name} imports {target}"
        for name in sorted(MODULES)
        if _within(name, "ballot.counting")
        for target in sorted(imports_of(name))
        if not _within(target, "ballot.counting")
    ]
    assert not outside, "\n".join(outside)


def test_the_offline_verifier_reads_only_counting_signing_and_the_chain():
    others = [t for t in imports_of(VERIFIER) if not any(_within(t, allowed) for allowed in VERIFIER_MAY)]
    assert not others, others
    # signing reads the key's passphrase through config, the one reader of the environment, which
    # imports nothing of the project: a checker that reads it still reads no builder or database
    for piece, may in (
        ("ballot.archive.signing", ("ballot.counting", "ballot.config")),
        ("ballot.archive.chain", ("ballot.counting",)),
    ):
        assert all(any(_within(t, m) for m in may) for t in imports_of(piece)), piece
    assert not [t for t in imports_of("ballot.config") if _within(t, "ballot")]
