"""What paper sheets are made of, shared by the kinds: the boxes a form prints, the sheet a typed
line records, and the refusal a 计票人 sees.

Here (not in ballot.paper) because each kind's own paper rules live in its folder, and the kinds
stay plain counting code that imports nothing outside ballot.counting.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Refused

SHEET_REASONS = {"1": "outside", "2": "unreadable", "3": "other", "4": "overvote"}  # typed after *


class PaperError(Refused, ValueError):
    """The line cannot be a sheet of this item; the message is Chinese, for the 计票人."""


@dataclass(frozen=True)
class Sheet:
    line: str  # canonical
    valid: bool
    choices: dict
    reason: str | None = None  # an INVALID_REASONS key when not valid


@dataclass(frozen=True)
class Box:
    """A group of boxes on the form and the keys that fill it (for the entry page and the forms)."""

    label: str
    keys: tuple[tuple[str, str], ...]  # (key, meaning)


def only(keys: str, allowed: str) -> None:
    bad = sorted({k for k in keys if k not in allowed})
    if bad:
        raise PaperError(f"无效的键“{''.join(bad)}”：本票只能输入 {'、'.join(allowed)}")
