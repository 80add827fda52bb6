"""差额票决 (docs/rules.md#contest): the kind and its parts (configuration, tally, paper, tables, form)."""

from __future__ import annotations

from .kind import ContestKind

__all__ = ["ContestKind"]
