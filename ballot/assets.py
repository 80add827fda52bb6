"""Where the templates and static files are: ballot/<name> in an installed wheel, <checkout>/<name>
in a source tree (the design card keeps templates/ and static/ at the top level)."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def asset_dir(name: str) -> str:
    inside = _PACKAGE / name
    return str(inside if inside.is_dir() else _PACKAGE.parent / name)
