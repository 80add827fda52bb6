"""民主推荐 (docs/rules.md#recommend): the kind and its parts (configuration, tally, paper, tables, form)."""

from __future__ import annotations

from .kind import MAX_WRITE_IN, WRITE_IN_PUBLIC_MIN, RecommendKind, write_in_name

__all__ = ["MAX_WRITE_IN", "WRITE_IN_PUBLIC_MIN", "RecommendKind", "write_in_name"]
